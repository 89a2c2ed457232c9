"""Steps → events and conversation summary, on threads written by real graphs."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from analytics.derive import derive_thread
from analytics.models import EventType
from replay.timeline import ModelPricing, build_timeline, total_of
from smart_support.agent.scenarios import plan_conversation

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
PRICES = {
    "gpt-4o": ModelPricing(Decimal("2.50"), Decimal("10.00")),
    "gpt-4o-mini": ModelPricing(Decimal("0.15"), Decimal("0.60")),
}


def lookup(model, at):
    return PRICES.get(model)


def derive(source, plan, now=STARTED_AT + timedelta(hours=2)):
    return derive_thread(thread=source.get_thread(thread_id=plan.thread_id), price_lookup=lookup, now=now)


def test_summary_matches_the_replay(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=21, index=0, scenario="multi_turn")
    run_reference_agent(plan, STARTED_AT)

    derived = derive(checkpoint_source, plan)
    steps = build_timeline(checkpoint_source.get_thread(thread_id=plan.thread_id), price_lookup=lookup)
    totals = total_of(steps)

    conversation = derived.conversation
    assert (conversation.measures["input_tokens"], conversation.measures["output_tokens"], conversation.measures["cost_usd"]) == (
        totals.input_tokens, totals.output_tokens, totals.cost_usd,
    )
    assert conversation.measures["step_count"] == len(steps)
    assert conversation.status == "resolved" and conversation.measures["resolved"] and not conversation.measures["escalated"]
    assert conversation.agents_used == ("supervisor", "orders", "billing")
    assert conversation.handoffs == {"orders": 1, "billing": 1}
    assert conversation.measures["message_count"] == 4  # per turn: the customer's message and the specialist's answer
    assert conversation.first_message == plan.turns[0].user_text
    assert conversation.metadata == plan.metadata
    assert conversation.started_at >= STARTED_AT
    llm = [event for event in derived.events if event.event_type == EventType.LLM_USAGE]
    assert len(llm) == sum(len(turn.replies) for turn in plan.turns)
    assert sum(event.input_tokens for event in llm) == totals.input_tokens


def test_escalated_after_a_successful_tool_is_not_resolved(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=21, index=1, scenario="escalated_after_answer")
    run_reference_agent(plan, STARTED_AT)

    conversation = derive(checkpoint_source, plan).conversation

    assert conversation.measures["escalated"] and not conversation.measures["resolved"]
    assert conversation.status == "escalated"
    assert conversation.measures["tool_call_count"] == 2 and conversation.measures["tool_error_count"] == 0


def test_unpriced_models_are_reported_not_costed_at_zero(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=21, index=2, scenario="password_failed")  # tech_support runs claude-haiku-4-5
    run_reference_agent(plan, STARTED_AT)

    derived = derive(checkpoint_source, plan)

    assert derived.conversation.unpriced_models == ("claude-haiku-4-5",)
    unpriced = [event for event in derived.events if event.model == "claude-haiku-4-5"]
    assert unpriced and all(event.cost_usd is None and event.status == "unpriced" for event in unpriced)
    assert derived.conversation.measures["cost_usd"] == sum(
        event.cost_usd for event in derived.events if event.event_type == EventType.LLM_USAGE and event.cost_usd
    )
    assert derived.conversation.measures["tool_error_count"] == 1
    assert derived.conversation.status == "unresolved"


def test_pending_approval_then_expired(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=21, index=3, scenario="refund_pending")
    run_reference_agent(plan, STARTED_AT)

    waiting = derive(checkpoint_source, plan, now=STARTED_AT + timedelta(hours=1)).conversation
    abandoned = derive(checkpoint_source, plan, now=STARTED_AT + timedelta(days=2)).conversation

    assert (waiting.status, waiting.measures["interrupts_pending"]) == ("awaiting_approval", 1)
    assert (abandoned.status, abandoned.measures["interrupts_pending"]) == ("unresolved", 1)


def test_event_keys_are_unique_and_stable(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=21, index=4, scenario="refund_approved")
    run_reference_agent(plan, STARTED_AT)

    first, again = derive(checkpoint_source, plan), derive(checkpoint_source, plan)

    keys = [event.dedup_key for event in first.events]
    assert len(keys) == len(set(keys))
    assert keys == [event.dedup_key for event in again.events]
    raised = [event for event in first.events if event.event_type == EventType.INTERRUPT_RAISED]
    resolved = [event for event in first.events if event.event_type == EventType.INTERRUPT_RESOLVED]
    assert [event.status for event in raised] == ["approved"]
    assert resolved[0].payload["reviewer"] == plan.turns[0].decisions[0]["reviewer"]
    assert first.conversation.measures["interrupts_approved"] == 1
