"""What ``inspect_checkpoints`` reads beyond what the timeline needs, in one read-only transaction.

The timeline reads messages, interrupts, resumes and errors (``PostgresCheckpointSource``). Telling a
team how their agent is read also needs the rest of what LangGraph stored: every channel a checkpoint
versions or holds inline, which node wrote which channel, ``metadata.source`` and (releases before
langgraph 0.3) ``metadata.writes``, ``versions_seen`` for the nodes a stopped run left pending, and the
small channel values an agent keeps its state in (a ``dialog_state`` stack). All of it is read here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import IsolationLevel

from replay.checkpoints import MESSAGES_CHANNEL
from replay.stored_values import ValueDecoder

# Channel values up to this size are read to find a channel naming the active agent; a stack of agent
# names is a few bytes, a channel holding documents is not worth decoding here.
SMALL_CHANNEL_BYTES = 1024


@dataclass(frozen=True)
class CheckpointHeader:
    """What one checkpoint row says about the graph, without its channel blobs."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    source: str | None  # metadata.source: input, loop, update, fork
    metadata_writes: tuple[str, ...]  # the nodes named in metadata.writes (older releases)
    channel_versions: dict[str, Any]
    inline_values: dict[str, Any]  # primitive channel values stored in the checkpoint itself
    versions_seen: dict[str, Any]


@dataclass(frozen=True)
class WriteCount:
    """How many writes one task path left on one channel against one checkpoint."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    task_path: str
    channel: str
    count: int

    @property
    def node(self) -> str:
        return task_node(self.task_path)


# Tasks whose path names no node: one started by a Send, and the writes of update_state.
UNNAMED_TASKS = {"~__pregel_push": "(Send)", "~__interrupt__": "(update_state)"}


def task_node(task_path: str) -> str:
    """The node a task ran (``~__pregel_pull, billing`` → ``billing``), or what kind of task it was."""
    parts = [part.strip() for part in task_path.split(",")]
    if parts[0] in UNNAMED_TASKS:
        return UNNAMED_TASKS[parts[0]]
    return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class ChannelValue:
    """One small stored value of a channel other than ``messages``, decoded (None when it could not be)."""

    thread_id: str
    checkpoint_ns: str
    channel: str
    version: str
    value: Any


@dataclass(frozen=True)
class StoredFacts:
    headers: tuple[CheckpointHeader, ...]
    write_counts: tuple[WriteCount, ...]
    channel_values: tuple[ChannelValue, ...]


@contextmanager
def read_only_connection(conninfo: str) -> Iterator[psycopg.Connection]:
    """One REPEATABLE READ, READ ONLY transaction: every query sees the same snapshot and none can write."""
    with psycopg.connect(conninfo, autocommit=False) as connection:
        connection.read_only = True
        connection.isolation_level = IsolationLevel.REPEATABLE_READ
        try:
            yield connection
        finally:
            connection.rollback()


_RECENT_THREADS_SQL = """
SELECT thread_id FROM checkpoints GROUP BY thread_id ORDER BY max(checkpoint_id) DESC, thread_id LIMIT %(limit)s
"""


def recent_thread_ids(connection: psycopg.Connection, *, limit: int) -> list[str]:
    """The ``limit`` threads with the newest checkpoints, newest first."""
    return [row[0] for row in connection.execute(_RECENT_THREADS_SQL, {"limit": limit})]


def thread_exists(connection: psycopg.Connection, *, thread_id: str) -> bool:
    row = connection.execute("SELECT EXISTS (SELECT 1 FROM checkpoints WHERE thread_id = %s)", (thread_id,)).fetchone()
    return bool(row and row[0])


_HEADERS_SQL = """
SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
       CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata->>'source' END,
       CASE WHEN jsonb_typeof(metadata->'writes') = 'object'
            THEN ARRAY(SELECT jsonb_object_keys(metadata->'writes')) ELSE ARRAY[]::text[] END,
       CASE WHEN jsonb_typeof(checkpoint->'channel_versions') = 'object' THEN checkpoint->'channel_versions' END,
       CASE WHEN jsonb_typeof(checkpoint->'channel_values') = 'object' THEN (
           SELECT jsonb_object_agg(key, value) FROM jsonb_each(checkpoint->'channel_values')
           WHERE jsonb_typeof(value) IN ('string', 'number', 'boolean', 'null')
       ) END,
       CASE WHEN jsonb_typeof(checkpoint->'versions_seen') = 'object' THEN checkpoint->'versions_seen' END
FROM checkpoints WHERE thread_id = ANY(%(thread_ids)s)
ORDER BY thread_id, checkpoint_id, checkpoint_ns
"""

# Savers before langgraph-checkpoint-postgres 2.0 made no task_path column: the name then means the empty text.
_WRITE_COUNTS_SQL = """
SELECT counts.* FROM (SELECT ''::text AS task_path) AS without_task_path, LATERAL (
    SELECT thread_id, checkpoint_ns, checkpoint_id, coalesce(task_path, ''), channel, count(*)::int
    FROM checkpoint_writes WHERE thread_id = ANY(%(thread_ids)s)
    GROUP BY 1, 2, 3, 4, 5
) AS counts
ORDER BY 1, 3, 2
"""

# LangGraph's own channels start with "__" or "branch:"; messages are read by the timeline.
_SMALL_VALUES_SQL = """
SELECT thread_id, checkpoint_ns, channel, version, type, blob FROM checkpoint_blobs
WHERE thread_id = ANY(%(thread_ids)s) AND channel <> %(messages)s
  AND left(channel, 2) <> '__' AND left(channel, 7) <> 'branch:'
  AND type = 'msgpack' AND octet_length(blob) <= %(small)s
ORDER BY thread_id, checkpoint_ns, channel, version
"""


def read_stored_facts(connection: psycopg.Connection, *, thread_ids: Sequence[str]) -> StoredFacts:
    """Given thread ids, return their checkpoint headers, write counts per node and channel, and small channel values."""
    params = {"thread_ids": list(thread_ids), "messages": MESSAGES_CHANNEL, "small": SMALL_CHANNEL_BYTES}
    headers = tuple(
        CheckpointHeader(
            thread_id=thread_id, checkpoint_ns=ns, checkpoint_id=checkpoint_id, parent_checkpoint_id=parent_id,
            source=source, metadata_writes=tuple(writes or ()), channel_versions=versions or {},
            inline_values=inline or {}, versions_seen=seen or {},
        )
        for thread_id, ns, checkpoint_id, parent_id, source, writes, versions, inline, seen in connection.execute(
            _HEADERS_SQL, params
        )
    )
    write_counts = tuple(WriteCount(*row) for row in connection.execute(_WRITE_COUNTS_SQL, params))
    decoder = ValueDecoder()
    with connection.cursor(binary=True) as cursor:  # bytea as bytes
        channel_values = tuple(
            ChannelValue(thread_id, ns, channel, str(version), decoder.decode(type_, blob).value)
            for thread_id, ns, channel, version, type_, blob in cursor.execute(_SMALL_VALUES_SQL, params)
        )
    return StoredFacts(headers=headers, write_counts=write_counts, channel_values=channel_values)
