"""The edges of the timeline builder a replay must still get right: a thread that cannot be read at all, an
occurrence that fails halfway through its steps, agents named only by the active-agent channel or a stack,
a node that raises once every tool call is answered. Real graphs, the real PostgresSaver; failures are
injected into one collaborator, as in test_corrupt_checkpoints.py."""

import logging
from dataclasses import replace
from datetime import datetime, timezone
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition

from replay.checkpoint_index import EPOCH
from replay.timeline import ReplayStep, StepType, TimelineRules, build_timeline
from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.plain_graph import get_time, get_weather
from tests.apps.routing_tools_app import update_dialog_stack
from tests.apps.supervisor_app import call
from tests.replay.damaged_threads import execute, run_weather_turns, strip_times

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)


def steps_of(source, thread_id, **reading):
    """The thread's timeline, read with the default rules changed by ``reading``."""
    rules = replace(TimelineRules.from_settings(), **reading)
    return build_timeline(source.get_thread(thread_id=thread_id), now=NOW, rules=rules)


def view(step):
    """What one row of the replay page reads."""
    return (step.type.value, step.agent, step.tool_name, step.status, step.content)


def reader_breaks(monkeypatch):
    def broken(thread, **reading):
        raise RuntimeError("reader broke")

    monkeypatch.setattr("replay.timeline.read_occurrences", broken)


def newest_checkpoint_id(conninfo, thread_id):
    ((newest,),) = execute(conninfo, "SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = %s", (thread_id,))
    return newest


# -- a thread that cannot be read at all ----------------------------------------------------------

def test_an_unreadable_thread_is_one_unknown_step_at_its_start_on_its_newest_checkpoint(
    checkpointer, checkpoint_db, checkpoint_source, monkeypatch, caplog
):
    run_weather_turns(checkpointer, "unreadable")
    thread = checkpoint_source.get_thread(thread_id="unreadable")
    reader_breaks(monkeypatch)

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = build_timeline(thread, now=NOW)

    # the page links the step to the thread's latest state, at the root graph, dated when the thread began
    assert steps == [ReplayStep(
        index=0, type=StepType.UNKNOWN, timestamp=thread.started_at, checkpoint_id=newest_checkpoint_id(checkpoint_db, "unreadable"),
        checkpoint_ns="", details={"reason": "could not read the checkpoints: RuntimeError: reader broke"},
    )]
    assert "thread unreadable: could not read its checkpoints (RuntimeError: reader broke)" in caplog.messages


def test_an_unreadable_thread_without_any_time_says_its_time_is_unknown(checkpointer, checkpoint_db, checkpoint_source, monkeypatch):
    run_weather_turns(checkpointer, "unreadable-timeless")
    strip_times(checkpoint_db, "unreadable-timeless")
    thread = checkpoint_source.get_thread(thread_id="unreadable-timeless")
    reader_breaks(monkeypatch)

    steps = build_timeline(thread, now=NOW)

    assert steps == [ReplayStep(
        index=0, type=StepType.UNKNOWN, timestamp=EPOCH, checkpoint_id=newest_checkpoint_id(checkpoint_db, "unreadable-timeless"),
        checkpoint_ns="",
        details={"reason": "could not read the checkpoints: RuntimeError: reader broke", "timestamp_unknown": True},
    )]


def test_an_unreadable_write_shows_under_the_agent_that_had_the_conversation(checkpointer, checkpoint_db, checkpoint_source):
    run_weather_turns(checkpointer, "unreadable-result")
    execute(
        checkpoint_db,
        "UPDATE checkpoint_writes SET blob = substring(blob FROM 1 FOR 5) "
        "WHERE thread_id = 'unreadable-result' AND channel = 'messages' AND task_path LIKE '%%tools'",
    )

    steps = steps_of(checkpoint_source, "unreadable-result")

    # the tools node is no agent: the assistant, whose call it answered, still has the conversation
    assert [(step.type.value, step.agent) for step in steps] == [
        ("user_message", None), ("tool_call", "assistant"), ("tool_result", "assistant"), ("unknown", "assistant"),
        ("agent_message", "assistant"),
    ]


