"""An app that asks two reviewers at once: a refund and a cancellation node run in parallel and each
calls ``interrupt()``, so one run ends with two approvals pending, answered together by interrupt id
(``Command(resume={id: value, ...})``)."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class OrderState(TypedDict, total=False):
    order_id: str
    decisions: Annotated[list[str], operator.add]


def build_parallel_approvals_app(*, checkpointer):
    def refund(state: OrderState) -> dict:
        decision = interrupt({"question": f"Refund order {state['order_id']}?", "action": "refund"})
        return {"decisions": [f"refund:{decision}"]}

    def cancel(state: OrderState) -> dict:
        decision = interrupt({"question": f"Cancel order {state['order_id']}?", "action": "cancel"})
        return {"decisions": [f"cancel:{decision}"]}

    builder = StateGraph(OrderState)
    builder.add_node("refund", refund)
    builder.add_node("cancel", cancel)
    builder.add_edge(START, "refund")
    builder.add_edge(START, "cancel")
    builder.add_edge("refund", END)
    builder.add_edge("cancel", END)
    return builder.compile(checkpointer=checkpointer)
