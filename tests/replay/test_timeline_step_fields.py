"""What each step of an LLM reply carries, field by field: an escalation's reason, arguments and call id; a
handoff's arguments and the agent it names; which replies are flagged as unpriced; a structured answer's
text; which unanswered call is the agent's decision when a later one awaits approval; an error after a
handoff. Real graphs through the real PostgresSaver, each reply scripted."""

import contextlib
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, TypedDict

import time_machine
from langchain_core.messages import AIMessage, AnyMessage, ChatMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from replay.timeline import ModelPricing, StepType, build_timeline
from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.supervisor_app import call

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
PRICES = {"gpt-4o": ModelPricing(Decimal("2.50"), Decimal("10.00"))}


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    structured_response: dict
    active_agent: str  # as langgraph-swarm names the agent that has the conversation


def reply(text="", *, calls=(), model=None, tokens=None, name=None, message_id=None, cache_read=None):
    """An LLM reply as a provider's integration stores it: its model in response_metadata, tokens in usage_metadata."""
    usage = None
    if tokens is not None:
        usage = {"input_tokens": tokens[0], "output_tokens": tokens[1], "total_tokens": sum(tokens)}
        if cache_read is not None:
            usage["input_token_details"] = {"cache_read": cache_read}
    return AIMessage(
        text, tool_calls=list(calls), name=name, id=message_id, usage_metadata=usage,
        response_metadata={"model_name": model} if model else {},
    )


def run_turns(checkpointer, thread_id, turns, *, node="assistant", then=None, times=None):
    """One user turn per item of ``turns``: the node ``node`` writes that item's update (messages, or a dict);
    ``then`` is a second node run after it (which may raise); ``times``: when each turn starts."""
    updates = iter(turns)

    def answer(state):
        update = next(updates)
        return update if isinstance(update, dict) else {"messages": update}

    builder = StateGraph(State)
    builder.add_node(node, answer)
    builder.add_edge(START, node)
    if then is None:
        builder.add_edge(node, END)
    else:
        builder.add_node(then.__name__, then)
        builder.add_edge(node, then.__name__)
        builder.add_edge(then.__name__, END)
    graph = builder.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread_id}}
    for number in range(len(turns)):
        with time_machine.travel(times[number], tick=True) if times else contextlib.nullcontext():
            try:
                graph.invoke({"messages": [HumanMessage(f"question {number}")]}, config)
            except RuntimeError:
                pass  # the node's failure is stored in the thread, which is what the test reads
    return graph, config


def steps_of(source, thread_id, **kwargs):
    return build_timeline(source.get_thread(thread_id=thread_id), now=NOW, **kwargs)


def the_one(steps, step_type):
    (found,) = [step for step in steps if step.type == step_type]
    return found


# -- escalations ---------------------------------------------------------------------------------

def test_an_escalation_shows_the_reason_the_agent_gave_with_its_arguments_and_call_id(checkpointer, checkpoint_source):
    arguments = {"reason": "Customer asks for a manager", "order_id": "1001"}
    run_turns(checkpointer, "escalation-with-reason", [[
        reply(calls=[call("escalate_to_human", arguments, "esc-1")]),
        ToolMessage("A colleague will call you back.", tool_call_id="esc-1", name="escalate_to_human"),
    ]])

    escalation = the_one(steps_of(checkpoint_source, "escalation-with-reason"), StepType.ESCALATION)

    assert (escalation.agent, escalation.tool_name, escalation.tool_call_id, escalation.tool_args, escalation.content) == (
        "assistant", "escalate_to_human", "esc-1", arguments, "Customer asks for a manager",
    )


def test_an_escalation_without_a_reason_has_no_text(checkpointer, checkpoint_source):
    run_turns(checkpointer, "escalation-without-reason", [[reply(calls=[call("escalate_to_human", {}, "esc-2")])]])

    escalation = the_one(steps_of(checkpoint_source, "escalation-without-reason"), StepType.ESCALATION)

    assert (escalation.tool_call_id, escalation.tool_args, escalation.content) == ("esc-2", {}, None)


# -- handoffs by tool --------------------------------------------------------------------------------

def billing(state):
    raise RuntimeError("billing is down")


