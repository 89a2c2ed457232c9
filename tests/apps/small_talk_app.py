"""An assistant that only answers: no tool, so its conversations have no outcome (neither resolved nor
escalated). Each turn is written at a fixed time, with the metadata the caller gives that turn."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, TypedDict

import time_machine
from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages


class _Chat(TypedDict):
    messages: Annotated[list, add_messages]


def build_small_talk_app(*, checkpointer):
    """An assistant that only answers: no tool, so no outcome (neither resolved nor escalated)."""

    def reply(state: _Chat) -> dict:
        usage = {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52}
        return {"messages": [AIMessage("Let me look into that.", usage_metadata=usage, response_metadata={"model_name": "gpt-4o-mini"})]}

    builder = StateGraph(_Chat)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=checkpointer)


def small_talk(checkpointer, thread_id: str, turns: list[dict], *, started_at: datetime) -> None:
    """One turn per metadata dict, ten minutes apart, the first at ``started_at``."""
    graph = build_small_talk_app(checkpointer=checkpointer)
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(started_at, tick=False) as traveller:
        for number, metadata in enumerate(turns):
            if number:
                traveller.shift(timedelta(minutes=10))
            graph.invoke({"messages": [("user", f"question {number}")]}, {"configurable": {"thread_id": thread_id}, "metadata": metadata})
