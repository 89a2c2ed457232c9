"""An app routed the way LangGraph's customer-support tutorial routes: the primary assistant calls a
``ToFlightBookingAssistant`` tool that no tool node runs — an entry node answers it and pushes the
flight assistant onto a ``dialog_state`` stack — and the flight assistant hands back with
``CompleteOrEscalate``, answered by a ``leave_skill`` node that pops the stack. Its flight tool fails
through a fallback that writes the error as an ordinary (status "success") tool message, and the
primary assistant has a tool to call a human."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.supervisor_app import call


def update_dialog_stack(left: list[str], right: str | None) -> list[str]:
    """Push an assistant's name, or pop the top one."""
    if right is None:
        return left
    if right == "pop":
        return left[:-1]
    return [*left, right]


class TravelState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    dialog_state: Annotated[list[str], update_dialog_stack]


@tool
def update_ticket_to_new_flight(flight: str) -> str:
    """Move the customer's ticket to another flight."""
    raise ValueError(f"no seats left on {flight}")


@tool
def request_human_agent(reason: str) -> str:
    """Ask a member of staff to take over the conversation."""
    return "A colleague will contact you within the hour."


@tool
def ToFlightBookingAssistant(request: str) -> str:  # noqa: N802 - the tutorial's name
    """Hand the conversation to the flight booking assistant."""
    return ""


@tool
def CompleteOrEscalate(reason: str) -> str:  # noqa: N802 - the tutorial's name
    """Hand the conversation back to the primary assistant."""
    return ""


def handle_tool_error(state: dict) -> dict:
    """The tutorial's fallback: the error becomes the text of an ordinary tool message."""
    error = state.get("error")
    return {"messages": [
        ToolMessage(f"Tool failed: {error!r}\n Try again with other arguments.", tool_call_id=tool_call["id"])
        for tool_call in state["messages"][-1].tool_calls
    ]}


def tool_node_with_fallback(tools: list) -> object:
    return ToolNode(tools).with_fallbacks([RunnableLambda(handle_tool_error)], exception_key="error")


PRIMARY_REPLIES = [
    # thread 1: to the flight assistant, and after it hands back, a closing answer
    AIMessage("", tool_calls=[call("ToFlightBookingAssistant", {"request": "move me to LX 38"}, "to-1")]),
    AIMessage("Is there anything else I can do?"),
    # thread 2: a human is asked to take over
    AIMessage("", tool_calls=[call("request_human_agent", {"reason": "angry customer"}, "hu-1")]),
    AIMessage("A colleague will be in touch."),
]
FLIGHT_REPLIES = [
    AIMessage("", tool_calls=[call("update_ticket_to_new_flight", {"flight": "LX 38"}, "fl-1")]),
    AIMessage("", tool_calls=[call("update_ticket_to_new_flight", {"flight": "LX 3999"}, "fl-2")]),
    AIMessage("", tool_calls=[call("CompleteOrEscalate", {"reason": "no seats on either flight"}, "ce-1")]),
]


def build_routing_tools_app(*, checkpointer):
    primary_model = ScriptedChatModel(agent_name="primary_assistant", model_name="gpt-4o", reply_for=replies_in_order(PRIMARY_REPLIES))
    flight_model = ScriptedChatModel(agent_name="update_flight", model_name="gpt-4o-mini", reply_for=replies_in_order(FLIGHT_REPLIES))

    def primary_assistant(state: TravelState) -> dict:
        return {"messages": [primary_model.invoke(state["messages"])]}

    def update_flight(state: TravelState) -> dict:
        return {"messages": [flight_model.invoke(state["messages"])]}

    def enter_update_flight(state: TravelState) -> dict:
        tool_call_id = state["messages"][-1].tool_calls[0]["id"]
        entry = ToolMessage("The assistant is now the flight booking assistant.", tool_call_id=tool_call_id)
        return {"messages": [entry], "dialog_state": "update_flight"}

    def leave_skill(state: TravelState) -> dict:
        tool_call_id = state["messages"][-1].tool_calls[0]["id"]
        back = ToolMessage("Resuming dialog with the host assistant.", tool_call_id=tool_call_id)
        return {"messages": [back], "dialog_state": "pop"}

    def route_primary(state: TravelState) -> str:
        calls = state["messages"][-1].tool_calls
        if not calls:
            return END
        return "enter_update_flight" if calls[0]["name"] == "ToFlightBookingAssistant" else "primary_assistant_tools"

    def route_flight(state: TravelState) -> str:
        calls = state["messages"][-1].tool_calls
        if not calls:
            return END
        return "leave_skill" if calls[0]["name"] == "CompleteOrEscalate" else "update_flight_tools"

    builder = StateGraph(TravelState)
    builder.add_node("primary_assistant", primary_assistant)
    builder.add_node("primary_assistant_tools", tool_node_with_fallback([request_human_agent]))
    builder.add_node("enter_update_flight", enter_update_flight)
    builder.add_node("update_flight", update_flight)
    builder.add_node("update_flight_tools", tool_node_with_fallback([update_ticket_to_new_flight]))
    builder.add_node("leave_skill", leave_skill)
    builder.add_edge(START, "primary_assistant")
    builder.add_conditional_edges("primary_assistant", route_primary, ["enter_update_flight", "primary_assistant_tools", END])
    builder.add_edge("primary_assistant_tools", "primary_assistant")
    builder.add_edge("enter_update_flight", "update_flight")
    builder.add_conditional_edges("update_flight", route_flight, ["leave_skill", "update_flight_tools", END])
    builder.add_edge("update_flight_tools", "update_flight")
    builder.add_edge("leave_skill", "primary_assistant")
    return builder.compile(checkpointer=checkpointer)
