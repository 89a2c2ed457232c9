"""build_timeline on threads written by real LangGraph apps: ours, langgraph-supervisor, langgraph-swarm,
a plain StateGraph (per-step writes and durability="exit")."""

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from langchain_core.messages import AIMessage
from langgraph.types import Command

from replay.timeline import ModelPricing, StepType, TimelineRules, build_timeline
from smart_support.agent.chat_model import replies_in_order
from smart_support.agent.scenarios import plan_conversation
from tests.apps.plain_graph import build_plain_graph
from tests.apps.supervisor_app import build_supervisor_app, call
from tests.apps.swarm_app import build_swarm_app

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
AN_HOUR_LATER = STARTED_AT + timedelta(hours=1)


def shape(steps):
    """What a manager reads off a replay: step type, agent, tool and status."""
    return [(step.type.value, step.agent, step.tool_name, step.status) for step in steps]


def timeline_of(source, thread_id, **kwargs):
    return build_timeline(source.get_thread(thread_id=thread_id), now=kwargs.pop("now", AN_HOUR_LATER), **kwargs)


# -- the reference agent --------------------------------------------------------------------------

def test_reference_refund_in_subgraph_counts_its_interrupt_once(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=3, index=0, scenario="refund_approved")
    run_reference_agent(plan, STARTED_AT)

    steps = timeline_of(checkpoint_source, plan.thread_id, now=STARTED_AT + timedelta(days=3))

    assert shape(steps) == [
        ("user_message", None, None, None),
        ("handoff", "billing", "transfer_to_billing", None),
        ("tool_call", "billing", "issue_refund", None),
        ("interrupt", "billing", None, "resolved"),
        ("interrupt_resolution", "billing", None, "approved"),
        ("tool_result", "billing", "issue_refund", "success"),
        ("agent_message", "billing", None, None),
    ]
    handoff, resolution = steps[1], steps[4]
    assert handoff.details["from_agent"] == "supervisor"
    assert resolution.details["reviewer"] == plan.turns[0].decisions[0]["reviewer"]
    assert resolution.details["reason"] == "Photo of the damage attached"
    wait = timedelta(milliseconds=resolution.details["wait_ms"])
    assert plan.turns[0].review_wait <= wait < plan.turns[0].review_wait + timedelta(seconds=5)
    assert steps[3].details["value"]["action"] == "issue_refund"
    assert steps[1].checkpoint_ns == "" and steps[2].checkpoint_ns.startswith("billing:")


def test_reference_refund_rejected_by_the_reviewer_reads_rejected(run_reference_agent, checkpoint_source):
    """The refund tool answers a rejection itself ("Refund … was rejected"): that answer is the reviewer's
    no, not a refund that succeeded."""
    plan = plan_conversation(seed=3, index=2, scenario="refund_rejected")
    run_reference_agent(plan, STARTED_AT)

    steps = timeline_of(checkpoint_source, plan.thread_id)

    assert shape(steps)[3:6] == [
        ("interrupt", "billing", None, "resolved"),
        ("interrupt_resolution", "billing", None, "rejected"),
        ("tool_result", "billing", "issue_refund", "rejected"),
    ]
    assert "was rejected" in steps[5].content


def test_reference_parallel_tool_calls_match_their_results(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=3, index=1, scenario="order_status_parallel")
    run_reference_agent(plan, STARTED_AT)

    steps = timeline_of(checkpoint_source, plan.thread_id)

    assert shape(steps) == [
        ("user_message", None, None, None),
        ("handoff", "orders", "transfer_to_orders", None),
        ("tool_call", "orders", "track_order", None),
        ("tool_call", "orders", "track_order", None),
        ("tool_result", "orders", "track_order", "success"),
        ("tool_result", "orders", "track_order", "success"),
        ("agent_message", "orders", None, None),
    ]
    calls = [step.tool_call_id for step in steps if step.type == StepType.TOOL_CALL]
    results = [step.tool_call_id for step in steps if step.type == StepType.TOOL_RESULT]
    assert calls == results and len(set(calls)) == 2
    assert [step.tool_args["order_id"] for step in steps[2:4]] == [
        call["args"]["order_id"] for call in plan.turns[0].replies[1].tool_calls
    ]
    # one LLM call, two steps: its tokens are on the first only
    assert steps[2].input_tokens > 0 and steps[3].input_tokens is None


