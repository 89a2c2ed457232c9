"""A manager reads the dashboard: switches its range and time zone with the page's own controls, then
follows every number that links to a list and finds there exactly as many rows as the number said."""

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from replay.models import Conversation
from tests.browser.conftest import result_rows, shown_count

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime.now(timezone.utc)
RECENT = (
    "order_status", "refund_approved", "escalated_directly", "password_failed", "refund_after_failed_lookup",
)
OLDER = (
    "refund_rejected", "refund_pending", "invoice_question", "multi_turn", "escalated_after_answer", "order_status",
)
COUNTED = re.compile(r"([\d,]+)\s+(?:[a-z]+\s+)?(?:conversations?|approval requests?)\b")


@pytest.fixture
def month(play):
    """Five conversations two days ago, six three weeks ago: the last 7 days hold five, the last 30 eleven."""
    recent = play(RECENT, seed=94, started_at=NOW - timedelta(days=2))
    older = play(OLDER, seed=95, started_at=NOW - timedelta(days=20))
    return recent, older


def card_value(page, key: str) -> str:
    return page.locator(f"#card-{key} .value").inner_text()


def drill_links(page) -> list[tuple[str, int, str]]:
    """(href, the number it states, where) of every link on the dashboard that leads to the rows behind a number:
    the cards' links, the charts' bars and points (their number is in the tooltip), the tables' counts."""
    links = []
    for link in page.locator(".cards a.drill").all():
        text = link.inner_text()
        links.append((link.get_attribute("href"), int(COUNTED.search(text).group(1).replace(",", "")), text))
    for link in page.locator(".charts svg a").all():
        text = link.locator("title").text_content()
        links.append((link.get_attribute("href"), int(COUNTED.search(text).group(1).replace(",", "")), text))
    for link in page.locator(".breakdowns td a").all():
        text = link.inner_text()
        links.append((link.get_attribute("href"), int(text.replace(",", "")), text))
    return links


def test_a_manager_switches_range_and_zone_and_every_drill_down_lists_the_rows_it_counted(signed_in, month):
    page = signed_in
    page.goto("/admin/")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("dashboard", re.I)).first.click()
    assert card_value(page, "conversations") == str(len(RECENT) + len(OLDER))  # the last 30 days by default

    page.locator("#id_range").select_option(label="Last 7 days")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert card_value(page, "conversations") == str(len(RECENT))

    page.locator("#id_range").select_option(label="Last 30 days")
    page.locator("#id_tz").fill("Asia/Tokyo")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert card_value(page, "conversations") == str(Conversation.objects.count()) == "11"
    expect(page.locator("#content-main")).to_contain_text("days and times in Asia/Tokyo")

    links = drill_links(page)
    kinds = {urlsplit(href).path for href, _, _ in links}
    assert kinds == {"/admin/replay/conversation/", "/admin/analytics/analyticsevent/"}
    assert len(links) > 40  # cards, a bar per day, a point per active day, agents, approvals, tables
    assert any(number > 0 for _, number, _ in links)
    by_href: dict[str, set[int]] = {}
    for href, number, _ in links:
        by_href.setdefault(href, set()).add(number)
    for href, numbers in by_href.items():
        assert len(numbers) == 1, f"two numbers for one list: {href} {numbers}"
        (number,) = numbers
        if "/replay/conversation/" in href:
            assert parse_qs(urlsplit(href).query)["tz"] == ["Asia/Tokyo"]
        page.goto(href)
        assert shown_count(page) == number, href
        assert result_rows(page).count() == min(number, 50 if "/replay/conversation/" in href else 100), href
