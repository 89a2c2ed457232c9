"""Replays of an app written with LangGraph's Functional API (@entrypoint / @task) and of a graph that fans
out with Send (tests/apps/functional_conversations.py), read with no setting at all."""

import pytest

from replay.timeline import build_timeline
from tests.apps.functional_conversations import (
    FAN_OUT_THREADS,
    FUNCTIONAL_THREADS,
    NOW,
    UsageLog,
    run_fan_out_thread,
    run_functional_thread,
)

USER, AGENT, CALL, RESULT = "user_message", "agent_message", "tool_call", "tool_result"
INTERRUPT, RESOLUTION = "interrupt", "interrupt_resolution"
ENTRY = "support_agent"  # the entrypoint: every task call runs under it

EXPECTED = {
    "func-order-status": [
        (USER, None, None, None, "Where is order 42?"),
        (CALL, ENTRY, "lookup_order", None, None),
        (RESULT, ENTRY, "lookup_order", "success", "Order 42 shipped yesterday."),
        (AGENT, ENTRY, None, None, "Order 42 shipped yesterday."),
    ],
    "func-refund-approved": [
        (USER, None, None, None, "Please refund order 42, it arrived broken"),
        (CALL, ENTRY, "refund_order", None, None),
        (INTERRUPT, ENTRY, None, "resolved", "Approve this refund?"),
        (RESOLUTION, ENTRY, None, "approved", None),
        (RESULT, ENTRY, "refund_order", "success", "Refunded 30.00 EUR on order 42."),
        (AGENT, ENTRY, None, None, "Done: 30 EUR are on their way back to you."),
    ],
    "func-refund-rejected": [
        (USER, None, None, None, "Refund order 77 in full"),
        (CALL, ENTRY, "refund_order", None, None),
        (INTERRUPT, ENTRY, None, "resolved", "Approve this refund?"),
        (RESOLUTION, ENTRY, None, "rejected", "over the refund limit"),
        (RESULT, ENTRY, "refund_order", "rejected", "The refund was not approved: over the refund limit"),
        (AGENT, ENTRY, None, None, "I am sorry, I cannot refund this order."),
    ],
    "func-refund-pending": [
        (USER, None, None, None, "Order 55 never came, refund it please"),
        (CALL, ENTRY, "lookup_order", None, None),
        (RESULT, ENTRY, "lookup_order", "success", "Order 55 shipped yesterday."),
        (CALL, ENTRY, "refund_order", None, None),
        (INTERRUPT, ENTRY, None, "pending", "Approve this refund?"),
    ],
    "func-two-turns": [
        (USER, None, None, None, "Where is my order A-13?"),
        (CALL, ENTRY, "lookup_order", None, None),
        (RESULT, ENTRY, "lookup_order", "error", "Error: no order 'A-13'"),
        (AGENT, ENTRY, None, None, "I could not find order A-13. Could you check the number?"),
        (USER, None, None, None, "Sorry, it is 13"),
        (CALL, ENTRY, "lookup_order", None, None),
        (RESULT, ENTRY, "lookup_order", "success", "Order 13 shipped yesterday."),
        (AGENT, ENTRY, None, None, "Order 13 shipped yesterday."),
    ],
    # The workers run in parallel in one step; each one's messages are shown together, in the order they
    # were sent. A Send's task path does not name its node, so no agent is named before the reply node.
    "fan-two-orders": [
        (USER, None, None, None, "Where are my orders 42 and 43?"),
        (CALL, None, "track_order", None, None),
        (RESULT, None, "track_order", "success", "Order 42 is in transit."),
        (AGENT, None, None, None, "Order 42 is in transit."),
        (CALL, None, "track_order", None, None),
        (RESULT, None, "track_order", "success", "Order 43 is in transit."),
        (AGENT, None, None, None, "Order 43 is in transit."),
        (AGENT, "reply", None, None, "Both orders are on their way."),
    ],
    "fan-one-unknown": [
        (USER, None, None, None, "Track 61 and X-9"),
        (CALL, None, "track_order", None, None),
        (RESULT, None, "track_order", "success", "Order 61 is in transit."),
        (AGENT, None, None, None, "Order 61 is in transit."),
        (CALL, None, "track_order", None, None),
        (RESULT, None, "track_order", "error", "Error: no order 'X-9'"),
        (AGENT, None, None, None, "There is no order X-9."),
        (AGENT, "reply", None, None, "Order 61 is on its way; I found no order X-9."),
    ],
    "fan-no-tool": [
        (USER, None, None, None, "Can I still change order 70?"),
        (AGENT, None, None, None, "Order 70 can be changed until it ships."),
        (AGENT, "reply", None, None, "Yes, until it ships."),
    ],
}

FUNCTIONAL = {thread.thread_id: thread for thread in FUNCTIONAL_THREADS}
FAN_OUT = {thread.thread_id: thread for thread in FAN_OUT_THREADS}


def play(checkpointer, thread_id: str) -> UsageLog:
    log = UsageLog({}, {})
    if thread_id in FUNCTIONAL:
        run_functional_thread(checkpointer, FUNCTIONAL[thread_id], log)
    else:
        run_fan_out_thread(checkpointer, FAN_OUT[thread_id], log)
    return log


def shape(steps):
    return [(step.type.value, step.agent, step.tool_name, step.status, step.content) for step in steps]


@pytest.mark.parametrize("thread_id", list(EXPECTED))
def test_each_conversation_replays_step_by_step(thread_id, checkpointer, checkpoint_source):
    play(checkpointer, thread_id)

    assert shape(build_timeline(checkpoint_source.get_thread(thread_id=thread_id), now=NOW)) == EXPECTED[thread_id]


@pytest.mark.parametrize("thread_id", list(EXPECTED))
def test_each_model_call_counts_its_tokens_once(thread_id, checkpointer, checkpoint_source):
    log = play(checkpointer, thread_id)

    steps = build_timeline(checkpoint_source.get_thread(thread_id=thread_id), now=NOW)

    assert sum(step.input_tokens or 0 for step in steps) == log.input_tokens[thread_id]
    assert sum(step.output_tokens or 0 for step in steps) == log.output_tokens[thread_id]
    assert {step.model for step in steps if step.input_tokens} == {"gpt-4o-mini"}


def test_tool_calls_keep_their_arguments_and_ids(checkpointer, checkpoint_source):
    play(checkpointer, "func-refund-approved")

    steps = build_timeline(checkpoint_source.get_thread(thread_id="func-refund-approved"), now=NOW)

    call, interrupt = steps[1], steps[2]
    assert (call.tool_call_id, call.tool_args) == ("f2-c1", {"order_id": "42", "amount": 30})
    assert steps[4].tool_call_id == "f2-c1"
    assert interrupt.details["value"]["tool_call"]["id"] == "f2-c1"


def test_a_run_resumed_later_keeps_when_each_part_happened(checkpointer, checkpoint_source):
    """The calls before the interrupt ran when the customer wrote; the rest when the reviewer answered."""
    play(checkpointer, "func-refund-approved")

    steps = build_timeline(checkpoint_source.get_thread(thread_id="func-refund-approved"), now=NOW)

    started = FUNCTIONAL["func-refund-approved"].started_at
    assert all(abs((step.timestamp - started).total_seconds()) < 5 for step in steps[:3])
    assert all(110 < (step.timestamp - started).total_seconds() < 130 for step in steps[3:])
    assert 110_000 < steps[3].details["wait_ms"] < 130_000
