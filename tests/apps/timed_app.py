"""Two agents whose LLM calls and tools take known times on a stopped clock: ``triage`` (gpt-4o-mini)
looks up an order and an invoice in parallel and hands over to ``billing`` (gpt-4o), which refunds.

Every checkpoint's time is the start plus the durations below, so each latency is an exact number.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, TypedDict

import time_machine
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from smart_support.agent.chat_model import ScriptedChatModel
from tests.apps.supervisor_app import call

# What each LLM reply and each tool takes, in ms, in the order they run.
TRIAGE_LOOKUP_MS, TRIAGE_HANDOFF_MS = 1_200, 2_000
ORDER_MS, INVOICE_MS = 300, 500  # run in parallel, in one tool step: both results are 800 ms after the call
BILLING_REFUND_MS, BILLING_ANSWER_MS = 3_000, 1_000
REFUND_MS = 4_500


class _Clock:
    shift: Callable[[timedelta], None] = staticmethod(lambda delta: None)
    scale: float = 1.0  # a slower conversation takes every duration times this


CLOCK = _Clock()


def _takes(ms: int) -> None:
    CLOCK.shift(timedelta(milliseconds=round(ms * CLOCK.scale)))


@tool
def get_order(order_id: str) -> str:
    """Look up an order."""
    _takes(ORDER_MS)
    return f"{order_id}: delivered"


@tool
def get_invoice(order_id: str) -> str:
    """Look up an order's invoice."""
    _takes(INVOICE_MS)
    return f"{order_id}: paid 40 EUR"


@tool
def transfer_to_billing() -> str:
    """Hand the conversation to billing."""
    return "Transferred to billing"


@tool
def refund(order_id: str) -> str:
    """Refund an order."""
    _takes(REFUND_MS)
    return f"{order_id}: refunded"


def _scripted(agent: str, model_name: str, replies: list[tuple[int, AIMessage]]) -> ScriptedChatModel:
    queue = list(replies)

    def reply_for(agent_name, messages) -> AIMessage:
        ms, reply = queue.pop(0)
        _takes(ms)
        return reply

    return ScriptedChatModel(agent_name=agent, model_name=model_name, reply_for=reply_for)


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]


def build_timed_app(*, checkpointer, billing_model: str = "gpt-4o"):
    triage = _scripted("triage", "gpt-4o-mini", [
        (TRIAGE_LOOKUP_MS, AIMessage("", name="triage", id="tr-1", tool_calls=[
            call("get_order", {"order_id": "A7"}, "tr-order"), call("get_invoice", {"order_id": "A7"}, "tr-invoice"),
        ])),
        (TRIAGE_HANDOFF_MS, AIMessage("", name="triage", id="tr-2", tool_calls=[call("transfer_to_billing", {}, "tr-handoff")])),
    ])
    billing = _scripted("billing", billing_model, [
        (BILLING_REFUND_MS, AIMessage("", name="billing", id="bi-1", tool_calls=[call("refund", {"order_id": "A7"}, "bi-refund")])),
        (BILLING_ANSWER_MS, AIMessage("Your 40 EUR are on their way back.", name="billing", id="bi-2")),
    ])

    def after_agent(state: State) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    def after_tools(state: State) -> str:
        last = state["messages"][-1]
        return "billing" if isinstance(last, ToolMessage) and last.name in {"transfer_to_billing", "refund"} else "triage"

    builder = StateGraph(State)
    builder.add_node("triage", lambda state: {"messages": [triage.invoke(state["messages"])]})
    builder.add_node("billing", lambda state: {"messages": [billing.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([get_order, get_invoice, transfer_to_billing, refund]))
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", after_agent, ["tools", END])
    builder.add_conditional_edges("billing", after_agent, ["tools", END])
    builder.add_conditional_edges("tools", after_tools, ["triage", "billing"])
    return builder.compile(checkpointer=checkpointer)


def run_timed_conversation(
    *, checkpointer, thread_id: str, started_at: datetime, scale: float = 1.0, billing_model: str = "gpt-4o"
) -> None:
    """Write one conversation of the timed app, its clock stopped at ``started_at`` but for the durations
    (each times ``scale``)."""
    from langgraph.checkpoint.base import id as checkpoint_id_module

    checkpoint_id_module._last_v6_timestamp = None  # uuid6 ids refuse to go back in time within a process
    graph = build_timed_app(checkpointer=checkpointer, billing_model=billing_model)
    with time_machine.travel(started_at, tick=False) as traveller:
        CLOCK.shift, CLOCK.scale = traveller.shift, scale
        try:
            graph.invoke(
                {"messages": [HumanMessage("Please refund order A7", id=f"user-{thread_id}")]},
                {"configurable": {"thread_id": thread_id}},
            )
        finally:
            CLOCK.shift, CLOCK.scale = (lambda delta: None), 1.0
