"""The conversation list and /api/analytics of a Functional API app and a Send fan-out app
(tests/apps/functional_conversations.py), read with no setting at all. Every number below is counted from
the eight scripted conversations by hand; tokens are checked against LangChain's own usage callback."""

from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from replay.models import Conversation
from tests.apps.functional_conversations import NOW, run_all_threads

# thread: status, resolved, tool calls, tool errors, interrupts (total, approved, rejected, pending), messages
ROWS = {
    "func-order-status": ("resolved", True, 1, 0, (0, 0, 0, 0), 2),
    "func-refund-approved": ("resolved", True, 1, 0, (1, 1, 0, 0), 2),
    # the refund's result answers a rejected call: not a success
    "func-refund-rejected": ("unresolved", False, 1, 0, (1, 0, 1, 0), 2),
    "func-refund-pending": ("awaiting_approval", True, 2, 0, (1, 0, 0, 1), 1),
    "func-two-turns": ("resolved", True, 2, 1, (0, 0, 0, 0), 4),
    "fan-two-orders": ("resolved", True, 2, 0, (0, 0, 0, 0), 4),
    "fan-one-unknown": ("resolved", True, 2, 1, (0, 0, 0, 0), 4),
    "fan-no-tool": ("unresolved", False, 0, 0, (0, 0, 0, 0), 3),
}
GPT_4O_MINI = (Decimal("0.15"), Decimal("0.60"))  # USD per million input / output tokens (seeded price)


@pytest.fixture
def usage(checkpointer):
    log = run_all_threads(checkpointer)
    with time_machine.travel(NOW, tick=True):
        call_command("backfill_events", verbosity=0)
    return log


def cost_of(input_tokens: int, output_tokens: int) -> Decimal:
    return (input_tokens * GPT_4O_MINI[0] + output_tokens * GPT_4O_MINI[1]) / Decimal(1_000_000)


def test_conversation_rows_count_what_happened(usage):
    rows = {
        row.thread_id: (
            row.status, row.resolved, row.tool_call_count, row.tool_error_count,
            (row.interrupt_count, row.interrupts_approved, row.interrupts_rejected, row.interrupts_pending),
            row.message_count,
        )
        for row in Conversation.objects.all()
    }
    assert rows == ROWS


def test_conversation_rows_carry_every_model_call_once(usage):
    for row in Conversation.objects.all():
        expected = (usage.input_tokens[row.thread_id], usage.output_tokens[row.thread_id])
        assert (row.input_tokens, row.output_tokens) == expected, row.thread_id
        assert row.cost_usd == cost_of(*expected), row.thread_id


def test_first_message_is_what_the_customer_typed(usage, api):
    assert Conversation.objects.get(thread_id="func-two-turns").first_message == "Where is my order A-13?"
    assert Conversation.objects.get(thread_id="fan-one-unknown").first_message == "Track 61 and X-9"
    found = api.get("/api/conversations", {"search": "broken"}).json()["results"]
    assert [row["thread_id"] for row in found] == ["func-refund-approved"]
    assert [row["thread_id"] for row in api.get("/api/conversations", {"status": "awaiting_approval"}).json()["results"]] == [
        "func-refund-pending"
    ]


def test_analytics_numbers(usage, api):
    with time_machine.travel(NOW, tick=False):
        body = api.get("/api/analytics", {"from": "2026-11-09", "to": "2026-11-10", "tz": "UTC"}).json()

    day_9 = ("func-two-turns", "fan-no-tool")
    total_in, total_out = sum(usage.input_tokens.values()), sum(usage.output_tokens.values())
    assert body["conversations"] == 8
    assert body["resolution_rate"] == 6 / 8  # all but the rejected refund and the answer with no tool
    assert body["escalation_rate"] == 0.0
    assert body["interrupt_stats"] == {"total": 3, "approved": 1, "rejected": 1, "other": 0, "expired": 0, "pending": 1}
    assert body["agent_usage"] == []
    assert [(day["date"], day["conversations"], day["resolved"], day["escalated"]) for day in body["series"]] == [
        ("2026-11-09", 2, 1, 0), ("2026-11-10", 6, 5, 0),
    ]
    costs = {
        day: sum((cost_of(usage.input_tokens[t], usage.output_tokens[t]) for t in usage.input_tokens if (t in day_9) == (day == 9)), Decimal(0))
        for day in (9, 10)
    }
    assert [Decimal(day["cost"]) for day in body["series"]] == [costs[9], costs[10]]
    assert body["tokens"] == {"input": total_in, "output": total_out, "cache_read": 0, "cache_write": 0, "reasoning": 0}
    assert Decimal(str(body["total_cost"])) == cost_of(total_in, total_out)
    assert body["unpriced_models"] == []
