"""Replays of threads whose checkpoint rows are damaged: real rows written by real graphs through the
real PostgresSaver, then corrupted with SQL. Every replay shows the good parts, an ``unknown`` step
for each bad part, logs a warning, and the analytics derivation still runs."""

import logging
import pickle
import random
from datetime import datetime, timedelta, timezone

import ormsgpack
import psycopg
import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command

from analytics.derive import derive_thread
from analytics.models import EventType
from replay.checkpoint_times import checkpoint_id_floor, uuid6_time
from replay.services import get_replay_page, get_timeline
from replay.timeline import StepType, build_timeline
from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.plain_graph import build_plain_graph, get_weather
from tests.apps.supervisor_app import call

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
EXPECTED_WEATHER_SHAPE = [
    ("user_message", None),
    ("tool_call", "get_weather"),
    ("tool_result", "get_weather"),
    ("agent_message", None),
]


def shape(steps):
    return [(step.type.value, step.tool_name) for step in steps]


def unknown_steps(steps):
    return [step for step in steps if step.type == StepType.UNKNOWN]


def warnings_in(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def replay(source, thread_id, caplog=None):
    """The thread's timeline and, to prove the analytics survive it too, its derivation."""
    thread = source.get_thread(thread_id=thread_id)
    steps = build_timeline(thread, now=NOW)
    derived = derive_thread(thread=thread, price_lookup=lambda model, at: None, now=NOW)
    assert len([event for event in derived.events if event.event_type == EventType.UNKNOWN]) == len(unknown_steps(steps))
    return steps


def weather_graph(checkpointer, replies):
    """assistant ⇄ tools (get_weather), as most react-style apps are wired."""
    model = ScriptedChatModel(agent_name="assistant", model_name="gpt-4o-mini", reply_for=replies_in_order(replies))
    model = model.bind_tools([get_weather])
    builder = StateGraph(MessagesState)
    builder.add_node("assistant", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode([get_weather]))
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", tools_condition)
    builder.add_edge("tools", "assistant")
    return builder.compile(checkpointer=checkpointer)


def run_weather_turns(checkpointer, thread_id, *, turns=1, durability="async", call_ids=None):
    """``turns`` turns of "weather in Paris?" → get_weather → answer; tool-call ids from ``call_ids``."""
    call_ids = call_ids or [f"call-{turn}" for turn in range(turns)]
    replies = []
    for turn in range(turns):
        replies += [
            AIMessage("", tool_calls=[call("get_weather", {"city": "Paris"}, call_ids[turn])], id=f"ai-{turn}-call"),
            AIMessage(f"Sunny in Paris (answer {turn})", id=f"ai-{turn}-answer"),
        ]
    graph = weather_graph(checkpointer, replies)
    config = {"configurable": {"thread_id": thread_id}}
    for turn in range(turns):
        graph.invoke({"messages": [("user", "weather in Paris?")]}, config, durability=durability)


def execute(conninfo, sql, params=()):
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return connection.execute(sql, params).fetchall() if sql.lstrip().upper().startswith("SELECT") else connection.execute(sql, params)


# -- undecodable writes ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("write_type", "blob"),
    [
        ("msgpack", "truncated"),
        # msgpack ignores trailing bytes: random bytes mostly decode to a number (seed 0) or fail (seed 4)
        ("msgpack", random.Random(0).randbytes(96)),
        ("msgpack", random.Random(4).randbytes(96)),
        ("bogus", "keep"),
    ],
    ids=["truncated-msgpack", "random-bytes-number", "random-bytes-undecodable", "unknown-type"],
)
def test_an_undecodable_tool_result_write_is_an_unknown_step_and_the_result_comes_from_the_blob(
    checkpointer, checkpoint_db, checkpoint_source, caplog, write_type, blob
):
    run_weather_turns(checkpointer, "bad-write")
    (original,) = execute(
        checkpoint_db,
        "SELECT blob FROM checkpoint_writes WHERE thread_id = 'bad-write' AND channel = 'messages' AND task_path LIKE '%%tools'",
    )
    new_blob = {"truncated": original[0][: len(original[0]) // 2], "keep": original[0]}.get(blob, blob)
    execute(
        checkpoint_db,
        "UPDATE checkpoint_writes SET type = %s, blob = %s "
        "WHERE thread_id = 'bad-write' AND channel = 'messages' AND task_path LIKE '%%tools'",
        (write_type, new_blob),
    )

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "bad-write")

    # the channel's blob at the next checkpoint still holds the tool's answer
    assert shape(steps) == [
        ("user_message", None), ("tool_call", "get_weather"), ("tool_result", "get_weather"), ("unknown", None),
        ("agent_message", None),
    ]
    assert steps[2].content == "Sunny in Paris" and steps[2].tool_call_id == steps[1].tool_call_id
    assert steps[3].details["raw_type"] == write_type and steps[3].details["reason"]
    assert [step.timestamp for step in steps] == sorted(step.timestamp for step in steps)
    assert any("bad-write" in message and "unreadable messages write" in message for message in warnings_in(caplog))