# -- an occurrence that fails halfway -------------------------------------------------------------

@tool
def HandToSpecialist(request: str) -> str:  # noqa: N802 - named as tutorial-style apps name routing tools
    """Hand the conversation to whichever specialist the app picks."""
    return "Handing you over."


def test_a_reply_that_fails_after_opening_a_routing_leaves_no_handoff_behind(checkpointer, checkpoint_source, monkeypatch):
    """Triage's reply routes (to no named agent) and calls a tool; reading the tool call fails, so the reply
    is one unknown step — and the specialist's answer must not turn that step into a handoff."""
    from replay.message_revisions import arguments_that_ran

    builder = StateGraph(MessagesState)
    builder.add_node("triage", lambda state: {"messages": [AIMessage("", tool_calls=[
        call("HandToSpecialist", {"request": "weather"}, "hand-1"), call("get_weather", {"city": "Paris"}, "w-1"),
    ])]})
    builder.add_node("tools", ToolNode([HandToSpecialist, get_weather]))
    builder.add_node("specialist", lambda state: {"messages": [AIMessage("Specialist here: sunny all day.")]})
    builder.add_edge(START, "triage")
    builder.add_edge("triage", "tools")
    builder.add_edge("tools", "specialist")
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("weather in Paris?")]}, {"configurable": {"thread_id": "fails-after-routing"}}
    )

    def fails_on_the_weather_call(occurrence, *, call_id, proposed):
        if call_id == "w-1":
            raise RuntimeError("revision reader broke")
        return arguments_that_ran(occurrence, call_id=call_id, proposed=proposed)

    monkeypatch.setattr("replay.timeline.arguments_that_ran", fails_on_the_weather_call)
    steps = steps_of(checkpoint_source, "fails-after-routing", routing_tools=frozenset({"HandToSpecialist"}))

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "weather in Paris?"),
        ("unknown", "triage", None, None, None),
        ("tool_result", "triage", "get_weather", "success", "Sunny in Paris"),
        ("agent_message", "specialist", None, None, "Specialist here: sunny all day."),
    ]
    assert steps[1].details == {"reason": "could not replay this message: RuntimeError: revision reader broke"}


class BreaksOnTheSecondCall:
    """Stands in for the ways a rejection reaches a graph: answers for the first rejected call, then fails,
    so the resolution breaks after it has already made the first call's message its reason."""

    def __init__(self):
        self.asked = 0

    def __contains__(self, via):
        self.asked += 1
        if self.asked > 1:
            raise RuntimeError("decision reader broke")
        return via in {"update", "input"}


def test_a_rejection_that_fails_to_replay_leaves_its_messages_as_rejected_results(checkpointer, checkpoint_source, monkeypatch):
    model = ScriptedChatModel(agent_name="assistant", model_name="gpt-4o-mini", reply_for=replies_in_order([
        AIMessage("", tool_calls=[call("get_weather", {"city": "Paris"}, "w-1"), call("get_time", {"city": "Paris"}, "t-1")]),
        AIMessage("Understood, I will not look it up."),
    ]))
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([get_weather, get_time]))
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", tools_condition)
    builder.add_edge("tools", "assistant")
    graph = builder.compile(checkpointer=checkpointer, interrupt_before=["tools"])
    config = {"configurable": {"thread_id": "rejection-fails"}}
    graph.invoke({"messages": [HumanMessage("weather and time in Paris?")]}, config)
    # the reviewer rejects both calls by answering them in the tools node's place
    graph.update_state(config, {"messages": [
        ToolMessage("Denied: not needed", tool_call_id="w-1"), ToolMessage("Denied: not needed", tool_call_id="t-1"),
    ]}, as_node="tools")
    graph.invoke(None, config)
    monkeypatch.setattr("replay.approval_steps.INJECTED_BY", BreaksOnTheSecondCall())

    steps = steps_of(checkpoint_source, "rejection-fails")

    # the resolution is lost; the reviewer's messages are still there, each as its call's rejected result
    assert [view(step)[:4] for step in steps] == [
        ("user_message", None, None, None),
        ("tool_call", "assistant", "get_weather", None),
        ("tool_call", "assistant", "get_time", None),
        ("interrupt", "assistant", None, "resolved"),
        ("unknown", "assistant", None, None),
        ("tool_result", "assistant", "get_weather", "rejected"),
        ("tool_result", "assistant", "get_time", "rejected"),
        ("agent_message", "assistant", None, None),
    ]
    assert [step.content for step in steps[5:7]] == ["Denied: not needed"] * 2


