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
from smart_support.agent.scenarios import plan_conversation
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
    usage = ("model", "status", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
             "cost_usd", "cache_savings_usd")

    calls = [
        tuple(getattr(event, name) for name in usage)
        for thread_id in ("anthropic-cached", "openai-reasoning")
        for event in derive_thread(thread=checkpoint_source.get_thread(thread_id=thread_id), price_lookup=prices, now=NOW).events
        if event.event_type == EventType.LLM_USAGE
    ]

    # the hand computations of tests/analytics/test_provider_costs.py, at the seeded list prices
    assert calls == [
        ("claude-sonnet-4-5-20250929", "priced", 412 + 3187, 87, 0, 3187, 0, Decimal("0.01449225"), Decimal("-0.00239025")),
        ("claude-sonnet-4-5-20250929", "priced", 563 + 3187, 64, 3187, 0, 0, Decimal("0.0036051"), Decimal("0.0086049")),
        ("o4-mini-2025-04-16", "priced", 1187, 1466, 0, 0, 1216, Decimal("0.0077561"), Decimal("0")),
    ]


NO_PRICES_NEXT_DAY = datetime(2026, 11, 11, tzinfo=timezone.utc)


def events_of(run_reference_agent, checkpoint_source, *, index: int, scenario: str) -> list[tuple]:
    plan = plan_conversation(seed=31, index=index, scenario=scenario)
    run_reference_agent(plan, datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc))
    thread = checkpoint_source.get_thread(thread_id=plan.thread_id)
    events = derive_thread(thread=thread, price_lookup=unpriced, now=NO_PRICES_NEXT_DAY).events
    return [(event.event_type, event.dedup_key, event.agent, event.tool_name, event.status, event.payload) for event in events]


def test_a_handoff_then_an_escalation_are_events_of_who_did_them_with_what(run_reference_agent, checkpoint_source):
    assert events_of(run_reference_agent, checkpoint_source, index=0, scenario="escalated_directly") == [
        ("conversation_started", "conversation_started", "", "", "", {"first_step": "user_message"}),
        ("llm_usage", "handoff:call-sim-31-000000-1|llm_usage", "supervisor", "", "unpriced", {}),  # the router's call
        ("handoff", "handoff:call-sim-31-000000-1|handoff", "orders", "transfer_to_orders", "", {"from_agent": "supervisor", "via": "tool"}),
        ("llm_usage", "escalation:call-sim-31-000000-3|llm_usage", "orders", "", "unpriced", {}),
        ("escalated", "escalation:call-sim-31-000000-3|escalated", "orders", "escalate_to_human", "",
         {"args": {"reason": "Customer asks for a human after repeated failures"}}),
        ("tool_result", "tool_result:call-sim-31-000000-3|tool_result", "orders", "escalate_to_human", "success", {"resolving": False}),
        ("llm_usage", "agent_message:msg-sim-31-000000-5|llm_usage", "orders", "", "unpriced", {}),
    ]


def test_an_approved_refund_is_a_call_an_approval_asked_and_answered_and_a_resolving_result(run_reference_agent, checkpoint_source):
    events = events_of(run_reference_agent, checkpoint_source, index=1, scenario="refund_approved")

    interrupt_id = events[5][5]["interrupt_id"]
    waited = events[6][5].pop("wait_ms")  # the scripted reviewer's 45 minutes, plus the run's own milliseconds
    assert 2_700_000 <= waited < 2_701_000
    refund = {"order_id": "ORD-69805", "amount_usd": 19.99, "reason": "damaged"}
    assert events[3:] == [
        ("llm_usage", "tool_call:call-sim-31-000001-3|llm_usage", "billing", "", "unpriced", {}),
        ("tool_call", "tool_call:call-sim-31-000001-3|tool_call", "billing", "issue_refund", "", {"args": refund}),
        ("interrupt_raised", f"interrupt:{interrupt_id}|interrupt_raised", "billing", "", "approved",
         {"interrupt_id": interrupt_id, "value": {"action": "issue_refund", **refund, "question": "Refund $19.99 for ORD-69805?"}}),
        ("interrupt_resolved", f"interrupt_resolution:{interrupt_id}|interrupt_resolved", "billing", "", "approved",
         {"interrupt_id": interrupt_id, "reviewer": "tom.becker", "reason": "Photo of the damage attached", "outcome_stored": True}),
        ("tool_result", "tool_result:call-sim-31-000001-3|tool_result", "billing", "issue_refund", "success", {"resolving": True}),
        ("llm_usage", "agent_message:msg-sim-31-000001-5|llm_usage", "billing", "", "unpriced", {}),
    ]


def test_a_failed_tool_is_an_error_result_that_resolves_nothing(run_reference_agent, checkpoint_source):
    events = events_of(run_reference_agent, checkpoint_source, index=2, scenario="password_failed")

    assert events[4:6] == [
        ("tool_call", "tool_call:call-sim-31-000002-3|tool_call", "tech_support", "reset_password", "",
         {"args": {"email": "jane at example dot com"}}),
        ("tool_result", "tool_result:call-sim-31-000002-3|tool_result", "tech_support", "reset_password", "error", {"resolving": False}),
    ]


def test_an_unreadable_step_is_an_unknown_event_that_keeps_why(checkpointer, checkpoint_source):
    run_weather_turns(checkpointer, "unreadable-event")
    execute(
        checkpointer.conn.info.dsn,
        "UPDATE checkpoint_writes SET blob = substring(blob FROM 1 FOR 5) "
        "WHERE thread_id = 'unreadable-event' AND channel = 'messages' AND task_path LIKE '%%tools'",
    )

    derived = derive(checkpoint_source, "unreadable-event")

    (unknown,) = [event for event in derived.events if event.event_type == EventType.UNKNOWN]
    # staff reading the event see which row broke and why
    assert unknown.payload == {
        "details": {"channel": "messages", "raw_type": "msgpack", "reason": "ValueError: unexpected end of file"},
    }


def test_tokens_of_a_reply_that_names_no_model_are_an_llm_event_of_no_model(checkpointer, checkpoint_source):
    from langchain_core.messages import AIMessage
    from langgraph.graph import START, MessagesState, StateGraph

    graph = StateGraph(MessagesState)
    graph.add_node("assistant", lambda state: {"messages": [AIMessage(
        "Hello.", usage_metadata={"input_tokens": 12, "output_tokens": 5, "total_tokens": 17},
    )]})
    graph.add_edge(START, "assistant")
    graph.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "no-model"}}
    )

    derived = derive(checkpoint_source, "no-model")

    (usage,) = [event for event in derived.events if event.event_type == EventType.LLM_USAGE]
    assert (usage.model, usage.input_tokens, usage.output_tokens) == ("", 12, 5)