def test_reference_escalation_and_tool_error(run_reference_agent, checkpoint_source):
    escalated = plan_conversation(seed=3, index=2, scenario="escalated_after_answer")
    failed = plan_conversation(seed=3, index=3, scenario="password_failed")
    run_reference_agent(escalated, STARTED_AT)
    run_reference_agent(failed, STARTED_AT)

    assert shape(timeline_of(checkpoint_source, escalated.thread_id))[2:] == [
        ("tool_call", "tech_support", "search_knowledge_base", None),
        ("tool_result", "tech_support", "search_knowledge_base", "success"),
        ("escalation", "tech_support", "escalate_to_human", None),
        ("tool_result", "tech_support", "escalate_to_human", "success"),
        ("agent_message", "tech_support", None, None),
    ]
    failed_steps = timeline_of(checkpoint_source, failed.thread_id)
    assert shape(failed_steps)[3] == ("tool_result", "tech_support", "reset_password", "error")
    assert "is not an email address" in failed_steps[3].content


def test_reference_multi_turn_timestamps_follow_the_conversation(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=3, index=4, scenario="multi_turn")
    run_reference_agent(plan, STARTED_AT)

    steps = timeline_of(checkpoint_source, plan.thread_id)

    assert [step.type.value for step in steps].count("user_message") == 2
    assert [step.agent for step in steps if step.type == StepType.HANDOFF] == ["orders", "billing"]
    assert [step.timestamp for step in steps] == sorted(step.timestamp for step in steps)
    assert [step.index for step in steps] == list(range(len(steps)))
    assert steps[0].timestamp >= STARTED_AT and steps[-1].timestamp < STARTED_AT + timedelta(hours=1)
    assert all(step.latency_ms >= 0 for step in steps[1:])


def test_pending_approval_expires_after_the_ttl(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=3, index=5, scenario="refund_pending")
    run_reference_agent(plan, STARTED_AT)

    soon = timeline_of(checkpoint_source, plan.thread_id, now=STARTED_AT + timedelta(hours=2))
    later = timeline_of(checkpoint_source, plan.thread_id, now=STARTED_AT + timedelta(hours=25))

    assert shape(soon)[-1] == ("interrupt", "billing", None, "pending")
    assert shape(later)[-1] == ("interrupt", "billing", None, "expired")
    assert StepType.INTERRUPT_RESOLUTION not in {step.type for step in later}


def test_tokens_and_costs_sum_to_the_conversation_total(run_reference_agent, checkpoint_source):
    plan = plan_conversation(seed=3, index=6, scenario="multi_turn")
    run_reference_agent(plan, STARTED_AT)
    prices = {"gpt-4o": ModelPricing(Decimal("2.50"), Decimal("10.00"))}

    steps = timeline_of(checkpoint_source, plan.thread_id, price_lookup=lambda model, at: prices.get(model))

    llm_steps = [step for step in steps if step.input_tokens is not None]
    assert len(llm_steps) == sum(len(turn.replies) for turn in plan.turns)
    supervisor = [step for step in llm_steps if step.model == "gpt-4o"]
    assert all(
        step.cost_usd == (Decimal(step.input_tokens) * Decimal("2.50") + Decimal(step.output_tokens) * 10) / 1_000_000
        for step in supervisor
    )
    unpriced = [step for step in llm_steps if step.model != "gpt-4o"]
    assert unpriced and all(step.cost_usd is None and step.details["unpriced_model"] for step in unpriced)


# -- langgraph-supervisor -------------------------------------------------------------------------

def test_supervisor_app_keeps_agent_internal_steps_and_its_interrupt(checkpointer, checkpoint_source):
    graph = build_supervisor_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "supervisor-1"}}
    graph.invoke({"messages": [("user", "Is LH123 on time? And book me a hotel in Lisbon")]}, config)
    graph.invoke(Command(resume={"approved": True, "reviewer": "kim"}), config)

    steps = timeline_of(checkpoint_source, "supervisor-1")

    assert shape(steps) == [
        ("user_message", None, None, None),
        ("handoff", "flight_agent", "transfer_to_flight_agent", None),
        ("tool_call", "flight_agent", "lookup_flight", None),
        ("tool_result", "flight_agent", "lookup_flight", "success"),
        ("agent_message", "flight_agent", None, None),
        ("handoff", "supervisor", "transfer_back_to_supervisor", None),
        ("handoff", "hotel_agent", "transfer_to_hotel_agent", None),
        ("tool_call", "hotel_agent", "book_hotel", None),
        ("interrupt", "hotel_agent", None, "resolved"),
        ("interrupt_resolution", "hotel_agent", None, "approved"),
        ("tool_result", "hotel_agent", "book_hotel", "success"),
        ("agent_message", "hotel_agent", None, None),
        ("handoff", "supervisor", "transfer_back_to_supervisor", None),
        ("agent_message", "supervisor", None, None),
    ]
    assert steps[9].details["reviewer"] == "kim"
    assert [step.model for step in steps if step.model] == [
        "gpt-4o", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "claude-haiku-4-5", "gpt-4o",
    ]


