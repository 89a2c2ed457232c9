"""A support manager's day in a real browser: sign in, narrow the conversation list with the filter panel,
search it, export it and open a replay."""

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from replay.models import Conversation
from tests.browser.conftest import result_rows, shown_count

pytestmark = pytest.mark.django_db(transaction=True)
STARTED_AT = datetime.now(timezone.utc) - timedelta(days=2)
# orders escalates twice, tech_support once: "orders AND escalated" is neither filter alone
SCENARIOS = (
    "order_status", "escalated_directly", "refund_approved", "password_failed", "invoice_question",
    "escalated_directly", "escalated_after_answer", "refund_after_failed_lookup", "multi_turn",
)


@pytest.fixture
def conversations(play):
    return play(SCENARIOS, seed=91, started_at=STARTED_AT)


def choose_filter(page, title: str, choice: str) -> None:
    """Click a choice in the list's filter panel, as a manager does."""
    panel = page.locator(f'#changelist-filter details[data-filter-title="{title}" i]')
    with page.expect_navigation():
        panel.get_by_role("link", name=choice, exact=True).click()


def test_a_manager_filters_by_agent_and_escalated_in_the_panel_and_sees_the_counted_rows(signed_in, conversations):
    page = signed_in
    with page.expect_navigation():
        page.get_by_role("link", name="Conversations").first.click()
    assert result_rows(page).count() == shown_count(page) == len(SCENARIOS)

    choose_filter(page, "agent", "orders")
    choose_filter(page, "escalated", "Yes")

    expected = Conversation.objects.filter(agents_used__contains=["orders"], escalated=True)
    assert expected.count() == 2  # the data holds what the filters are meant to tell apart
    assert Conversation.objects.filter(escalated=True).count() > expected.count()
    assert Conversation.objects.filter(agents_used__contains=["orders"]).count() > expected.count()
    assert re.search(r"agent=orders", page.url) and re.search(r"escalated__exact=1", page.url)
    assert result_rows(page).count() == shown_count(page) == expected.count()
    threads = page.locator("#result_list td.field-thread a")
    listed = {threads.nth(row).get_attribute("title") for row in range(threads.count())}
    assert listed == set(expected.values_list("thread_id", flat=True))


def test_searching_an_order_id_said_only_later_in_the_conversation_lists_that_conversation(signed_in, conversations):
    page = signed_in
    plan = next(plan for plan in conversations if plan.scenario == "refund_after_failed_lookup")
    order = plan.turns[1].replies[1].tool_calls[0]["args"]["order_id"]  # "ORD-12345": a tool argument of turn 2
    assert order not in plan.turns[0].user_text  # the customer typed only the number

    page.goto("/admin/replay/conversation/")
    page.locator("#searchbar").fill(order)
    with page.expect_navigation():
        page.locator("#searchbar").press("Enter")

    assert result_rows(page).count() == 1
    row = result_rows(page).first
    assert order not in row.locator("td.field-first_message").inner_text()
    with page.expect_navigation():
        row.get_by_role("link", name=re.compile("Replay", re.I)).click()
    assert plan.thread_id in page.locator("h1").inner_text()


def test_a_manager_exports_the_filtered_list_as_csv(signed_in, conversations):
    page = signed_in
    page.goto("/admin/replay/conversation/")
    choose_filter(page, "escalated", "Yes")
    escalated = set(Conversation.objects.filter(escalated=True).values_list("thread_id", flat=True))
    assert result_rows(page).count() == len(escalated) == 3

    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option(label="Export selected conversations as CSV")
    with page.expect_download() as download_info:
        page.locator("button[name=index]").click()
    download = download_info.value

    assert download.suggested_filename == "conversations.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert {row["thread_id"] for row in rows} == escalated
    stored = {c.thread_id: c for c in Conversation.objects.filter(escalated=True)}
    for row in rows:
        assert row["status"] == stored[row["thread_id"]].status
        assert row["cost_usd"] == str(stored[row["thread_id"]].cost_usd)