def test_a_handoff_from_a_reply_no_agent_made_names_its_target_and_keeps_its_arguments(checkpointer, checkpoint_source):
    """create_agent's loop node "model" is no agent; the billing node then fails: that is the node's error,
    not the result of the routing call, which no tool answers."""
    run_turns(
        checkpointer, "handoff-from-model",
        [[reply(calls=[call("transfer_to_billing", {"note": "refund for order 1001"}, "h-1")])]], node="model", then=billing,
    )

    steps = steps_of(checkpoint_source, "handoff-from-model")

    assert [(step.type.value, step.agent, step.status) for step in steps] == [
        ("user_message", None, None), ("handoff", "billing", None), ("unknown", "billing", "error"),
    ]
    handoff = steps[1]
    assert (handoff.tool_call_id, handoff.tool_args, handoff.content) == (
        "h-1", {"note": "refund for order 1001"}, "agent → billing",
    )
    assert handoff.details["from_agent"] is None
    assert steps[2].details["kind"] == "node_error" and "billing is down" in steps[2].content


def test_a_handoff_names_the_agent_as_the_graph_spells_it(checkpointer, checkpoint_source):
    run_turns(checkpointer, "handoff-spelled", [
        [reply(calls=[call("transfer_to_billing_team", {}, "h-2")], name="triage"),
         ToolMessage("Transferred.", tool_call_id="h-2", name="transfer_to_billing_team")],
        [reply("Your refund is on its way.", name="Billing-Team")],
    ])

    handoff = the_one(steps_of(checkpoint_source, "handoff-spelled"), StepType.HANDOFF)

    assert (handoff.agent, handoff.content) == ("Billing-Team", "triage → Billing-Team")


def test_a_handoff_names_the_agent_as_the_active_agent_channel_spells_it(checkpointer, checkpoint_source):
    """No reply is signed: only the channel that tracks the active agent (set by the handoff tool, as in
    langgraph-swarm) spells the target's name."""
    transfers = iter([True, False])

    def tools(state):
        if next(transfers):
            return {
                "messages": [ToolMessage("Transferred.", tool_call_id="h-3", name="transfer_to_billing_team")],
                "active_agent": "Billing-Team",
            }
        return {}

    run_turns(checkpointer, "handoff-by-channel", [
        [reply(calls=[call("transfer_to_billing_team", {}, "h-3")])], [reply("Your refund is on its way.")],
    ], then=tools)

    steps = steps_of(checkpoint_source, "handoff-by-channel")

    assert [(step.agent, step.content) for step in steps if step.type == StepType.HANDOFF] == [
        ("Billing-Team", "assistant → Billing-Team"),
    ]


# -- unpriced replies ------------------------------------------------------------------------------

def test_only_replies_with_tokens_of_a_model_without_a_price_are_flagged_unpriced(checkpointer, checkpoint_source):
    run_turns(checkpointer, "unpriced-flags", [
        [reply("priced", model="gpt-4o", tokens=(10, 5))],
        [reply("output only", model="mystery-1", tokens=(0, 7))],
        [reply("input only", model="mystery-1", tokens=(12, 0))],
        [reply("no tokens", model="mystery-1", tokens=(0, 0))],
    ])

    steps = steps_of(checkpoint_source, "unpriced-flags", price_lookup=lambda model, at: PRICES.get(model))

    answers = [step for step in steps if step.type == StepType.AGENT_MESSAGE]
    assert [(step.content, step.cost_usd, step.details.get("unpriced_model", False)) for step in answers] == [
        ("priced", Decimal("0.000075"), False),
        ("output only", None, True),
        ("input only", None, True),
        ("no tokens", None, False),
    ]


def test_a_reply_with_text_and_calls_carries_its_usage_once(checkpointer, checkpoint_source):
    run_turns(checkpointer, "usage-once", [[reply(
        "Let me check both.", model="mystery-1", tokens=(40, 9),
        calls=[call("lookup_order", {"order_id": "1"}, "c-1"), call("lookup_order", {"order_id": "2"}, "c-2")],
    )]])

    steps = steps_of(checkpoint_source, "usage-once")

    assert [(step.type.value, step.input_tokens, step.details.get("unpriced_model", False)) for step in steps[1:]] == [
        ("agent_message", 40, True), ("tool_call", None, False), ("tool_call", None, False),
    ]


