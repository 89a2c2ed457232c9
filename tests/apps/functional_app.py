"""A support agent written with LangGraph's Functional API, the way LangGraph's docs write one: an
``@entrypoint`` looping over ``@task`` calls — the model in one task, each tool call in another — with the
conversation kept as the entrypoint's saved value (``previous``), and a refund that waits for a human:
``interrupt()`` inside the tool task, resumed with ``Command(resume={"approved": ..., "reason": ...})``."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.func import entrypoint, task
from langgraph.graph.message import add_messages
from langgraph.types import interrupt

from smart_support.agent.chat_model import ReplyFor, ScriptedChatModel

APPROVAL_TOOLS = ("refund_order",)


@tool
def lookup_order(order_id: str) -> str:
    """Where an order is."""
    if not order_id.isdigit():
        raise ValueError(f"no order {order_id!r}")
    return f"Order {order_id} shipped yesterday."


@tool
def refund_order(order_id: str, amount: float) -> str:
    """Refund an order."""
    return f"Refunded {amount:.2f} EUR on order {order_id}."


TOOLS = {tool_.name: tool_ for tool_ in (lookup_order, refund_order)}


def build_functional_app(*, reply_for: ReplyFor, checkpointer):
    model = ScriptedChatModel(agent_name="support", model_name="gpt-4o-mini", reply_for=reply_for).bind_tools(list(TOOLS.values()))

    @task
    def call_model(messages: list[BaseMessage]) -> AIMessage:
        return model.invoke(messages)

    @task
    def call_tool(tool_call: dict[str, Any]) -> ToolMessage:
        if tool_call["name"] in APPROVAL_TOOLS:
            decision = interrupt({"question": "Approve this refund?", "tool_call": tool_call})
            if not decision.get("approved"):
                return ToolMessage(
                    content=f"The refund was not approved: {decision.get('reason', '')}",
                    tool_call_id=tool_call["id"], name=tool_call["name"],
                )
        try:
            return TOOLS[tool_call["name"]].invoke(tool_call)
        except Exception as error:  # noqa: BLE001 - the model is told, as ToolNode would tell it
            return ToolMessage(content=f"Error: {error}", tool_call_id=tool_call["id"], name=tool_call["name"], status="error")

    @entrypoint(checkpointer=checkpointer)
    def support_agent(messages: list, *, previous: list | None = None) -> entrypoint.final[AIMessage, list]:
        messages = add_messages(previous or [], messages)
        response = call_model(messages).result()
        while response.tool_calls:
            futures = [call_tool(call) for call in response.tool_calls]
            messages = add_messages(messages, [response, *(future.result() for future in futures)])
            response = call_model(messages).result()
        messages = add_messages(messages, response)
        return entrypoint.final(value=response, save=messages)

    return support_agent