# -- agents named by a channel or a stack ---------------------------------------------------------

class StackState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    dialog_state: Annotated[list[str], update_dialog_stack]


def test_an_agent_popped_off_the_stack_at_the_end_reads_as_handing_back(settings, checkpointer, checkpoint_source):
    """Billing finishes and pops itself; the turn ends before the entry agent speaks again, so no one is
    named yet as the one it handed back to."""
    # the checkpoint source reads the stack too, so it is a setting, not only a rule
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ACTIVE_AGENT_CHANNEL": "dialog_state"}
    builder = StateGraph(StackState)
    builder.add_node("triage", lambda state: {"messages": [AIMessage("Let me get billing.")]})
    builder.add_node("enter_billing", lambda state: {"dialog_state": "billing"})
    builder.add_node("billing", lambda state: {"messages": [AIMessage("Your invoice is paid.")]})
    builder.add_node("leave_billing", lambda state: {"dialog_state": "pop"})
    for source, target in [(START, "triage"), ("triage", "enter_billing"), ("enter_billing", "billing"), ("billing", "leave_billing")]:
        builder.add_edge(source, target)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("is my invoice paid?")]}, {"configurable": {"thread_id": "popped-at-the-end"}}
    )

    steps = steps_of(checkpoint_source, "popped-at-the-end")

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "is my invoice paid?"),
        ("agent_message", "triage", None, None, "Let me get billing."),
        ("handoff", "billing", None, None, "triage → billing"),
        ("agent_message", "billing", None, None, "Your invoice is paid."),
        ("handoff", None, None, None, "billing → …"),
    ]
    assert steps[-1].details == {"from_agent": "billing", "via": "dialog_state"}


class ChannelState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    active_agent: str


@tool
def CompleteOrEscalate(reason: str) -> str:  # noqa: N802 - the customer-support tutorial's name
    """Hand the conversation back to the entry agent."""
    return "Handing back."


def test_a_routing_that_names_no_agent_goes_to_the_next_agent_the_channel_names_not_back_to_the_caller(
    checkpointer, checkpoint_source
):
    """Billing hands back with a tool that names no agent. The channel still names billing while the tool
    runs; only the next agent it names (triage) is the one billing handed over to."""
    builder = StateGraph(ChannelState)
    builder.add_node("billing", lambda state: {
        "active_agent": "billing",
        "messages": [AIMessage("", tool_calls=[call("CompleteOrEscalate", {"reason": "paid"}, "ce-1")])],
    })
    builder.add_node("tools", ToolNode([CompleteOrEscalate]))
    builder.add_node("leave_billing", lambda state: {"active_agent": "triage"})
    builder.add_node("triage", lambda state: {"messages": [AIMessage("Anything else?")]})
    for source, target in [(START, "billing"), ("billing", "tools"), ("tools", "leave_billing"), ("leave_billing", "triage")]:
        builder.add_edge(source, target)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("is my invoice paid?")]}, {"configurable": {"thread_id": "hands-back"}}
    )

    steps = steps_of(checkpoint_source, "hands-back", routing_tools=frozenset({"CompleteOrEscalate"}))

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "is my invoice paid?"),
        ("handoff", "triage", "CompleteOrEscalate", None, "billing → triage"),
        ("agent_message", "triage", None, None, "Anything else?"),
    ]


