"""A manager reads replays: opened from a filtered list, jumping to the first error, paging a long one,
walking the list with Previous / Next and coming back to it, opening and closing every tool card."""

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from replay.models import Conversation
from tests.browser.conftest import result_rows

pytestmark = pytest.mark.django_db(transaction=True)
STARTED_AT = datetime.now(timezone.utc) - timedelta(days=1)
SCENARIOS = (
    "order_status", "refund_after_failed_lookup", "password_failed", "escalated_directly", "invoice_question",
    "multi_turn",
)


def follow(page, link) -> None:
    with page.expect_navigation():
        link.click()


def list_filters(url: str) -> dict:
    """The list's filters a replay URL carries (Django admin's ``_changelist_filters``)."""
    return parse_qs(parse_qs(urlsplit(url).query).get("_changelist_filters", [""])[0])


def test_a_replay_opened_from_a_filtered_list_jumps_to_the_first_error_and_keeps_the_filters(signed_in, play):
    plans = play(SCENARIOS, seed=92, started_at=STARTED_AT)
    failed_lookup = next(plan for plan in plans if plan.scenario == "refund_after_failed_lookup")
    page = signed_in
    page.goto("/admin/replay/conversation/")
    agent_filter = page.locator('#changelist-filter details[data-filter-title="agent" i]')
    follow(page, agent_filter.get_by_role("link", name="orders", exact=True))
    in_list = list(
        Conversation.objects.filter(agents_used__contains=["orders"]).order_by("-last_activity_at", "-id")
        .values_list("thread_id", flat=True)
    )
    assert result_rows(page).count() == len(in_list) >= 3
    position = in_list.index(failed_lookup.thread_id)
    assert 0 < position < len(in_list) - 1  # it has a neighbour on both sides

    follow(page, page.locator(f'#result_list td.field-thread a[title="{failed_lookup.thread_id}"]'))
    assert list_filters(page.url) == {"agent": ["orders"]}
    expect(page.locator("h1")).to_contain_text(failed_lookup.thread_id)

    # First error: the failed lookup of the bare number, shown and outlined as the page's target
    jump = page.locator("a.jump-error")
    expect(jump).to_contain_text("First error")
    jump.click()
    page.wait_for_url(re.compile(r"#step-\d+$"))
    step = page.locator(f"li#{page.url.rsplit('#', 1)[1]}")
    expect(step).to_be_in_viewport()
    assert step.evaluate("element => element.matches(':target')")
    assert step.evaluate("element => getComputedStyle(element).outlineStyle") == "solid"
    expect(step.locator(".badge.error")).to_be_visible()
    expect(step).to_contain_text("track_order")
    first_step_shown = page.locator("ol.timeline > li").first.get_attribute("id")
    assert int(first_step_shown.removeprefix("step-")) < int(step.get_attribute("id").removeprefix("step-"))

    # Expand all / Collapse all open and close every card of the page
    cards = page.locator("#content-main .timeline details")
    assert cards.count() >= 4
    page.get_by_role("button", name="Expand all").click()
    assert cards.evaluate_all("cards => cards.every(card => card.open)")
    expect(cards.first.locator("pre")).to_be_visible()
    page.get_by_role("button", name="Collapse all").click()
    assert cards.evaluate_all("cards => cards.every(card => !card.open)")
    expect(cards.first.locator("pre")).to_be_hidden()

    # Next / Previous conversation walk the filtered list in its order, filters kept
    follow(page, page.locator("a.next-conversation"))
    expect(page.locator("h1")).to_contain_text(in_list[position + 1])
    assert list_filters(page.url) == {"agent": ["orders"]}
    follow(page, page.locator("a.previous-conversation"))
    follow(page, page.locator("a.previous-conversation"))
    expect(page.locator("h1")).to_contain_text(in_list[position - 1])
    assert list_filters(page.url) == {"agent": ["orders"]}

    follow(page, page.locator("a.back-to-list"))
    assert parse_qs(urlsplit(page.url).query) == {"agent": ["orders"]}
    assert result_rows(page).count() == len(in_list)


def test_a_marathon_replay_pages_through_every_step_with_the_top_pager(signed_in, play):
    (plan,) = play(("marathon",), seed=93, started_at=STARTED_AT)
    conversation = Conversation.objects.get(thread_id=plan.thread_id)
    total = conversation.step_count
    assert total > 250
    page = signed_in
    page.goto("/admin/replay/conversation/")
    follow(page, page.locator("#result_list td.field-replay a"))

    pages = -(-total // 100)
    seen = 0
    for number in range(1, pages + 1):
        pager = page.locator("nav.replay-pages").first
        start, end = seen + 1, min(seen + 100, total)
        expect(pager).to_contain_text(f"Page {number} of {pages} (steps {start}–{end} of {total})")
        timeline = page.locator("ol.timeline")
        assert timeline.get_attribute("start") == str(start)  # the numbering continues from the last page
        assert timeline.locator("> li").count() == end - start + 1
        assert timeline.locator("> li").first.get_attribute("id") == f"step-{start - 1}"
        assert timeline.locator("> li").last.get_attribute("id") == f"step-{end - 1}"
        seen = end
        if number < pages:
            follow(page, pager.locator("a.next-page"))
        else:
            expect(pager.locator("a.next-page")).to_have_count(0)
    assert seen == total
    follow(page, page.locator("nav.replay-pages").first.locator("a.previous-page"))
    expect(page.locator("nav.replay-pages").first).to_contain_text(f"Page {pages - 1} of {pages}")
