"""The conversation list and /api/analytics of an Agent Inbox style email assistant
(tests/apps/email_assistant_conversations.py), read with no setting at all. Every number below is counted
from the eleven scripted emails by hand."""

from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from replay.models import Conversation
from tests.analytics.conftest import token_totals
from tests.apps.email_assistant_conversations import NOW, run_inbox_threads

# thread: status, resolved, tool calls (Done is no call), tool errors, interrupts (all, approved, rejected,
# pending or expired), messages (the email, then the prompts the triage wrote as the user's)
ROWS = {
    "inbox-triaged-away": ("unresolved", False, 0, 0, (0, 0, 0, 0), 1),
    "inbox-notify-ignored": ("unresolved", False, 0, 0, (1, 0, 1, 0), 1),
    "inbox-accepted": ("resolved", True, 1, 0, (1, 1, 0, 0), 2),
    "inbox-edited": ("resolved", True, 1, 0, (1, 1, 0, 0), 2),
    # the ignored draft's answer reads rejected: nothing was done
    "inbox-draft-ignored": ("unresolved", False, 1, 0, (1, 0, 1, 0), 2),
    "inbox-feedback": ("resolved", True, 2, 0, (2, 1, 1, 0), 2),
    "inbox-question-then-meeting": ("resolved", True, 3, 0, (3, 2, 1, 0), 2),
    "inbox-draft-waiting": ("awaiting_approval", False, 1, 0, (1, 0, 0, 1), 2),
    "inbox-draft-expired": ("unresolved", False, 1, 0, (1, 0, 0, 1), 2),
    "inbox-tool-raises": ("unresolved", False, 1, 1, (0, 0, 0, 0), 2),
    "inbox-notify-answered": ("resolved", True, 1, 0, (2, 1, 1, 0), 3),
}


@pytest.fixture
def inbox_backfill(checkpointer):
    run_inbox_threads(checkpointer)
    with time_machine.travel(NOW, tick=True):
        call_command("backfill_events", verbosity=0)


def test_conversation_rows_count_what_happened(inbox_backfill):
    rows = {
        row.thread_id: (
            row.status, row.resolved, row.tool_call_count, row.tool_error_count,
            (row.interrupt_count, row.interrupts_approved, row.interrupts_rejected, row.interrupts_pending),
            row.message_count,
        )
        for row in Conversation.objects.all()
    }
    assert rows == ROWS


def test_first_message_is_the_email(inbox_backfill, api):
    assert Conversation.objects.get(thread_id="inbox-triaged-away").first_message.startswith(
        "author: Shop <deals@shop.example>\nto: Lance <lance@example.com>\nsubject: November deals"
    )
    found = api.get("/api/conversations", {"search": "offsite"}).json()["results"]
    assert [row["thread_id"] for row in found] == ["inbox-notify-answered"]


def test_analytics_numbers(inbox_backfill, api):
    with time_machine.travel(NOW, tick=False):
        body = api.get("/api/analytics", {"from": "2026-11-11", "to": "2026-11-12", "tz": "UTC"}).json()

    rows = Conversation.objects.all()
    assert body["conversations"] == 11
    assert body["resolution_rate"] == 5 / 11  # accepted, edited, feedback, question + meeting, notify answered
    assert body["escalation_rate"] == 0.0
    assert body["interrupt_stats"] == {"total": 13, "approved": 6, "rejected": 5, "other": 0, "expired": 1, "pending": 1}
    assert [(day["date"], day["conversations"], day["resolved"], day["escalated"]) for day in body["series"]] == [
        ("2026-11-11", 10, 5, 0), ("2026-11-12", 1, 0, 0),
    ]
    assert Decimal(body["total_cost"]) == sum((row.cost_usd for row in rows), Decimal(0))
    assert body["tokens"] == token_totals(rows)
    assert body["tokens"]["input"] > 0 and body["unpriced_models"] == []