def test_a_handoff_the_channel_makes_before_anyone_replies_is_shown(checkpointer, checkpoint_source):
    """Reception gives the customer to triage, whose keyword rules send them on to billing: no LLM has
    replied yet, and the replay still shows triage handing over to billing."""
    builder = StateGraph(ChannelState)
    builder.add_node("reception", lambda state: {"active_agent": "triage"})
    builder.add_node("triage_rules", lambda state: {"active_agent": "billing"})
    builder.add_node("billing", lambda state: {"messages": [AIMessage("Billing here: your invoice is paid.")]})
    for source, target in [(START, "reception"), ("reception", "triage_rules"), ("triage_rules", "billing")]:
        builder.add_edge(source, target)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("invoice?")]}, {"configurable": {"thread_id": "handed-before-replies"}}
    )

    steps = steps_of(checkpoint_source, "handed-before-replies")

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "invoice?"),
        ("handoff", "billing", None, None, "triage → billing"),
        ("agent_message", "billing", None, None, "Billing here: your invoice is paid."),
    ]


def test_a_node_that_answers_its_own_routing_call_is_not_the_agent_it_hands_to(checkpointer, checkpoint_source):
    """Billing writes its hand-back call and the tool message answering it in one update (as
    langgraph-supervisor's hand-back messages come); triage, the next node entered, is the target."""
    builder = StateGraph(MessagesState)
    builder.add_node("billing", lambda state: {"messages": [
        AIMessage("", tool_calls=[call("CompleteOrEscalate", {"reason": "paid"}, "ce-1")]),
        ToolMessage("Handing back.", tool_call_id="ce-1", name="CompleteOrEscalate"),
    ]})
    builder.add_node("triage", lambda state: {"messages": [AIMessage("Anything else?")]})
    builder.add_edge(START, "billing")
    builder.add_edge("billing", "triage")
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("is my invoice paid?")]}, {"configurable": {"thread_id": "answers-own-routing"}}
    )

    steps = steps_of(
        checkpoint_source, "answers-own-routing",
        routing_tools=frozenset({"CompleteOrEscalate"}), router_targets=frozenset({"billing", "triage"}),
    )

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "is my invoice paid?"),
        ("handoff", "triage", "CompleteOrEscalate", None, "billing → triage"),
        ("agent_message", "triage", None, None, "Anything else?"),
    ]


def test_of_two_routings_in_one_reply_the_one_the_entry_node_answered_is_followed(checkpointer, checkpoint_source):
    """Triage routes twice; the app's entry node answers the second call, so shipping has the conversation
    and the first routing was never acted on."""
    builder = StateGraph(MessagesState)
    builder.add_node("triage", lambda state: {"messages": [AIMessage("", tool_calls=[
        call("ToBilling", {"request": "refund"}, "rb"), call("ToShipping", {"request": "where is my parcel"}, "rs"),
    ])]})
    builder.add_node("enter_shipping", lambda state: {"messages": [ToolMessage("Shipping has the conversation.", tool_call_id="rs")]})
    builder.add_node("shipping", lambda state: {"messages": [AIMessage("Your parcel arrives on Friday.")]})
    for source, target in [(START, "triage"), ("triage", "enter_shipping"), ("enter_shipping", "shipping")]:
        builder.add_edge(source, target)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("refund, and where is my parcel?")]}, {"configurable": {"thread_id": "second-routing-followed"}}
    )

    steps = steps_of(checkpoint_source, "second-routing-followed", routing_tools=frozenset({"ToBilling", "ToShipping"}))

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "refund, and where is my parcel?"),
        ("handoff", None, "ToBilling", None, "ToBilling (not followed)"),
        ("handoff", "shipping", "ToShipping", None, "triage → shipping"),
        ("agent_message", "shipping", None, None, "Your parcel arrives on Friday."),
    ]


@tool
def transfer_to_billing_returns() -> str:
    """Hand the conversation to Billing & Returns."""
    return "Transferred."