def test_a_cached_prompts_saving_is_on_its_replys_step(checkpointer, checkpoint_source):
    prices = {"gpt-4o": ModelPricing(Decimal("2.50"), Decimal("10.00"), cache_read_usd_per_million=Decimal("1.25"))}
    run_turns(checkpointer, "cached-prompt", [[reply("Hello again.", model="gpt-4o", tokens=(1000, 100), cache_read=800)]])

    answer = the_one(steps_of(checkpoint_source, "cached-prompt", price_lookup=lambda model, at: prices.get(model)),
                     StepType.AGENT_MESSAGE)

    # 200 uncached x 2.50 + 800 cached x 1.25 + 100 out x 10.00 per million; the 800 saved 1.25 each
    assert (answer.cache_read_tokens, answer.cost_usd, answer.cache_savings_usd) == (
        800, Decimal("0.00250000"), Decimal("0.00100000"),
    )


def test_a_reply_with_text_and_a_call_but_no_usage_shows_both(checkpointer, checkpoint_source):
    """A hand-written node's reply: no model, no tokens; its words are still said and its call still made."""
    run_turns(checkpointer, "text-and-call", [[
        reply("Let me look that up.", calls=[call("lookup_order", {"order_id": "7"}, "c-7")], message_id="ai-7"),
    ]])

    steps = steps_of(checkpoint_source, "text-and-call")

    assert [(step.type.value, step.content, step.tool_call_id, step.details) for step in steps[1:]] == [
        ("agent_message", "Let me look that up.", None, {"message_id": "ai-7"}),
        ("tool_call", None, "c-7", {"message_id": "ai-7", "decision": True}),
    ]


# -- structured answers ----------------------------------------------------------------------------

def test_a_structured_answer_after_text_reads_as_written_with_its_details(checkpointer, checkpoint_source):
    """create_agent's ToolStrategy: the answer's call and its receipt are written by one task together with
    structured_response; the reply's text comes first and carries the usage."""
    answer = {"summary": "Remboursement accepté", "requested_at": datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)}
    run_turns(checkpointer, "structured-after-text", [{
        "messages": [
            reply(
                "Voilà.", calls=[call("Verdict", answer, "s-1"), call("notify_customer", {"order_id": "1001"}, "n-1")],
                model="mystery-1", tokens=(30, 8), message_id="ai-s",
            ),
            ToolMessage("Returning structured response", tool_call_id="s-1", name="Verdict"),
        ],
        "structured_response": {"summary": "Remboursement accepté"},
    }])

    steps = steps_of(checkpoint_source, "structured-after-text")

    text, structured = [step for step in steps if step.type == StepType.AGENT_MESSAGE]
    assert (text.content, text.input_tokens, text.details) == ("Voilà.", 30, {"message_id": "ai-s", "unpriced_model": True})
    assert structured.agent == text.agent == "assistant"
    assert structured.content == '{"summary": "Remboursement accepté", "requested_at": "2026-11-10 09:30:00+00:00"}'
    assert structured.input_tokens is None
    assert structured.details == {
        "message_id": "ai-s", "tool_call_id": "s-1", "structured_response": "Verdict", "answer": answer,
    }
    assert StepType.TOOL_RESULT not in {step.type for step in steps}
    assert the_one(steps, StepType.TOOL_CALL).tool_call_id == "n-1"  # a call beside the answer is still made


# -- which reply an approval is about --------------------------------------------------------------

def test_an_approval_is_about_the_latest_reply_and_an_older_unanswered_call_is_a_decision(checkpointer, checkpoint_source):
    """An earlier reply's call nothing answered (a ``Done``-style marker) stays the agent's decision; the
    approval the graph asks for two turns later is about the latest reply's call only."""
    turns = [
        # a hand-written node's reply as a dict: its write keeps no id, whatever add_messages gives the state
        [{"role": "assistant", "content": "", "tool_calls": [call("Done", {"done": True}, "d-1")]}],
        [reply("Noted.")],
        [reply(calls=[call("issue_refund", {"order_id": "1001"}, "r-1")], message_id="ai-refund")],
    ]
    asked = iter([False, False, True])

    def approve(state):
        if next(asked):
            interrupt("Approve the refund?")

    run_turns(checkpointer, "approval-latest", turns, then=approve)

    steps = steps_of(checkpoint_source, "approval-latest")

    calls = {step.tool_call_id: step.details.get("decision", False) for step in steps if step.type == StepType.TOOL_CALL}
    assert calls == {"d-1": True, "r-1": False}
    assert the_one(steps, StepType.INTERRUPT).status == "pending"



