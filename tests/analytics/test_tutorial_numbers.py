"""The conversation list and /api/analytics of an app built the way LangGraph's customer-support tutorial
builds it (tests/apps/tutorial_conversations.py), read with ROUTER_TARGETS and ROUTING_TOOLS only.
Every number below is counted from the eight scripted conversations by hand."""

from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from replay.models import Conversation
from tests.analytics.conftest import token_totals
from tests.apps.tutorial_app import AGENT_NODES, ROUTING_TOOLS
from tests.apps.tutorial_conversations import NOW, run_tutorial_threads

# thread: status, resolved, tool calls, tool errors, interrupts (approved, rejected, pending), handoffs, messages
ROWS = {
    "tut-flight-approved": ("resolved", True, 2, 0, (1, 1, 0, 0), {"update_flight": 1}, 2),
    "tut-car-rejected-by-update": ("unresolved", False, 1, 0, (1, 0, 1, 0), {"book_car_rental": 1, "primary_assistant": 1}, 2),
    # its hotel search succeeded; only the booking was rejected
    "tut-hotel-rejected-by-tool-message": ("resolved", True, 2, 0, (1, 0, 1, 0), {"book_hotel": 1}, 2),
    "tut-flight-rejected-by-new-question": ("unresolved", False, 1, 0, (1, 0, 1, 0), {"update_flight": 1}, 3),
    "tut-excursion-pending": ("awaiting_approval", False, 1, 0, (1, 0, 0, 1), {"book_excursion": 1}, 1),
    "tut-cancel-expired": ("unresolved", False, 1, 0, (1, 0, 0, 1), {"update_flight": 1}, 1),
    "tut-tool-error": ("unresolved", False, 1, 1, (0, 0, 0, 0), {}, 2),
    "tut-multi-turn": ("resolved", True, 2, 0, (1, 1, 0, 0), {"book_hotel": 1, "primary_assistant": 1}, 6),
}


@pytest.fixture
def tutorial_backfill(settings, checkpointer):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ROUTER_TARGETS": list(AGENT_NODES), "ROUTING_TOOLS": list(ROUTING_TOOLS)}
    run_tutorial_threads(checkpointer)
    with time_machine.travel(NOW, tick=True):
        call_command("backfill_events", verbosity=0)


def conversation_rows() -> dict:
    """Every conversation row, in the shape of ``ROWS``."""
    return {
        row.thread_id: (
            row.status, row.resolved, row.tool_call_count, row.tool_error_count,
            (row.interrupt_count, row.interrupts_approved, row.interrupts_rejected, row.interrupts_pending),
            row.handoffs, row.message_count,
        )
        for row in Conversation.objects.all()
    }


def test_conversation_rows_count_what_happened(tutorial_backfill):
    assert conversation_rows() == ROWS


def test_first_message_is_what_the_customer_typed(tutorial_backfill, api):
    assert Conversation.objects.get(thread_id="tut-multi-turn").first_message == "Can I change my flight for free?"
    assert set(Conversation.objects.values_list("first_message", flat=True)).isdisjoint({"user", ""})
    found = api.get("/api/conversations", {"search": "Kunstmuseum"}).json()["results"]
    assert [row["thread_id"] for row in found] == ["tut-excursion-pending"]


def test_conversation_list_finds_approvals_and_the_one_awaiting(tutorial_backfill, api):
    def listed(**params):
        return sorted(row["thread_id"] for row in api.get("/api/conversations", params).json()["results"])

    assert listed(has_interrupt="true") == sorted(thread for thread, row in ROWS.items() if row[4][0])
    assert listed(status="awaiting_approval") == ["tut-excursion-pending"]


def test_analytics_numbers(tutorial_backfill, api):
    with time_machine.travel(NOW, tick=False):
        body = api.get("/api/analytics", {"from": "2026-11-09", "to": "2026-11-10", "tz": "UTC"}).json()

    rows = Conversation.objects.all()
    costs = {day: sum((row.cost_usd for row in rows if row.started_at.day == day), Decimal(0)) for day in (9, 10)}
    assert body["conversations"] == 8
    assert body["resolution_rate"] == 3 / 8  # flight approved, hotel search, multi-turn policy + hotel
    assert body["escalation_rate"] == 0.0
    assert body["interrupt_stats"] == {"total": 7, "approved": 2, "rejected": 3, "other": 0, "expired": 1, "pending": 1}
    assert [(usage["agent"], usage["routings"]) for usage in body["agent_usage"]] == [
        ("update_flight", 3), ("book_hotel", 2), ("primary_assistant", 2), ("book_car_rental", 1), ("book_excursion", 1),
    ]
    assert [usage["share"] for usage in body["agent_usage"]] == pytest.approx([3 / 9, 2 / 9, 2 / 9, 1 / 9, 1 / 9], abs=1e-3)
    assert [(day["date"], day["conversations"], day["resolved"], day["escalated"]) for day in body["series"]] == [
        ("2026-11-09", 3, 1, 0), ("2026-11-10", 5, 2, 0),
    ]
    assert [Decimal(day["cost"]) for day in body["series"]] == [costs[9], costs[10]]
    assert body["tokens"] == token_totals(rows)
    assert body["tokens"]["input"] > 0 and body["unpriced_models"] == []