def test_a_transfer_tool_hands_over_to_the_agent_as_the_graph_spells_its_name(checkpointer, checkpoint_source):
    """``transfer_to_billing_returns`` is how a tool name can spell "Billing & Returns": the replay names the
    agent as it signs its replies, so both rows read as one agent."""
    builder = StateGraph(MessagesState)
    builder.add_node("triage", lambda state: {"messages": [
        AIMessage("", tool_calls=[call("transfer_to_billing_returns", {}, "tr-1")]),
    ]})
    builder.add_node("tools", ToolNode([transfer_to_billing_returns]))
    builder.add_node("billing", lambda state: {"messages": [AIMessage("Your refund is on its way.", name="Billing & Returns")]})
    for source, target in [(START, "triage"), ("triage", "tools"), ("tools", "billing")]:
        builder.add_edge(source, target)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("refund please")]}, {"configurable": {"thread_id": "spelled-by-the-graph"}}
    )

    steps = steps_of(checkpoint_source, "spelled-by-the-graph")

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "refund please"),
        ("handoff", "Billing & Returns", "transfer_to_billing_returns", None, "triage → Billing & Returns"),
        ("agent_message", "Billing & Returns", None, None, "Your refund is on its way."),
    ]


def test_a_handoff_from_an_agent_the_checkpoints_do_not_name_reads_from_agent(checkpointer, checkpoint_source):
    """Run with durability="exit", no write names the node that routed, and its reply carries no name."""
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [
        AIMessage("", tool_calls=[call("CompleteOrEscalate", {"reason": "billing question"}, "ce-1")]),
    ]})
    builder.add_node("tools", ToolNode([CompleteOrEscalate]))
    builder.add_node("billing", lambda state: {"messages": [AIMessage("Billing here.", name="billing")]})
    for source, target in [(START, "assistant"), ("assistant", "tools"), ("tools", "billing")]:
        builder.add_edge(source, target)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("a billing question")]}, {"configurable": {"thread_id": "unnamed-caller"}}, durability="exit"
    )

    steps = steps_of(checkpoint_source, "unnamed-caller", routing_tools=frozenset({"CompleteOrEscalate"}))

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "a billing question"),
        ("handoff", "billing", "CompleteOrEscalate", None, "agent → billing"),
        ("agent_message", "billing", None, None, "Billing here."),
    ]


# -- a node that raises ---------------------------------------------------------------------------

def test_a_node_that_raises_after_every_tool_call_was_answered_is_one_error_step(checkpointer, checkpoint_source):
    model = ScriptedChatModel(agent_name="assistant", model_name="gpt-4o-mini", reply_for=replies_in_order([
        AIMessage("", tool_calls=[call("get_weather", {"city": "Paris"}, "w-1")]),
        AIMessage("Sunny in Paris."),
    ]))

    def crm_update(state):
        raise RuntimeError("CRM timed out")

    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([get_weather]))
    builder.add_node("crm_update", crm_update)
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", tools_condition, {"tools": "tools", END: "crm_update"})
    builder.add_edge("tools", "assistant")
    with pytest.raises(RuntimeError, match="CRM timed out"):
        builder.compile(checkpointer=checkpointer).invoke(
            {"messages": [HumanMessage("weather in Paris?")]}, {"configurable": {"thread_id": "raised-after-answers"}}
        )

    steps = steps_of(checkpoint_source, "raised-after-answers")

    # the weather call had its answer: the error is the node's, not a second result of that call
    assert [view(step)[:4] for step in steps] == [
        ("user_message", None, None, None),
        ("tool_call", "assistant", "get_weather", None),
        ("tool_result", "assistant", "get_weather", "success"),
        ("agent_message", "assistant", None, None),
        ("unknown", "crm_update", None, "error"),
    ]
    assert (steps[-1].details["kind"], steps[-1].details["node"]) == ("node_error", "crm_update")


# -- tool results ----------------------------------------------------------------------------------

def test_a_tool_result_answering_a_call_no_reply_made_is_still_a_result(checkpointer, checkpoint_source):
    """The app posts a background job's outcome as a tool message under the job's id: no model call
    had that id, and the replay still shows the result, under the agent that had the conversation."""
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [AIMessage("I have started the refund job.")]})
    builder.add_node("tools", lambda state: {"messages": [ToolMessage("Refund job finished: 20 EUR returned.", tool_call_id="job-7")]})
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", "tools")
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("refund my order")]}, {"configurable": {"thread_id": "result-without-call"}}
    )

    steps = steps_of(checkpoint_source, "result-without-call")

    assert [view(step) for step in steps] == [
        ("user_message", None, None, None, "refund my order"),
        ("agent_message", "assistant", None, None, "I have started the refund job."),
        ("tool_result", "assistant", None, "success", "Refund job finished: 20 EUR returned."),
    ]
    assert steps[-1].tool_call_id == "job-7"


