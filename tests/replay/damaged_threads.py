"""Threads written by real graphs through the real PostgresSaver, and the tools to damage their rows."""

import ormsgpack
import psycopg
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command

from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.plain_graph import build_plain_graph, get_weather
from tests.apps.supervisor_app import call


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
        # no id, as most apps send it: add_messages gives it one
        graph.invoke({"messages": [HumanMessage("weather in Paris?")]}, config, durability=durability)


def execute(conninfo, sql, params=()):
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return connection.execute(sql, params).fetchall() if sql.lstrip().upper().startswith("SELECT") else connection.execute(sql, params)


def strip_times(conninfo, thread_id):
    """Leave the thread's checkpoints no time at all: no ``ts``, and ids that are not uuid6
    (``step-000``, ``step-001`` … in the same order)."""
    ids = [row[0] for row in execute(conninfo, "SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s ORDER BY checkpoint_id", (thread_id,))]
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for number, checkpoint_id in enumerate(ids):
            for sql in (
                "UPDATE checkpoints SET checkpoint_id = %(new)s, checkpoint = checkpoint - 'ts' WHERE thread_id = %(thread)s AND checkpoint_id = %(old)s",
                "UPDATE checkpoints SET parent_checkpoint_id = %(new)s WHERE thread_id = %(thread)s AND parent_checkpoint_id = %(old)s",
                "UPDATE checkpoint_writes SET checkpoint_id = %(new)s WHERE thread_id = %(thread)s AND checkpoint_id = %(old)s",
            ):
                connection.execute(sql, {"new": f"step-{number:03d}", "old": checkpoint_id, "thread": thread_id})


def run_approval_thread(checkpointer, thread_id):
    """The plain app: an answer, an approval interrupt, its approval."""
    graph = build_plain_graph(reply_for=replies_in_order([AIMessage("Sunny in Paris", id="ai-answer")]), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread_id}}
    graph.invoke({"messages": [HumanMessage("weather in Paris?", id="user-1")], "ticket_id": "T-9"}, config)
    graph.invoke(Command(resume={"approved": True, "reviewer": "ann"}), config)


class _Model:
    """A pydantic model as LangGraph packs it (msgpack ext 5), opened up so a test can edit its fields."""

    def __init__(self, parts):
        self.parts = parts


def _unpack(data):
    def hook(code, raw):
        return _Model(_unpack(raw)) if code == 5 else ormsgpack.Ext(code, raw)
    return ormsgpack.unpackb(data, ext_hook=hook, option=ormsgpack.OPT_NON_STR_KEYS)


def _pack(value):
    def default(item):
        if isinstance(item, _Model):
            return ormsgpack.Ext(5, _pack(item.parts))
        raise TypeError(item)
    return ormsgpack.packb(value, default=default, option=ormsgpack.OPT_NON_STR_KEYS)


def rewrite_messages(conninfo, thread_id, change):
    """Apply ``change(fields)`` to every message stored in the thread's writes and blobs."""
    def walk(value):
        if isinstance(value, _Model):
            change(value.parts[2])
            walk(value.parts[2])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    with psycopg.connect(conninfo, autocommit=True) as connection:
        for table, key in (("checkpoint_writes", "task_id, idx, checkpoint_id"), ("checkpoint_blobs", "channel, version")):
            rows = connection.execute(
                f"SELECT {key}, blob FROM {table} WHERE thread_id = %s AND type = 'msgpack'", (thread_id,)  # noqa: S608
            ).fetchall()
            for *ids, blob in rows:
                value = _unpack(blob)
                walk(value)
                where = " AND ".join(f"{column.strip()} = %s" for column in key.split(","))
                connection.execute(
                    f"UPDATE {table} SET blob = %s WHERE thread_id = %s AND {where}", (_pack(value), thread_id, *ids)  # noqa: S608
                )