def test_an_approval_in_one_branchs_subgraph_is_about_its_own_call_not_a_later_one_of_a_parallel_branch(
    checkpointer, checkpoint_source
):
    """Two agents run as parallel subgraphs: refunds proposes a refund, then (after a slow check) asks for
    approval; meanwhile orders proposes a lookup nothing answers. The reviewer's rejection is about the
    refund, the later lookup of the other branch stays orders' own decision."""

    def propose_refund(state):
        return {"messages": [reply(calls=[call("issue_refund", {"order_id": "1001"}, "r-1")], name="refunds")]}

    def slow_check(state):
        time.sleep(0.3)  # the orders branch replies meanwhile
        return {}

    def ask_approval(state):
        answer = interrupt("Approve the refund?")
        return {"messages": [ToolMessage("refunded" if answer == "yes" else "not refunded", tool_call_id="r-1")]}

    def propose_lookup(state):
        time.sleep(0.1)
        return {"messages": [reply(calls=[call("lookup_order", {"order_id": "1001"}, "l-1")], name="orders")]}

    def subgraph(*nodes):
        builder = StateGraph(State)
        previous = START
        for node in nodes:
            builder.add_node(node.__name__, node)
            builder.add_edge(previous, node.__name__)
            previous = node.__name__
        builder.add_edge(previous, END)
        return builder.compile()

    builder = StateGraph(State)
    builder.add_node("refunds", subgraph(propose_refund, slow_check, ask_approval))
    builder.add_node("orders", subgraph(propose_lookup))
    for branch in ("refunds", "orders"):
        builder.add_edge(START, branch)
        builder.add_edge(branch, END)
    graph = builder.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "parallel-approval"}}
    graph.invoke({"messages": [HumanMessage("refund order 1001")]}, config)
    paused = steps_of(checkpoint_source, "parallel-approval")
    graph.invoke(Command(resume="no"), config)

    steps = steps_of(checkpoint_source, "parallel-approval")

    for read in (paused, steps):  # the lookup came between the refund and its approval, before and after it
        calls = [(step.agent, step.tool_call_id, step.checkpoint_ns.split(":")[0]) for step in read if step.type == StepType.TOOL_CALL]
        assert calls == [("refunds", "r-1", "refunds"), ("orders", "l-1", "orders")]
        assert not [step for step in read if step.type == StepType.UNKNOWN]
    results = {step.tool_call_id: step.status for step in steps if step.type == StepType.TOOL_RESULT}
    assert results == {"r-1": "rejected"}
    decisions = {step.tool_call_id for step in steps if step.type == StepType.TOOL_CALL and step.details.get("decision")}
    assert decisions == {"l-1"}


def test_a_tool_that_finished_beside_one_awaiting_approval_answers_its_call_after_it(checkpointer, checkpoint_source):
    """create_agent runs two calls of one reply as parallel tasks; the refund's tool asks for approval
    inside it while the lookup has finished. Paused there, the lookup's result (a write of the step still
    in progress) follows its call and the call is no decision of the agent; after the rejection, too."""
    from langchain_core.tools import tool

    from tests.apps.langchain_agent import create_agent

    @tool
    def lookup_order(order_id: str) -> str:
        """Look up an order."""
        return f"order {order_id}: shipped"

    @tool
    def issue_refund(order_id: str) -> str:
        """Refund an order once a reviewer approves."""
        return "refunded" if interrupt({"action": "issue_refund", "order_id": order_id}) == "yes" else "not refunded"

    model = ScriptedChatModel(agent_name="support", model_name="gpt-4o", reply_for=replies_in_order([
        AIMessage("", tool_calls=[call("lookup_order", {"order_id": "1001"}, "c-1"), call("issue_refund", {"order_id": "1001"}, "c-2")]),
        AIMessage("Order 1001 has shipped; the refund was not approved."),
    ]))
    agent = create_agent(model, tools=[lookup_order, issue_refund], checkpointer=checkpointer, name="support")
    config = {"configurable": {"thread_id": "tool-beside-approval"}}
    agent.invoke({"messages": [HumanMessage("refund order 1001")]}, config)
    paused = steps_of(checkpoint_source, "tool-beside-approval")
    agent.invoke(Command(resume="no"), config)
    resumed = steps_of(checkpoint_source, "tool-beside-approval")

    for steps in (paused, resumed):
        calls = [step for step in steps if step.type in (StepType.TOOL_CALL, StepType.TOOL_RESULT) and step.tool_call_id == "c-1"]
        assert [(step.type, step.agent, step.details.get("decision", False)) for step in calls] == [
            (StepType.TOOL_CALL, "support", False), (StepType.TOOL_RESULT, "support", False),
        ]
    assert {step.tool_call_id: step.status for step in resumed if step.type == StepType.TOOL_RESULT} == {
        "c-1": "success", "c-2": "rejected",
    }

