"""A plain ``StateGraph`` app unlike ours: custom state, no ``active_agent``, parallel tool calls,
an approval node that interrupts (several times per thread), several turns."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt

from smart_support.agent.chat_model import ReplyFor, ScriptedChatModel


class TicketState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    ticket_id: str
    approved_actions: list[str]


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    if city == "Atlantis":
        raise ValueError("unknown city Atlantis")
    return f"Sunny in {city}"


@tool
def get_time(city: str) -> str:
    """Local time in a city."""
    return f"It is 10:00 in {city}"


TOOLS = [get_weather, get_time]


def build_plain_graph(*, reply_for: ReplyFor, checkpointer):
    model = ScriptedChatModel(agent_name="assistant", model_name="gpt-4o-mini", reply_for=reply_for).bind_tools(TOOLS)

    def assistant(state: TicketState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    def review(state: TicketState) -> dict:
        decision = interrupt({"question": "Send this answer?", "ticket_id": state.get("ticket_id", "")})
        return {"approved_actions": [*state.get("approved_actions", []), str(decision)]}

    def after_assistant(state: TicketState) -> str:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls:
            return "tools"
        return "review"

    builder = StateGraph(TicketState)
    builder.add_node("assistant", assistant)
    builder.add_node("tools", ToolNode(TOOLS, handle_tool_errors=True))
    builder.add_node("review", review)
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", after_assistant, ["tools", "review"])
    builder.add_edge("tools", "assistant")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=checkpointer)