# -- langgraph-swarm ------------------------------------------------------------------------------

def test_swarm_routing_seen_by_tool_and_channel_is_one_handoff(checkpointer, checkpoint_source):
    graph = build_swarm_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "swarm-1"}}
    graph.invoke({"messages": [("user", "what is 2+3, answer like a pirate")]}, config)
    graph.invoke({"messages": [("user", "thanks, back to maths")]}, config)

    steps = timeline_of(checkpoint_source, "swarm-1")

    assert shape(steps) == [
        ("user_message", None, None, None),
        ("tool_call", "Alice", "add", None),
        ("tool_result", "Alice", "add", "success"),
        ("handoff", "Bob", "transfer_to_bob", None),
        ("agent_message", "Bob", None, None),
        ("user_message", None, None, None),
        ("handoff", "Alice", "transfer_to_alice", None),
        ("agent_message", "Alice", None, None),
    ]
    assert [step.details["from_agent"] for step in steps if step.type == StepType.HANDOFF] == ["Alice", "Bob"]


# -- a plain StateGraph ---------------------------------------------------------------------------

PLAIN_SHAPE = [
    ("user_message", None, None, None),
    ("tool_call", "assistant", "get_weather", None),
    ("tool_call", "assistant", "get_time", None),
    ("tool_result", "assistant", "get_weather", "success"),
    ("tool_result", "assistant", "get_time", "success"),
    ("agent_message", "assistant", None, None),
    ("interrupt", "review", None, "resolved"),
    ("interrupt_resolution", "review", None, "approved"),
    ("user_message", None, None, None),
    ("tool_call", "assistant", "get_weather", None),
    ("tool_result", "assistant", "get_weather", "error"),
    ("agent_message", "assistant", None, None),
    ("interrupt", "review", None, "pending"),
]


def run_plain_conversation(checkpointer, thread_id, durability):
    replies = replies_in_order([
        AIMessage("", tool_calls=[call("get_weather", {"city": "Paris"}, "c1"), call("get_time", {"city": "Paris"}, "c2")]),
        AIMessage("Sunny, 10:00 in Paris"),
        AIMessage("", tool_calls=[call("get_weather", {"city": "Atlantis"}, "c3")]),
        AIMessage("No idea about Atlantis"),
    ])
    graph = build_plain_graph(reply_for=replies, checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread_id}, "metadata": {"tenant": "t1"}}
    graph.invoke({"messages": [("user", "weather and time in Paris?")], "ticket_id": "T-1"}, config, durability=durability)
    graph.invoke(Command(resume={"approved": True, "reviewer": "ann"}), config, durability=durability)
    graph.invoke({"messages": [("user", "and Atlantis?")]}, config, durability=durability)


def test_plain_graph_with_parallel_calls_and_several_interrupts(checkpointer, checkpoint_source):
    run_plain_conversation(checkpointer, "plain-1", "async")

    steps = timeline_of(checkpoint_source, "plain-1")

    assert shape(steps) == PLAIN_SHAPE
    assert steps[7].details["reviewer"] == "ann"
    assert steps[6].details["interrupt_id"] != steps[12].details["interrupt_id"]


def test_plain_graph_run_with_durability_exit_falls_back_to_the_blobs(checkpointer, checkpoint_source):
    run_plain_conversation(checkpointer, "plain-exit", "exit")

    steps = timeline_of(checkpoint_source, "plain-exit")

    # No writes name the node that produced a message, and the model did not name itself.
    expected = [
        (kind, None if agent == "assistant" else agent, tool, "resolved" if kind == "interrupt_resolution" else status)
        for kind, agent, tool, status in PLAIN_SHAPE
    ]
    assert shape(steps) == expected
    assert steps[7].details["outcome_stored"] is False
    assert steps[7].details["resume"] is None
    assert sum(step.input_tokens or 0 for step in steps) > 0


