"""The conversation rows ``backfill_events`` writes, on data where a wrong rule gives another row: a
conversation with no outcome yet, metadata that changed between turns, approvals answered by id."""

from datetime import datetime, timedelta, timezone

import time_machine
from django.core.management import call_command
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.types import Command

from replay.models import Conversation
from tests.apps.parallel_approvals_app import build_parallel_approvals_app
from tests.apps.small_talk_app import small_talk as run_small_talk

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


def small_talk(checkpointer, thread_id: str, turns: list[dict]) -> None:
    run_small_talk(checkpointer, thread_id, turns, started_at=STARTED_AT)


def derive_at(moment: datetime, *options: str) -> None:
    with time_machine.travel(moment, tick=False):
        call_command("backfill_events", *options, verbosity=0)


def test_a_conversation_without_outcome_is_active_within_the_hour_after_its_last_step(checkpointer):
    small_talk(checkpointer, "no-outcome", [{}])

    derive_at(STARTED_AT + timedelta(minutes=59))

    assert Conversation.objects.get(thread_id="no-outcome").status == "active"


def test_a_conversation_without_outcome_is_unresolved_once_its_last_step_is_an_hour_old(checkpointer):
    small_talk(checkpointer, "gone-quiet", [{}])

    derive_at(STARTED_AT + timedelta(minutes=61))

    assert Conversation.objects.get(thread_id="gone-quiet").status == "unresolved"


def test_the_active_hour_counts_from_the_last_turn_not_the_first(checkpointer):
    small_talk(checkpointer, "second-turn", [{}, {}])  # the second turn ten minutes after the first

    derive_at(STARTED_AT + timedelta(minutes=65))

    assert Conversation.objects.get(thread_id="second-turn").status == "active"


def test_metadata_of_a_later_turn_wins_over_the_earlier(checkpointer):
    small_talk(checkpointer, "moved-channel", [
        {"tenant": "acme", "channel": "web", "campaign": "spring"},
        {"tenant": "acme", "channel": "email"},
    ])

    derive_at(STARTED_AT + timedelta(hours=2))

    assert Conversation.objects.get(thread_id="moved-channel").metadata == {"tenant": "acme", "channel": "email", "campaign": "spring"}


def test_two_approvals_answered_by_id_count_one_approved_one_rejected(checkpointer):
    graph = build_parallel_approvals_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "two-reviewers"}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT, tick=False) as traveller:
        graph.invoke({"order_id": "A-7"}, config)
        pending = {interrupt.value["action"]: interrupt.id for interrupt in graph.get_state(config).interrupts}
        traveller.shift(timedelta(minutes=5))
        graph.invoke(Command(resume={pending["refund"]: "approve", pending["cancel"]: {"approved": False}}), config)

    derive_at(STARTED_AT + timedelta(hours=2))

    row = Conversation.objects.get(thread_id="two-reviewers")
    assert (row.interrupt_count, row.interrupts_approved, row.interrupts_rejected, row.interrupts_pending) == (2, 1, 1, 0)


def test_an_approval_answered_neither_yes_nor_no_counts_as_outcome_unknown_the_unanswered_as_pending(checkpointer):
    graph = build_parallel_approvals_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "one-unclear-one-open"}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT, tick=False) as traveller:
        graph.invoke({"order_id": "A-8"}, config)
        pending = {interrupt.value["action"]: interrupt.id for interrupt in graph.get_state(config).interrupts}
        traveller.shift(timedelta(minutes=5))
        graph.invoke(Command(resume={pending["refund"]: "call the customer back first"}), config)

    derive_at(STARTED_AT + timedelta(hours=2))

    row = Conversation.objects.get(thread_id="one-unclear-one-open")
    assert (row.interrupt_count, row.interrupts_approved, row.interrupts_rejected, row.interrupts_other, row.interrupts_pending) == (
        2, 0, 0, 1, 1,
    )
