"""Whole steps as the replay page shows them (content line, status, details), for the cases whose
shape alone does not tell a wrong reading: node-to-node handoffs, a node that raised, a tool that raised."""

from datetime import datetime, timedelta, timezone

import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from replay.timeline import TimelineRules, build_timeline
from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.plain_graph import get_weather
from tests.apps.supervisor_app import call

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


def steps_of(source, thread_id, rules=None):
    return build_timeline(source.get_thread(thread_id=thread_id), now=STARTED_AT + timedelta(hours=1), rules=rules)


def view(step):
    """What one row of the replay page reads."""
    return {"type": step.type.value, "agent": step.agent, "tool": step.tool_name, "status": step.status, "content": step.content}


def with_router_targets(*nodes):
    rules = TimelineRules.from_settings()
    return TimelineRules(**{**rules.__dict__, "router_targets": frozenset(nodes)})


def triage_and_billing(checkpointer, thread_id, *, billing=None):
    """Triage hands the customer to billing, which hands them back: two node-to-node handoffs. Each node
    replies with the next of three lines; ``billing``: a graph of its own to run as the billing node, given
    the node that replies."""
    answers = iter(["Let me find the right team.", "Billing here: your invoice is paid.", "Anything else?"])

    def reply(state):
        return {"messages": [AIMessage(next(answers))]}

    builder = StateGraph(MessagesState)
    builder.add_node("triage", reply)
    builder.add_node("billing", billing(reply) if billing else reply)
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", lambda state: "billing" if len(state["messages"]) < 3 else END, ["billing", END])
    builder.add_edge("billing", "triage")
    builder.compile(checkpointer=checkpointer).invoke(
        {"messages": [("user", "is my invoice paid?")]}, {"configurable": {"thread_id": thread_id}}
    )
    return thread_id


@pytest.fixture
def triage_billing_triage(checkpointer):
    return triage_and_billing(checkpointer, "router-both-ways")


def test_a_node_to_node_handoff_reads_who_handed_over_to_whom(triage_billing_triage, checkpoint_source):
    steps = steps_of(checkpoint_source, triage_billing_triage, with_router_targets("triage", "billing"))

    handoffs = [(view(step)["content"], step.agent, step.details) for step in steps if step.type.value == "handoff"]
    assert handoffs == [
        ("triage → billing", "billing", {"from_agent": "triage", "via": "router"}),
        ("billing → triage", "triage", {"from_agent": "billing", "via": "router"}),
    ]


def test_replies_after_node_handoffs_belong_to_the_node_that_has_the_conversation(triage_billing_triage, checkpoint_source):
    steps = steps_of(checkpoint_source, triage_billing_triage, with_router_targets("triage", "billing"))

    assert [(step.agent, step.content) for step in steps if step.type.value == "agent_message"] == [
        ("triage", "Let me find the right team."), ("billing", "Billing here: your invoice is paid."), ("triage", "Anything else?"),
    ]



def test_a_router_target_that_is_a_subgraph_is_entered_when_its_inner_node_replies(checkpointer, checkpoint_source):
    """billing is a compiled subgraph whose reply comes from its inner node "respond": the reply is stored
    under billing's namespace first, and still reads as triage handing over to billing and back."""

    def billing_graph(reply):
        billing = StateGraph(MessagesState)
        billing.add_node("respond", reply)
        billing.add_edge(START, "respond")
        billing.add_edge("respond", END)
        return billing.compile()

    triage_and_billing(checkpointer, "router-subgraph", billing=billing_graph)

    steps = steps_of(checkpoint_source, "router-subgraph", with_router_targets("triage", "billing"))

    assert [(step.type.value, step.agent, step.content) for step in steps if step.type.value != "user_message"] == [
        ("agent_message", "triage", "Let me find the right team."),
        ("handoff", "billing", "triage → billing"),
        ("agent_message", "billing", "Billing here: your invoice is paid."),
        ("handoff", "triage", "billing → triage"),
        ("agent_message", "triage", "Anything else?"),
    ]

