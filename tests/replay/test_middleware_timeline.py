"""Replays of a support agent built with ``create_agent`` and LangChain's middleware
(tests/apps/middleware_agent.py), read with no setting at all."""

import json
from decimal import Decimal

import pytest

from replay.timeline import StepType, build_timeline
from tests.apps.middleware_agent import FALLBACK_MODEL, NOW, PRIMARY_MODEL, THREADS, run_middleware_thread

THREADS_BY_ID = {thread.thread_id: thread for thread in THREADS}

USER, AGENT, CALL, RESULT, SUMMARY = "user_message", "agent_message", "tool_call", "tool_result", "summary"
INTERRUPT, RESOLUTION = "interrupt", "interrupt_resolution"

REFUND_ASKED = [(CALL, "issue_refund", None), (INTERRUPT, None, "resolved")]
EXPECTED = {
    "mw-refund-approved": [
        (USER, None, None), (CALL, "lookup_order", None), (RESULT, "lookup_order", "success"),
        *REFUND_ASKED, (RESOLUTION, None, "approved"), (RESULT, "issue_refund", "success"), (AGENT, None, None),
    ],
    "mw-refund-edited": [
        (USER, None, None), (CALL, "lookup_order", None), (RESULT, "lookup_order", "success"),
        *REFUND_ASKED, (RESOLUTION, None, "approved"), (RESULT, "issue_refund", "success"), (AGENT, None, None),
    ],
    "mw-refund-rejected": [
        (USER, None, None), *REFUND_ASKED, (RESOLUTION, None, "rejected"), (RESULT, "issue_refund", "rejected"),
        (AGENT, None, None),
    ],
    "mw-refund-pending": [(USER, None, None), (CALL, "issue_refund", None), (INTERRUPT, None, "pending")],
    # retried twice, worked the third time: one call, one result
    "mw-carrier-retried": [(USER, None, None), (CALL, "check_carrier", None), (RESULT, "check_carrier", "success"), (AGENT, None, None)],
    # gave up after three attempts: one call, its final error
    "mw-warehouse-gave-up": [
        (USER, None, None), (CALL, "warehouse_stock", None), (RESULT, "warehouse_stock", "error"), (AGENT, None, None),
    ],
    "mw-model-fallback": [(USER, None, None), (CALL, "lookup_order", None), (RESULT, "lookup_order", "success"), (AGENT, None, None)],
    # the second search was blocked by the limit (answered at once), the first ran
    "mw-search-limit": [
        (USER, None, None), (CALL, "search_kb", None), (CALL, "search_kb", None), (RESULT, "search_kb", "error"),
        (RESULT, "search_kb", "success"), (AGENT, None, None),
    ],
    # the structured answer is the agent's final answer, not a tool call
    "mw-ticket": [(USER, None, None), (AGENT, None, None)],
    "mw-summarised": [
        (USER, None, None), (CALL, "check_carrier", None), (RESULT, "check_carrier", "success"), (AGENT, None, None),
        (USER, None, None), (CALL, "lookup_order", None), (RESULT, "lookup_order", "success"), (SUMMARY, None, None),
        (AGENT, None, None),
        (USER, None, None), (AGENT, None, None),
        (USER, None, None), (SUMMARY, None, None), (AGENT, None, None),
    ],
    "mw-summarised-ticket": [
        (USER, None, None), (CALL, "lookup_order", None), (RESULT, "lookup_order", "success"), (AGENT, None, None),
        (USER, None, None), (CALL, "search_kb", None), (RESULT, "search_kb", "success"), (SUMMARY, None, None),
        (AGENT, None, None),
    ],
}


def shape(steps):
    return [(step.type.value, step.tool_name, step.status) for step in steps]


def timeline_of(source, thread_id, price_lookup=None):
    return build_timeline(source.get_thread(thread_id=thread_id), now=NOW, price_lookup=price_lookup)


def replay_of(checkpointer, source, thread_id, price_lookup=None):
    run_middleware_thread(checkpointer, THREADS_BY_ID[thread_id])
    return timeline_of(source, thread_id, price_lookup)


def test_every_thread_is_covered():
    assert set(EXPECTED) == set(THREADS_BY_ID)


@pytest.mark.parametrize("thread_id", list(EXPECTED))
def test_each_middleware_conversation_replays_step_by_step(thread_id, checkpointer, checkpoint_source):
    steps = replay_of(checkpointer, checkpoint_source, thread_id)

    assert shape(steps) == EXPECTED[thread_id]
    # create_agent's "model" and "tools" nodes are not agents; this app gave its agent no name
    assert {step.agent for step in steps} == {None}


def test_an_edited_call_shows_the_arguments_that_ran(checkpointer, checkpoint_source):
    steps = replay_of(checkpointer, checkpoint_source, "mw-refund-edited")

    refund = next(step for step in steps if step.tool_name == "issue_refund" and step.type == StepType.TOOL_CALL)
    assert refund.tool_args == {"order_id": "1001", "amount": 50}
    assert refund.details["proposed_args"] == {"order_id": "1001", "amount": 80}
    assert refund.details["edited_by_reviewer"] is True
    assert "proposed_tool_name" not in refund.details
    ran = next(step for step in steps if step.tool_name == "issue_refund" and step.type == StepType.TOOL_RESULT)
    assert ran.content.endswith("Refunded 50 EUR on order 1001")


