"""A conversation's summary where a wrong rule gives another row: threads without stored times, the
rules the caller passes, pending approvals raised after answered ones, the hour an unanswered
conversation stays active."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import time_machine
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.types import Command

from analytics.derive import ACTIVE_WINDOW, derive_thread
from analytics.models import EventType
from analytics.pricing import load_price_lookup
from replay.checkpoint_times import uuid6_time
from replay.steps import TimelineRules
from replay.timeline import StepType, build_timeline
from tests.analytics.test_provider_costs import run_anthropic_cache_write_then_read
from tests.apps.parallel_approvals_app import build_parallel_approvals_app
from tests.apps.provider_app import openai_result, run_recorded_conversation
from tests.replay.damaged_threads import (
    execute,
    run_weather_turns,
    strip_times,
    weather_graph,
)

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


def unpriced(model, at):
    return None


def derive(source, thread_id, *, now=NOW, rules=None):
    return derive_thread(thread=source.get_thread(thread_id=thread_id), price_lookup=unpriced, now=now, rules=rules)


def test_a_thread_stored_without_ts_starts_and_ends_at_the_times_its_checkpoint_ids_hold(
    checkpointer, checkpoint_db, checkpoint_source
):
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT):  # the clock ticks: each checkpoint id holds a later time
        run_weather_turns(checkpointer, "no-ts", turns=2)
    execute(checkpoint_db, "UPDATE checkpoints SET checkpoint = checkpoint - 'ts' WHERE thread_id = 'no-ts'")
    ids = [row[0] for row in execute(checkpoint_db, "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'no-ts' ORDER BY checkpoint_id")]

    conversation = derive(checkpoint_source, "no-ts").conversation

    # the input checkpoint comes before the step that shows its message
    assert (conversation.started_at, conversation.last_activity_at) == (uuid6_time(ids[0]), uuid6_time(ids[-1]))


def test_a_thread_with_no_time_at_all_starts_at_its_first_step_and_was_last_active_at_its_last(
    checkpointer, checkpoint_db, checkpoint_source
):
    run_weather_turns(checkpointer, "no-time", turns=2)
    strip_times(checkpoint_db, "no-time")
    steps = build_timeline(checkpoint_source.get_thread(thread_id="no-time"), now=NOW)

    conversation = derive(checkpoint_source, "no-time").conversation

    assert len({steps[0].timestamp, steps[1].timestamp, steps[-1].timestamp, NOW}) == 4
    assert (conversation.started_at, conversation.last_activity_at) == (steps[0].timestamp, steps[-1].timestamp)


def test_an_update_after_the_last_step_is_the_last_activity(checkpointer, checkpoint_source):
    graph = weather_graph(checkpointer, [])
    config = {"configurable": {"thread_id": "updated-later"}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT, tick=False) as traveller:
        graph.update_state(config, {"messages": [HumanMessage("my order never came", id="user-1")]}, as_node="assistant")
        traveller.shift(timedelta(minutes=40))
        graph.update_state(config, {"messages": []}, as_node="assistant")  # an operator's edit: no new message

    conversation = derive(checkpoint_source, "updated-later").conversation

    assert conversation.started_at == STARTED_AT
    assert conversation.last_activity_at == STARTED_AT + timedelta(minutes=40)


def test_the_rules_passed_decide_what_counts_as_an_escalation(checkpointer, checkpoint_source):
    run_weather_turns(checkpointer, "weather-escalates")
    weather_is_escalation = replace(TimelineRules.from_settings(), escalation_tools=frozenset({"get_weather"}))

    by_default = derive(checkpoint_source, "weather-escalates").conversation
    with_rules = derive(checkpoint_source, "weather-escalates", rules=weather_is_escalation).conversation

    assert (by_default.status, by_default.measures["escalated"]) == ("resolved", False)
    assert (with_rules.status, with_rules.measures["escalated"]) == ("escalated", True)


def test_pending_approval_times_are_those_of_the_unanswered_approvals_only(checkpointer, checkpoint_source):
    graph = build_parallel_approvals_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "answered-then-pending"}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT, tick=False) as traveller:
        graph.invoke({"order_id": "A-7"}, config)
        first = {interrupt.value["action"]: interrupt.id for interrupt in graph.get_state(config).interrupts}
        traveller.shift(timedelta(minutes=5))
        graph.invoke(Command(resume={first["refund"]: "approve", first["cancel"]: {"approved": False}}), config)
        traveller.shift(timedelta(minutes=25))
        graph.invoke({"order_id": "B-8"}, config)  # two new approvals, left unanswered

    conversation = derive(checkpoint_source, "answered-then-pending", now=STARTED_AT + timedelta(minutes=31)).conversation

    raised_later = STARTED_AT + timedelta(minutes=30)
    assert (conversation.oldest_pending_interrupt_at, conversation.newest_pending_interrupt_at) == (raised_later, raised_later)
    assert conversation.measures["interrupts_pending"] == 2 and conversation.status == "awaiting_approval"


def test_a_conversation_is_unresolved_once_exactly_an_hour_has_passed_since_its_last_step(checkpointer, checkpoint_source):
    graph = weather_graph(checkpointer, [])
    config = {"configurable": {"thread_id": "quiet-hour"}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(STARTED_AT, tick=False):
        graph.update_state(config, {"messages": [HumanMessage("hello?", id="user-1")]}, as_node="assistant")

    just_before = derive(checkpoint_source, "quiet-hour", now=STARTED_AT + ACTIVE_WINDOW - timedelta(microseconds=1))
    on_the_hour = derive(checkpoint_source, "quiet-hour", now=STARTED_AT + ACTIVE_WINDOW)

    assert (just_before.conversation.status, on_the_hour.conversation.status) == ("active", "unresolved")


def test_no_step_of_a_pending_approval_thread_is_counted_twice(checkpointer, checkpoint_source):
    graph = build_parallel_approvals_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "two-open"}}
    with time_machine.travel(STARTED_AT, tick=False):
        graph.invoke({"order_id": "C-9"}, config)

    derived = derive(checkpoint_source, "two-open", now=STARTED_AT + timedelta(minutes=1))

    interrupts = [step for step in build_timeline(checkpoint_source.get_thread(thread_id="two-open"), now=NOW) if step.type == StepType.INTERRUPT]
    assert derived.conversation.measures["interrupt_count"] == len(interrupts) == 2


def test_a_conversation_whose_only_tool_result_is_a_routing_tools_is_not_resolved(checkpointer, checkpoint_source):
    run_weather_turns(checkpointer, "weather-routes")
    weather_routes = replace(TimelineRules.from_settings(), routing_tools=frozenset({"get_weather"}))

    by_default = derive(checkpoint_source, "weather-routes").conversation
    routing = derive(checkpoint_source, "weather-routes", rules=weather_routes).conversation

    assert by_default.measures["resolved"] is True
    assert routing.measures["resolved"] is False and routing.status != "resolved"


def test_a_tool_call_id_reused_in_a_later_turn_is_a_second_event_and_the_first_keeps_its_key(checkpointer, checkpoint_source):
    run_weather_turns(checkpointer, "reused-id", turns=1, call_ids=["call-same"])
    first_turn = derive(checkpoint_source, "reused-id").events
    run_weather_turns(checkpointer, "reused-id-2", turns=2, call_ids=["call-same", "call-same"])
    both_turns = derive(checkpoint_source, "reused-id-2").events

    calls = [event.dedup_key for event in both_turns if event.event_type == EventType.TOOL_CALL]
    assert [event.dedup_key for event in first_turn if event.event_type == EventType.TOOL_CALL] == ["tool_call:call-same|tool_call"]
    assert calls == ["tool_call:call-same|tool_call", "tool_call:call-same#2|tool_call"]
    assert len({event.dedup_key for event in both_turns}) == len(both_turns)


def test_the_conversation_starts_with_an_event_naming_its_first_step(checkpointer, checkpoint_source):
    run_weather_turns(checkpointer, "first-step")

    started = derive(checkpoint_source, "first-step").events[0]

    assert (started.event_type, started.dedup_key, started.payload) == (
        EventType.CONVERSATION_STARTED, "conversation_started", {"first_step": "user_message"},
    )


def test_a_conversation_without_a_customer_message_has_no_first_message_and_no_summary(checkpointer, checkpoint_source):
    graph = build_parallel_approvals_app(checkpointer=checkpointer)
    with time_machine.travel(STARTED_AT, tick=False):
        graph.invoke({"order_id": "D-1"}, {"configurable": {"thread_id": "no-customer-message"}})

    conversation = derive(checkpoint_source, "no-customer-message").conversation

    assert (conversation.first_message, conversation.summarised) == ("", False)


def test_an_empty_customer_message_is_an_empty_first_message(checkpointer, checkpoint_source):
    graph = weather_graph(checkpointer, [])
    with time_machine.travel(STARTED_AT, tick=False):
        graph.update_state({"configurable": {"thread_id": "empty-message"}}, {"messages": [HumanMessage("", id="user-1")]}, as_node="assistant")

    assert derive(checkpoint_source, "empty-message").conversation.first_message == ""


def test_each_llm_call_event_carries_the_calls_own_tokens_cost_and_savings(checkpointer, checkpoint_source):
    run_anthropic_cache_write_then_read(checkpointer)
    run_recorded_conversation(
        checkpointer=checkpointer, thread_id="openai-reasoning", question="Can I get a refund for ORD-10423?",
        results=[openai_result("openai_o4-mini_reasoning.json")], started_at=STARTED_AT,
    )
    prices = load_price_lookup()
    usage = ("model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
             "cost_usd", "cache_savings_usd")

    calls = [
        tuple(getattr(event, name) for name in usage)
        for thread_id in ("anthropic-cached", "openai-reasoning")
        for event in derive_thread(thread=checkpoint_source.get_thread(thread_id=thread_id), price_lookup=prices, now=NOW).events
        if event.event_type == EventType.LLM_USAGE
    ]

    # the hand computations of tests/analytics/test_provider_costs.py, at the seeded list prices
    assert calls == [
        ("claude-sonnet-4-5-20250929", 412 + 3187, 87, 0, 3187, 0, Decimal("0.01449225"), Decimal("-0.00239025")),
        ("claude-sonnet-4-5-20250929", 563 + 3187, 64, 3187, 0, 0, Decimal("0.0036051"), Decimal("0.0086049")),
        ("o4-mini-2025-04-16", 1187, 1466, 0, 0, 1216, Decimal("0.0077561"), Decimal("0")),
    ]