def test_tool_that_raised_without_a_tool_message_shows_its_error(checkpointer, checkpoint_source):
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    from smart_support.agent.chat_model import ScriptedChatModel
    from tests.apps.plain_graph import get_weather

    model = ScriptedChatModel(agent_name="a", model_name="gpt-4o", reply_for=replies_in_order([
        AIMessage("", tool_calls=[call("get_weather", {"city": "Atlantis"}, "boom-1")]),
    ]))
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([get_weather], handle_tool_errors=False))
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", "tools")
    graph = builder.compile(checkpointer=checkpointer)
    with pytest.raises(ValueError, match="unknown city"):
        graph.invoke({"messages": [("user", "weather in Atlantis?")]}, {"configurable": {"thread_id": "raised-1"}})

    steps = timeline_of(checkpoint_source, "raised-1")

    assert shape(steps)[-1] == ("tool_result", "assistant", "get_weather", "error")
    assert steps[-1].tool_call_id == "boom-1"
    assert "unknown city Atlantis" in steps[-1].content


def test_router_targets_make_node_entries_handoffs_but_not_the_entry_from_start(checkpointer, checkpoint_source):
    from langgraph.graph import END, START, MessagesState, StateGraph

    def triage(state):
        return {"messages": [AIMessage("Let me find the right team.", id="m-triage")]}

    def billing(state):
        return {"messages": [AIMessage("Billing here: your invoice is paid.", id="m-billing")]}

    builder = StateGraph(MessagesState)
    builder.add_node("triage", triage)
    builder.add_node("billing", billing)
    builder.add_edge(START, "triage")
    builder.add_edge("triage", "billing")
    builder.add_edge("billing", END)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [("user", "is my invoice paid?")]}, {"configurable": {"thread_id": "router-1"}}
    )
    rules = TimelineRules.from_settings()
    rules = TimelineRules(**{**rules.__dict__, "router_targets": frozenset({"triage", "billing"})})

    steps = timeline_of(checkpoint_source, "router-1", rules=rules)

    # the graph's start entering triage hands nothing over: no one had the conversation before
    assert shape(steps) == [
        ("user_message", None, None, None),
        ("agent_message", "triage", None, None),
        ("handoff", "billing", None, None),
        ("agent_message", "billing", None, None),
    ]
    assert steps[2].details["from_agent"] == "triage"


def test_corrupt_rows_become_unknown_steps_with_a_warning(run_reference_agent, checkpoint_db, checkpoint_source, caplog):
    plan = plan_conversation(seed=3, index=7, scenario="order_status")
    run_reference_agent(plan, STARTED_AT)
    with psycopg.connect(checkpoint_db, autocommit=True) as connection:
        connection.execute(
            "UPDATE checkpoint_writes SET blob = %s WHERE thread_id = %s AND channel = 'messages' "
            "AND task_path LIKE '%%orders_tools'",
            (b"\xc1\xff not msgpack", plan.thread_id),
        )
        connection.execute(
            "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path) "
            "SELECT thread_id, checkpoint_ns, checkpoint_id, 'made-up-task', 0, 'messages', 'mystery-format', 'x', '' "
            "FROM checkpoints WHERE thread_id = %s ORDER BY checkpoint_id DESC LIMIT 1",
            (plan.thread_id,),
        )

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = timeline_of(checkpoint_source, plan.thread_id)

    unknown = [step for step in steps if step.type == StepType.UNKNOWN]
    assert [step.details["raw_type"] for step in unknown] == ["msgpack", "mystery-format"]
    assert shape(steps)[:3] == [
        ("user_message", None, None, None),
        ("handoff", "orders", "transfer_to_orders", None),
        ("tool_call", "orders", "track_order", None),
    ]
    assert len([record for record in caplog.records if "unreadable" in record.message]) == 2


def test_langchain_create_agent_with_human_in_the_loop_middleware(checkpointer, checkpoint_source):
    from tests.apps.langchain_agent import build_langchain_agent

    agent = build_langchain_agent(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "langchain-1"}}
    agent.invoke({"messages": [("user", "email a@example.com about the refund")]}, config)
    agent.invoke(Command(resume={"decisions": [{"type": "reject", "message": "no promises by email"}]}), config)

    steps = timeline_of(checkpoint_source, "langchain-1")

    assert shape(steps) == [
        ("user_message", None, None, None),
        ("tool_call", "mailer", "lookup_customer", None),
        ("tool_call", "mailer", "send_email", None),
        ("interrupt", "mailer", None, "resolved"),
        ("interrupt_resolution", "mailer", None, "rejected"),
        # the middleware answers the rejected call itself: the reviewer's no, not a failure of the tool
        ("tool_result", "mailer", "send_email", "rejected"),
        ("tool_result", "mailer", "lookup_customer", "success"),
        ("agent_message", "mailer", None, None),
    ]
    assert steps[3].content.startswith("Tool execution requires approval")
    assert steps[4].details["reason"] == "no promises by email"