def test_an_approved_call_keeps_its_arguments(checkpointer, checkpoint_source):
    steps = replay_of(checkpointer, checkpoint_source, "mw-refund-approved")

    refund = next(step for step in steps if step.tool_name == "issue_refund" and step.type == StepType.TOOL_CALL)
    assert refund.tool_args == {"order_id": "1001", "amount": 80}
    assert "proposed_args" not in refund.details


def test_a_rejection_gives_its_reason_and_rejects_the_answer(checkpointer, checkpoint_source):
    steps = replay_of(checkpointer, checkpoint_source, "mw-refund-rejected")

    resolution, result = steps[3], steps[4]
    assert (resolution.status, resolution.content) == ("rejected", "over the refund limit")
    assert (result.status, result.tool_call_id) == ("rejected", "r1")


def test_summaries_are_their_own_steps_and_every_message_stays_once_in_order(checkpointer, checkpoint_source):
    thread = THREADS_BY_ID["mw-summarised"]
    steps = replay_of(checkpointer, checkpoint_source, thread.thread_id)

    typed = [text for action, text in thread.actions if action == "say"]
    assert [step.content for step in steps if step.type == StepType.USER_MESSAGE] == typed
    assert [step.content for step in steps if step.type == StepType.AGENT_MESSAGE] == [
        reply.text for reply in thread.replies if reply.text
    ]
    summaries = [step for step in steps if step.type == StepType.SUMMARY]
    assert [step.content for step in summaries] == [
        f"Here is a summary of the conversation to date:\n\n{text}" for text in thread.summaries
    ]
    assert all(step.details["cost_not_included"] and step.input_tokens is None for step in summaries)
    assert "cost is not included" in summaries[0].details["note"]


def test_a_structured_answer_is_the_final_answer(checkpointer, checkpoint_source):
    steps = replay_of(checkpointer, checkpoint_source, "mw-ticket")

    answer = steps[-1]
    assert json.loads(answer.content) == {"category": "login", "priority": "high", "summary": "cannot log in since the update"}
    assert answer.details["structured_response"] == "SupportTicket"
    assert answer.details["tool_call_id"] == "t1"
    assert answer.model == PRIMARY_MODEL and answer.input_tokens > 0


def test_retries_and_limits_read_as_what_they_are(checkpointer, checkpoint_source):
    gave_up = replay_of(checkpointer, checkpoint_source, "mw-warehouse-gave-up")
    limited = replay_of(checkpointer, checkpoint_source, "mw-search-limit")

    assert gave_up[2].content == (
        "Tool 'warehouse_stock' failed after 3 attempts with ConnectionError: warehouse API unreachable. Please try again."
    )
    assert [(step.tool_call_id, step.content) for step in limited if step.type == StepType.TOOL_RESULT] == [
        ("k2", "Tool call limit exceeded. Do not call 'search_kb' again."),
        ("k1", "Article: how to reset a password"),
    ]


def test_the_fallback_model_is_priced_by_its_own_name(checkpointer, checkpoint_source):
    prices = {PRIMARY_MODEL: Decimal("2.50"), FALLBACK_MODEL: Decimal("1.00")}

    def price_lookup(model, at):
        from replay.timeline import ModelPricing

        return ModelPricing(input_usd_per_million=prices[model], output_usd_per_million=prices[model] * 4)

    steps = replay_of(checkpointer, checkpoint_source, "mw-model-fallback", price_lookup)

    calls = [step for step in steps if step.model]
    assert [step.model for step in calls] == [FALLBACK_MODEL, PRIMARY_MODEL]
    fallback = calls[0]
    assert fallback.cost_usd == (fallback.input_tokens * Decimal("1.00") + fallback.output_tokens * Decimal("4.00")) / 1_000_000


@pytest.mark.parametrize(
    ("thread_id", "outcome", "result_status", "ran_args"),
    [
        ("mw-refund-approved", "approved", "success", {"order_id": "1001", "amount": 80}),
        ("mw-refund-edited", "approved", "success", {"order_id": "1001", "amount": 50}),
        ("mw-refund-rejected", "rejected", "rejected", None),
    ],
)
def test_per_call_approvals_read_like_batched_ones(thread_id, outcome, result_status, ran_args, checkpointer, checkpoint_source):
    """HumanInTheLoopMiddleware(interrupt_mode="per_call"): one interrupt per gated call, asking with a
    ``tool_approval`` request and answered by one bare decision keyed by the interrupt's id."""
    import time_machine
    from langgraph.types import Command

    from tests.apps.middleware_agent import build_middleware_agent

    thread = THREADS_BY_ID[thread_id]
    agent = build_middleware_agent(checkpointer=checkpointer, replies=thread.replies, interrupt_mode="per_call")
    config = {"configurable": {"thread_id": f"{thread_id}-per-call"}}
    with time_machine.travel(thread.started_at, tick=True):
        for action, argument in thread.actions:
            if action == "say":
                agent.invoke({"messages": [("user", argument)]}, config)
            else:
                (pending,) = agent.get_state(config).interrupts
                agent.invoke(Command(resume={pending.id: argument["decisions"][0]}), config)

    steps = timeline_of(checkpoint_source, f"{thread_id}-per-call")

    resolution = next(step for step in steps if step.type == StepType.INTERRUPT_RESOLUTION)
    result = next(step for step in steps if step.type == StepType.TOOL_RESULT and step.tool_name == "issue_refund")
    call = next(step for step in steps if step.type == StepType.TOOL_CALL and step.tool_name == "issue_refund")
    assert (resolution.status, result.status) == (outcome, result_status)
    if ran_args is not None:
        assert call.tool_args == ran_args
    if outcome == "rejected":
        assert resolution.content == "over the refund limit"