def test_a_call_id_two_agents_reuse_gives_each_agent_its_own_result(checkpointer, checkpoint_source):
    """Each agent's model numbers its calls from one, so billing and then shipping both call ``call_1``."""
    builder = StateGraph(MessagesState)
    builder.add_node("billing", lambda state: {"messages": [AIMessage("", tool_calls=[call("get_weather", {"city": "Paris"}, "call_1")])]})
    builder.add_node("billing_tools", ToolNode([get_weather]))
    builder.add_node("shipping", lambda state: {"messages": [AIMessage("", tool_calls=[call("get_time", {"city": "Oslo"}, "call_1")])]})
    builder.add_node("shipping_tools", ToolNode([get_time]))
    for source, target in [(START, "billing"), ("billing", "billing_tools"), ("billing_tools", "shipping"), ("shipping", "shipping_tools")]:
        builder.add_edge(source, target)
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("weather in Paris, time in Oslo?")]}, {"configurable": {"thread_id": "id-reused-by-two-agents"}}
    )

    steps = steps_of(checkpoint_source, "id-reused-by-two-agents")

    assert [view(step)[:4] for step in steps] == [
        ("user_message", None, None, None),
        ("tool_call", "billing", "get_weather", None),
        ("tool_result", "billing", "get_weather", "success"),
        ("tool_call", "shipping", "get_time", None),
        ("tool_result", "shipping", "get_time", "success"),
    ]


@tool(response_format="content_and_artifact")
def find_order(order_id: str) -> tuple[str, dict]:
    """Look an order up; the raw record comes back as the artifact."""
    return f"Order {order_id} has shipped.", {"order_id": order_id, "carrier": "DHL", "parcels": 2}


def test_a_tool_results_artifact_is_kept_on_its_step(checkpointer, checkpoint_source):
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [AIMessage("", tool_calls=[call("find_order", {"order_id": "A-17"}, "o-1")])]})
    builder.add_node("tools", ToolNode([find_order]))
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", "tools")
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("where is order A-17?")]}, {"configurable": {"thread_id": "with-artifact"}}
    )

    result = steps_of(checkpoint_source, "with-artifact")[-1]

    assert (result.type, result.content) == (StepType.TOOL_RESULT, "Order A-17 has shipped.")
    assert result.details == {"message_id": result.details["message_id"], "artifact": {"order_id": "A-17", "carrier": "DHL", "parcels": 2}}


@tool
def order_status(order_id: str) -> str:
    """Look an order up; text only."""
    return f"Order {order_id} is packed."


def test_a_tool_result_without_an_artifact_shows_no_artifact(checkpointer, checkpoint_source):
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [AIMessage("", tool_calls=[call("order_status", {"order_id": "B-2"}, "o-2")])]})
    builder.add_node("tools", ToolNode([order_status]))
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", "tools")
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [HumanMessage("and order B-2?")]}, {"configurable": {"thread_id": "without-artifact"}}
    )

    result = steps_of(checkpoint_source, "without-artifact")[-1]

    assert (result.type, result.content) == (StepType.TOOL_RESULT, "Order B-2 is packed.")
    assert result.details == {"message_id": result.details["message_id"]}


def test_when_structured_answers_cannot_be_told_their_calls_read_as_tool_calls_and_a_warning_says_why(
    checkpointer, checkpoint_source, monkeypatch, caplog
):
    run_weather_turns(checkpointer, "no-structured")

    def broken(writes):
        raise RuntimeError("writes unreadable")

    monkeypatch.setattr("replay.timeline.structured_answer_calls", broken)
    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = steps_of(checkpoint_source, "no-structured")

    assert [step.type.value for step in steps] == ["user_message", "tool_call", "tool_result", "agent_message"]
    assert "thread no-structured: could not tell structured answers (RuntimeError: writes unreadable)" in caplog.messages