# -- tool results ----------------------------------------------------------------------------------

def test_a_call_whose_tool_failed_and_then_ran_on_retry_shows_both_under_its_tool_and_agent(
    checkpointer, checkpoint_source
):
    """The tools node raised (the call's result is that error); the app retried the step, which answered it
    with a result that names no tool: it is still that call's tool and agent."""
    attempts = iter([RuntimeError("warehouse API unreachable"), None])

    def tools(state):
        failure = next(attempts)
        if failure is not None:
            raise failure
        return {"messages": [ToolMessage("order 1001: shipped", tool_call_id="c-1")]}

    graph, config = run_turns(
        checkpointer, "retried-tool", [[reply(calls=[call("lookup_order", {"order_id": "1001"}, "c-1")])]],
        node="billing", then=tools,
    )
    graph.invoke(None, config)  # the retry of the failed step

    steps = steps_of(checkpoint_source, "retried-tool")

    assert [(step.type.value, step.agent, step.tool_name, step.status, step.content) for step in steps[1:]] == [
        ("tool_call", "billing", "lookup_order", None, None),
        ("tool_result", "billing", "lookup_order", "error", "RuntimeError('warehouse API unreachable')"),
        ("tool_result", "billing", "lookup_order", "success", "order 1001: shipped"),
    ]


def test_a_routing_tools_answer_whose_call_was_trimmed_away_is_no_tool_result(checkpointer, checkpoint_source):
    """History trimmed before it was saved: the handoff's receipt is there, the call that made it is not."""
    run_turns(checkpointer, "receipt-without-call", [[
        ToolMessage("Successfully transferred to billing", tool_call_id="gone-1", name="transfer_to_billing"),
        reply("Billing here: how can I help?", name="billing"),
    ]])

    steps = steps_of(checkpoint_source, "receipt-without-call")

    assert [(step.type.value, step.agent) for step in steps] == [("user_message", None), ("agent_message", "billing")]


# -- time between steps, and messages of no known kind --------------------------------------------------

def test_each_steps_latency_is_the_milliseconds_since_the_step_before(checkpointer, checkpoint_source):
    first = NOW - timedelta(minutes=5)
    run_turns(
        checkpointer, "latencies", [[reply("answer 0")], [reply("answer 1")]], times=[first, first + timedelta(seconds=90)]
    )

    steps = steps_of(checkpoint_source, "latencies")

    assert steps[0].latency_ms is None
    assert all(
        step.latency_ms == round((step.timestamp - previous.timestamp).total_seconds() * 1000)
        for previous, step in zip(steps, steps[1:])
    )
    assert 89_000 < steps[2].latency_ms <= 90_000  # the customer wrote again a minute and a half after the first


def test_a_message_of_no_known_kind_is_an_unknown_step_with_its_text_and_class(checkpointer, checkpoint_source):
    run_turns(checkpointer, "chat-message", [[ChatMessage("Looks fine to me.", role="critic", id="critic-1")]])

    unknown = the_one(steps_of(checkpoint_source, "chat-message"), StepType.UNKNOWN)

    assert (unknown.content, unknown.details) == ("Looks fine to me.", {"raw_type": "ChatMessage", "message_id": "critic-1"})


def test_two_agents_calls_under_one_call_id_are_two_calls_when_the_first_reply_has_no_id(checkpointer, checkpoint_source):
    """Each agent's model numbers its calls from one; the first reply, a hand-written node's dict, is stored
    without an id: it is not a copy of the second, which calls another tool under the same id."""
    run_turns(checkpointer, "one-id-two-agents", [
        [{"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Paris"}, "call_1")]}],
        [reply(calls=[call("get_time", {"city": "Oslo"}, "call_1")], message_id="ai-time")],
    ])

    steps = steps_of(checkpoint_source, "one-id-two-agents")

    assert [(step.tool_name, step.tool_args) for step in steps if step.type == StepType.TOOL_CALL] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Oslo"}),
    ]
