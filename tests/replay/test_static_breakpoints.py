"""Static breakpoints given per call (``interrupt_before`` / ``interrupt_after`` on ``invoke``) and inputs in
every shorthand ``add_messages`` reads, on a small real graph."""

from datetime import datetime, timedelta, timezone

import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from replay.timeline import StepType, build_timeline
from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.plain_graph import get_time
from tests.apps.supervisor_app import call

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)


def build_graph(checkpointer, replies):
    model = ScriptedChatModel(agent_name="clock", model_name="gpt-4o-mini", reply_for=replies_in_order(replies))
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([get_time]))
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", tools_condition)
    builder.add_edge("tools", "assistant")
    return builder.compile(checkpointer=checkpointer)


def shape(steps):
    return [(step.type.value, step.tool_name, step.status) for step in steps]


@pytest.mark.parametrize("breakpoint", [{"interrupt_after": ["assistant"]}, {"interrupt_before": ["tools"]}])
def test_a_breakpoint_given_per_call_is_an_approval(breakpoint, checkpointer, checkpoint_source):
    graph = build_graph(checkpointer, [
        AIMessage("", tool_calls=[call("get_time", {"city": "Oslo"}, "t1")]),
        AIMessage("It is 10:00 in Oslo."),
    ])
    config = {"configurable": {"thread_id": "per-call"}}
    graph.invoke({"messages": [("user", "time in Oslo?")]}, config, **breakpoint)
    graph.invoke(None, config, **breakpoint)

    steps = build_timeline(checkpoint_source.get_thread(thread_id="per-call"), now=NOW)

    assert shape(steps) == [
        ("user_message", None, None),
        ("tool_call", "get_time", None),
        ("interrupt", None, "resolved"),
        ("interrupt_resolution", None, "approved"),
        ("tool_result", "get_time", "success"),
        ("agent_message", None, None),
    ]
    assert steps[2].content == 'get_time(city="Oslo")'


def test_a_stop_left_alone_is_pending(checkpointer, checkpoint_source):
    graph = build_graph(checkpointer, [AIMessage("", tool_calls=[call("get_time", {"city": "Rome"}, "t2")])])
    graph.invoke({"messages": "time in Rome?"}, {"configurable": {"thread_id": "left-alone"}}, interrupt_before=["tools"])

    steps = build_timeline(checkpoint_source.get_thread(thread_id="left-alone"), now=NOW)

    assert shape(steps)[-1] == ("interrupt", None, "pending")
    assert [step.content for step in steps if step.type == StepType.USER_MESSAGE] == ["time in Rome?"]


@pytest.mark.parametrize(
    "messages",
    [
        ("user", "is it late in Lima?"),
        [["user", "is it late in Lima?"]],
        {"role": "user", "content": "is it late in Lima?"},
        "is it late in Lima?",
        [("user", "is it late in Lima?")],
    ],
    ids=["tuple", "role-content list", "dict", "string", "list of tuples"],
)
def test_a_shorthand_input_is_one_user_message(messages, checkpointer, checkpoint_source):
    graph = build_graph(checkpointer, [AIMessage("Not yet.")])
    graph.invoke({"messages": messages}, {"configurable": {"thread_id": "shorthand"}})

    steps = build_timeline(checkpoint_source.get_thread(thread_id="shorthand"), now=NOW)

    assert [(step.type.value, step.content) for step in steps] == [
        ("user_message", "is it late in Lima?"), ("agent_message", "Not yet."),
    ]
