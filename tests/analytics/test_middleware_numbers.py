"""The conversation list and /api/analytics of a support agent built with ``create_agent`` and LangChain's
middleware (tests/apps/middleware_agent.py), read with no setting at all. Every number below is counted
from the eleven scripted conversations by hand."""

from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from analytics.models import AnalyticsEvent
from replay.models import Conversation
from tests.analytics.conftest import token_totals
from tests.apps.middleware_agent import FALLBACK_MODEL, NOW, PRIMARY_MODEL, SUMMARY_MODEL, run_middleware_threads

# thread: status, resolved, tool calls, tool errors, interrupts (raised, approved, rejected, pending), messages, summarised
ROWS = {
    "mw-refund-approved": ("resolved", True, 2, 0, (1, 1, 0, 0), 2, False),
    "mw-refund-edited": ("resolved", True, 2, 0, (1, 1, 0, 0), 2, False),  # an edit is an approval
    "mw-refund-rejected": ("unresolved", False, 1, 0, (1, 0, 1, 0), 2, False),  # its only result was rejected
    "mw-refund-pending": ("awaiting_approval", False, 1, 0, (1, 0, 0, 1), 1, False),
    "mw-carrier-retried": ("resolved", True, 1, 0, (0, 0, 0, 0), 2, False),
    "mw-warehouse-gave-up": ("unresolved", False, 1, 1, (0, 0, 0, 0), 2, False),
    "mw-model-fallback": ("resolved", True, 1, 0, (0, 0, 0, 0), 2, False),
    "mw-search-limit": ("resolved", True, 2, 1, (0, 0, 0, 0), 2, False),
    # no tool ran: the ticket is the agent's answer, which resolves nothing
    "mw-ticket": ("unresolved", False, 0, 0, (0, 0, 0, 0), 2, False),
    # 4 customer messages and 4 replies; the 2 summaries are not messages
    "mw-summarised": ("resolved", True, 2, 0, (0, 0, 0, 0), 8, True),
    "mw-summarised-ticket": ("resolved", True, 2, 0, (0, 0, 0, 0), 4, True),
}


@pytest.fixture
def middleware_backfill(checkpointer):
    run_middleware_threads(checkpointer)
    with time_machine.travel(NOW, tick=True):
        call_command("backfill_events", verbosity=0)


def test_conversation_rows_count_what_happened(middleware_backfill):
    rows = {
        row.thread_id: (
            row.status, row.resolved, row.tool_call_count, row.tool_error_count,
            (row.interrupt_count, row.interrupts_approved, row.interrupts_rejected, row.interrupts_pending),
            row.message_count, row.summarised,
        )
        for row in Conversation.objects.all()
    }
    assert rows == ROWS
    # create_agent's "model" node is not an agent, and this app named none
    assert [row.agents_used for row in Conversation.objects.all()] == [[]] * len(ROWS)


def test_a_summary_is_never_the_customers_message(middleware_backfill, api):
    assert Conversation.objects.get(thread_id="mw-summarised").first_message == "Where is parcel TRK-7?"
    assert api.get("/api/conversations", {"search": "summary of the conversation"}).json()["results"] == []
    listed = {row["thread_id"]: row["summarised"] for row in api.get("/api/conversations", {"page_size": 50}).json()["results"]}
    assert sorted(thread for thread, summarised in listed.items() if summarised) == ["mw-summarised", "mw-summarised-ticket"]


def test_the_summarising_calls_cost_nothing_that_is_claimed(middleware_backfill):
    # the summariser's tokens are nowhere in the checkpoints: no event names its model
    models = set(AnalyticsEvent.objects.exclude(model="").values_list("model", flat=True))
    assert models == {PRIMARY_MODEL, FALLBACK_MODEL}
    assert SUMMARY_MODEL not in models


def test_the_replay_page_says_the_summary_cost_is_left_out(middleware_backfill, admin_client):
    page = admin_client.get("/admin/replay/conversation/replay/mw-summarised/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Summary of the conversation so far" in text
    assert "cost not included" in text


def test_analytics_numbers(middleware_backfill, api):
    with time_machine.travel(NOW, tick=False):
        body = api.get("/api/analytics", {"from": "2026-11-09", "to": "2026-11-10", "tz": "UTC"}).json()

    rows = Conversation.objects.all()
    costs = {day: sum((row.cost_usd for row in rows if row.started_at.day == day), Decimal(0)) for day in (9, 10)}
    assert body["conversations"] == 11
    # approved, edited, carrier, fallback, search limit, summarised, summarised ticket
    assert body["resolution_rate"] == 7 / 11
    assert body["escalation_rate"] == 0.0
    assert body["interrupt_stats"] == {"total": 4, "approved": 2, "rejected": 1, "other": 0, "expired": 0, "pending": 1}
    assert body["agent_usage"] == []
    assert [(day["date"], day["conversations"], day["resolved"], day["escalated"]) for day in body["series"]] == [
        ("2026-11-09", 5, 4, 0), ("2026-11-10", 6, 3, 0),
    ]
    assert [Decimal(day["cost"]) for day in body["series"]] == [costs[9], costs[10]]
    assert body["tokens"] == token_totals(rows)
    # the fallback model's tokens are priced by its own name
    assert body["tokens"]["input"] > 0 and body["unpriced_models"] == []
    assert Conversation.objects.get(thread_id="mw-model-fallback").cost_usd > 0
