"""A support graph that fans out with ``Send``, the map step of LangGraph's map-reduce how-to: a ticket
names several orders, one ``order_worker`` per order runs in parallel (each calls the model, runs the
lookup tool the model asked for, and asks the model again), their messages are merged into ``messages``
by ``add_messages``, and a ``reply`` node answers the customer once all workers are done."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Send

from smart_support.agent.chat_model import ReplyFor, ScriptedChatModel


class TicketState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    order_ids: list[str]


class OrderTask(TypedDict):
    order_id: str
    messages: list[AnyMessage]


@tool
def track_order(order_id: str) -> str:
    """Where an order is."""
    if not order_id.isdigit():
        raise ValueError(f"no order {order_id!r}")
    return f"Order {order_id} is in transit."


def build_fan_out_app(*, reply_for: ReplyFor, checkpointer):
    model = ScriptedChatModel(agent_name="support", model_name="gpt-4o-mini", reply_for=reply_for).bind_tools([track_order])

    def fan_out(state: TicketState) -> list[Send]:
        return [Send("order_worker", {"order_id": order_id, "messages": state["messages"]}) for order_id in state["order_ids"]]

    def order_worker(task: OrderTask) -> dict:
        messages = [SystemMessage(f"You look after order {task['order_id']}."), *task["messages"]]
        written = []
        response = model.invoke(messages)
        while response.tool_calls:
            written.append(response)
            for call in response.tool_calls:
                try:
                    written.append(track_order.invoke(call))
                except Exception as error:  # noqa: BLE001 - the model is told, as ToolNode would tell it
                    written.append(ToolMessage(f"Error: {error}", tool_call_id=call["id"], name=call["name"], status="error"))
            response = model.invoke([*messages, *written])
        return {"messages": [*written, response]}

    def reply(state: TicketState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(TicketState)
    builder.add_node("order_worker", order_worker)
    builder.add_node("reply", reply)
    builder.add_conditional_edges(START, fan_out, ["order_worker"])
    builder.add_edge("order_worker", "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)