def test_a_node_that_raised_with_no_tool_call_waiting_is_one_error_step(checkpointer, checkpoint_source):
    def assistant(state):
        return {"messages": [AIMessage("Checking your account.")]}

    def crm_lookup(state):
        raise RuntimeError("CRM timed out")

    builder = StateGraph(MessagesState)
    builder.add_node("assistant", assistant)
    builder.add_node("crm_lookup", crm_lookup)
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", "crm_lookup")
    with pytest.raises(RuntimeError, match="CRM timed out"):
        builder.compile(checkpointer=checkpointer).invoke(
            {"messages": [("user", "what is my balance?")]}, {"configurable": {"thread_id": "node-raised"}}
        )

    last = steps_of(checkpoint_source, "node-raised")[-1]

    assert view(last) == {"type": "unknown", "agent": "crm_lookup", "tool": None, "status": "error", "content": last.content}
    assert "CRM timed out" in last.content
    assert (last.details["kind"], last.details["node"]) == ("node_error", "crm_lookup")


def test_a_tool_that_raised_is_an_error_result_marked_as_raised(checkpointer, checkpoint_source):
    model = ScriptedChatModel(agent_name="a", model_name="gpt-4o", reply_for=replies_in_order([
        AIMessage("", tool_calls=[call("get_weather", {"city": "Atlantis"}, "boom-2")]),
    ]))
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([get_weather], handle_tool_errors=False))
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", "tools")
    with pytest.raises(ValueError, match="unknown city"):
        builder.compile(checkpointer=checkpointer).invoke(
            {"messages": [("user", "weather in Atlantis?")]}, {"configurable": {"thread_id": "tool-raised"}}
        )

    result = steps_of(checkpoint_source, "tool-raised")[-1]

    assert (result.type.value, result.tool_call_id, result.status, result.details["raised"]) == ("tool_result", "boom-2", "error", True)


# -- handoff rows of a tutorial-style app (routing tools, a dialog stack) --------------------------------

def tutorial_handoffs(settings, checkpointer, checkpoint_source, reading, thread_id="tut-multi-turn"):
    from tests.apps.tutorial_conversations import NOW, THREADS, run_tutorial_thread

    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, **reading}
    run_tutorial_thread(checkpointer, next(thread for thread in THREADS if thread.thread_id == thread_id))
    steps = build_timeline(checkpoint_source.get_thread(thread_id=thread_id), now=NOW)
    return [(step.content, step.agent, step.tool_name, step.details) for step in steps if step.type.value == "handoff"]


def test_routing_tool_handoffs_read_from_the_caller_to_the_agent_that_answered(settings, checkpointer, checkpoint_source):
    from tests.apps.tutorial_app import AGENT_NODES, ROUTING_TOOLS

    handoffs = tutorial_handoffs(
        settings, checkpointer, checkpoint_source, {"ROUTING_TOOLS": list(ROUTING_TOOLS), "ROUTER_TARGETS": list(AGENT_NODES)}
    )

    # CompleteOrEscalate names no agent: the node that answers it (primary_assistant) is the target
    assert [(content, agent, tool, details["from_agent"]) for content, agent, tool, details in handoffs] == [
        ("primary_assistant → book_hotel", "book_hotel", "ToHotelBookingAssistant", "primary_assistant"),
        ("book_hotel → primary_assistant", "primary_assistant", "CompleteOrEscalate", "book_hotel"),
    ]


def test_dialog_stack_handoffs_read_from_the_agent_on_top_to_the_next(settings, checkpointer, checkpoint_source):
    handoffs = tutorial_handoffs(settings, checkpointer, checkpoint_source, {"ACTIVE_AGENT_CHANNEL": "dialog_state"})

    # the pop to an empty stack names no agent: the one that replies next is the target
    assert handoffs == [
        ("primary_assistant → book_hotel", "book_hotel", None, {"from_agent": "primary_assistant", "via": "dialog_state"}),
        ("book_hotel → primary_assistant", "primary_assistant", None, {"from_agent": "book_hotel", "via": "dialog_state"}),
    ]
