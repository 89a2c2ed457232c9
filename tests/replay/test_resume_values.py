"""How a reviewer's answer reads in the replay, whatever shape the app resumed with: a bare value
(``True``, ``"approve"``, ``"yes"``) and one ``Command(resume={id: value, ...})`` answering several
approvals at once, each by its interrupt id."""

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.types import Command

from replay.services import get_replay
from smart_support.agent.chat_model import replies_in_order
from tests.apps.parallel_approvals_app import build_parallel_approvals_app
from tests.apps.plain_graph import build_plain_graph

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
AN_HOUR_LATER = STARTED_AT + timedelta(hours=1)


def steps_of(thread_id):
    return get_replay(thread_id=thread_id, page=1, page_size=500, now=AN_HOUR_LATER).page.steps


def of_type(steps, kind):
    return [step for step in steps if step.type.value == kind]


def answer_the_review_with(checkpointer, thread_id, resume):
    """The plain app's reviewer is asked once and answers with ``resume`` two minutes later."""
    graph = build_plain_graph(reply_for=replies_in_order([AIMessage("Your refund is on its way.")]), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread_id}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT, tick=False) as traveller:
        graph.invoke({"messages": [("user", "Refund order A-1 please")]}, config)
        traveller.shift(timedelta(minutes=2))
        graph.invoke(Command(resume=resume), config)


@pytest.mark.parametrize("resume", [True, "approve", "yes"], ids=["true", "approve", "yes"])
def test_a_bare_resume_value_reads_approved(checkpointer, resume):
    answer_the_review_with(checkpointer, "bare-approval", resume)

    [resolution] = of_type(steps_of("bare-approval"), "interrupt_resolution")

    assert resolution.status == "approved"


@pytest.mark.parametrize("resume", [False, "no"], ids=["false", "no"])
def test_a_bare_refusal_reads_rejected(checkpointer, resume):
    answer_the_review_with(checkpointer, "bare-refusal", resume)

    [resolution] = of_type(steps_of("bare-refusal"), "interrupt_resolution")

    assert resolution.status == "rejected"


def test_a_bare_answer_shows_how_long_the_reviewer_took(checkpointer):
    answer_the_review_with(checkpointer, "bare-wait", "yes")

    [resolution] = of_type(steps_of("bare-wait"), "interrupt_resolution")

    assert resolution.details["wait_ms"] == 120_000


def ask_two_reviewers(checkpointer, thread_id, answers):
    """One run raises a refund and a cancellation approval; one resume answers both by interrupt id."""
    graph = build_parallel_approvals_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread_id}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT, tick=False) as traveller:
        graph.invoke({"order_id": "A-7"}, config)
        pending = {interrupt.value["action"]: interrupt.id for interrupt in graph.get_state(config).interrupts}
        traveller.shift(timedelta(minutes=5))
        graph.invoke(Command(resume={pending[action]: value for action, value in answers.items()}), config)
    return pending


def test_one_resume_answers_two_interrupts_each_by_its_id(checkpointer):
    pending = ask_two_reviewers(
        checkpointer, "two-reviewers", {"refund": {"approved": True, "reviewer": "ann"}, "cancel": {"approved": False, "reviewer": "bo"}}
    )

    steps = steps_of("two-reviewers")

    outcomes = {
        step.details["interrupt_id"]: (step.status, step.details["reviewer"]) for step in of_type(steps, "interrupt_resolution")
    }
    assert outcomes == {pending["refund"]: ("approved", "ann"), pending["cancel"]: ("rejected", "bo")}


def test_both_interrupts_answered_by_id_leave_none_pending(checkpointer):
    ask_two_reviewers(checkpointer, "two-answered", {"refund": "yes", "cancel": "no"})

    steps = steps_of("two-answered")

    assert sorted(step.status for step in of_type(steps, "interrupt")) == ["resolved", "resolved"]
    assert len(of_type(steps, "interrupt_resolution")) == 2
