"""Reading LangGraph's checkpoint tables (``checkpoints``, ``checkpoint_blobs``, ``checkpoint_writes``).

They live in ``CHECKPOINT_DATABASE_URL`` or, when that is empty, in Django's own database — following
Django's connection settings, so the test suite reads the checkpoints of its test database.

Why the writes and not ``PostgresSaver.list()``: the ``messages`` channel is stored whole at every
version, so decoding every checkpoint's state is quadratic in a thread's length, while
``checkpoint_writes`` holds each step's delta. The source reads the writes, the checkpoint headers
(without channel blobs) and loads a channel blob only when the timeline asks for one (runs with
``durability="exit"`` save no per-step writes). See bench/ for the measurement.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

import psycopg
from psycopg import pq
from psycopg.adapt import Loader
from django.conf import settings
from django.db import connections
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from replay.checkpoint_times import CheckpointTimes
from replay.checkpoint_times import checkpoint_id_floor  # noqa: F401 - callers import it from here
from replay.stored_values import Decoded, ValueDecoder

logger = logging.getLogger(__name__)

# Django OPTIONS that are not libpq connection parameters.
_NON_LIBPQ_OPTIONS = {"pool", "isolation_level", "server_side_binding", "assume_role", "cursor_factory"}

MESSAGES_CHANNEL = "messages"
INTERRUPT_CHANNEL = "__interrupt__"
RESUME_CHANNEL = "__resume__"
ERROR_CHANNEL = "__error__"
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"
LANGGRAPH_METADATA_KEYS = {"source", "step", "parents", "writes", "thread_id", "checkpoint_ns", "run_id"}


def checkpoint_conninfo() -> str:
    """Return the libpq connection string of the database holding the checkpoint tables."""
    if settings.CHECKPOINT_DATABASE_URL:
        return settings.CHECKPOINT_DATABASE_URL
    database = connections["default"].settings_dict
    params: dict[str, Any] = {
        "dbname": database["NAME"],
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
    }
    params.update({key: value for key, value in database.get("OPTIONS", {}).items() if key not in _NON_LIBPQ_OPTIONS})
    return make_conninfo(**{key: value for key, value in params.items() if value is not None})


def setup_checkpoint_tables() -> None:
    """Create or migrate LangGraph's checkpoint tables (``PostgresSaver.setup()``); safe to repeat."""
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(checkpoint_conninfo()) as saver:
        saver.setup()


def count_checkpoint_rows() -> dict[str, int]:
    """How many rows each checkpoint table holds, and how many distinct threads."""
    with psycopg.connect(checkpoint_conninfo()) as connection:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
        }
        counts["threads"] = connection.execute("SELECT count(DISTINCT thread_id) FROM checkpoints").fetchone()[0]
    return counts


_pool = None


def close_checkpoint_pool() -> None:
    """Close the process-wide pool (before forking: children must open their own connections)."""
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


@contextmanager
def open_checkpoint_source() -> Iterator[PostgresCheckpointSource]:
    """A source for one unit of work, on a connection that is already open: Django's own when the
    checkpoints live in Django's database, else one from a process-wide pool."""
    global _pool
    if not settings.CHECKPOINT_DATABASE_URL:
        django_connection = connections["default"]
        django_connection.ensure_connection()
        yield PostgresCheckpointSource(connection=django_connection.connection)
        return
    if _pool is None:
        from psycopg_pool import ConnectionPool

        from smart_support.database import CONNECT_TIMEOUT_SECONDS, POOL_TIMEOUT_SECONDS

        # As for Django's database: fail fast when the server is down, replace connections a restart broke.
        kwargs = {"autocommit": True}
        if "connect_timeout" not in conninfo_to_dict(settings.CHECKPOINT_DATABASE_URL):
            kwargs["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        _pool = ConnectionPool(
            settings.CHECKPOINT_DATABASE_URL, min_size=1, max_size=4, kwargs=kwargs,
            timeout=POOL_TIMEOUT_SECONDS, check=ConnectionPool.check_connection, open=True,
        )
    with _pool.connection() as connection:
        yield PostgresCheckpointSource(connection=connection)


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint header: what the timeline needs, without channel blobs."""

    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    ts: datetime | None  # always aware; None when neither the row nor its id says when it was made
    metadata: dict[str, Any]
    channel_values: dict[str, Any]
    messages_version: str | None
    problem: str | None = None  # why the row could not be read as a checkpoint, when it could not


@dataclass(frozen=True)
class WriteRecord:
    """One row of ``checkpoint_writes``, decoded."""

    checkpoint_ns: str
    checkpoint_id: str
    task_id: str
    task_path: str
    idx: int
    channel: str
    type: str | None
    decoded: Decoded

    @property
    def node(self) -> str:
        """The graph node whose task wrote this (``~__pregel_pull, billing`` → ``billing``)."""
        parts = [part.strip() for part in self.task_path.split(",")]
        return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class ThreadCheckpoints:
    """Everything stored for one thread: checkpoints of all namespaces (oldest first) and their writes."""

    thread_id: str
    checkpoints: tuple[CheckpointRecord, ...]
    writes: tuple[WriteRecord, ...]
    source: CheckpointSource | None = field(default=None, compare=False, repr=False)

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's ``config["metadata"]`` keys (tenant, channel, user id …) from the root graph's
        checkpoints, later values winning; LangGraph's own bookkeeping keys left out."""
        merged: dict[str, Any] = {}
        for record in self.checkpoints:
            if not record.checkpoint_ns:
                merged.update({key: value for key, value in record.metadata.items() if key not in LANGGRAPH_METADATA_KEYS})
        return merged

    @property
    def started_at(self) -> datetime | None:
        stamps = [record.ts for record in self.checkpoints if record.ts is not None]
        return min(stamps) if stamps else None

    @property
    def last_checkpoint_at(self) -> datetime | None:
        stamps = [record.ts for record in self.checkpoints if record.ts is not None]
        return max(stamps) if stamps else None

    @property
    def newest_checkpoint_id(self) -> str:
        return max((record.checkpoint_id for record in self.checkpoints), default="")

    def load_messages(self, *, checkpoint_ns: str, version: str) -> Decoded:
        """Decode the ``messages`` channel as stored at ``version`` (for steps that left no writes)."""
        if self.source is None:
            return Decoded(error="no checkpoint source to load channel values from")
        return self.source.load_channel(
            thread_id=self.thread_id, checkpoint_ns=checkpoint_ns, channel=MESSAGES_CHANNEL, version=version
        )


class CheckpointSource(Protocol):
    """Where checkpoints come from. Implementations read; they never write."""

    def get_thread(self, *, thread_id: str) -> ThreadCheckpoints | None: ...

    def get_threads(self, *, thread_ids: Sequence[str]) -> list[ThreadCheckpoints]: ...

    def load_channel(self, *, thread_id: str, checkpoint_ns: str, channel: str, version: str) -> Decoded: ...

    def thread_signature(self, *, thread_id: str) -> tuple[str, int] | None: ...

    def iter_thread_heads(self, *, after: str, before: str | None = None) -> Iterator[tuple[str, str]]: ...

    def count_thread_heads(self, *, after: str, before: str | None = None) -> int: ...

    def recent_thread_signatures(self, *, after: str) -> list[tuple[str, str, int]]: ...


# Only what the timeline reads: no channel blobs, metadata without LangGraph's bookkeeping, and of the
# inline channel values only the active agent.
_CHECKPOINTS_SQL = """
SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint_value->>'ts',
       -- deleting keys from a scalar is an error that would fail the whole batch
       CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata - 'parents' - 'source' - 'step' - 'writes' END,
       checkpoint_value->'channel_values'->>%(active_agent)s, checkpoint_value->'channel_versions'->>%(messages)s,
       jsonb_typeof(checkpoint_value)
FROM (
    -- "|| '{}'" detoasts each checkpoint once instead of once per field read (about a quarter faster)
    SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, metadata,
           CASE WHEN jsonb_typeof(checkpoint) = 'object' THEN checkpoint || '{}'::jsonb ELSE checkpoint END AS checkpoint_value
    FROM checkpoints WHERE thread_id = ANY(%(thread_ids)s) OFFSET 0
) AS thread_checkpoints
ORDER BY thread_id, checkpoint_id, checkpoint_ns
"""

_WRITES_SQL = """
SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
FROM checkpoint_writes
WHERE thread_id = ANY(%(thread_ids)s) AND channel = ANY(%(channels)s)
ORDER BY thread_id, checkpoint_id, checkpoint_ns, task_id, idx
"""


class _OrjsonLoader(Loader):
    """jsonb through orjson: checkpoint metadata is parsed for every checkpoint of every thread."""

    def load(self, data: bytes) -> Any:
        return orjson.loads(bytes(data).removeprefix(b"\x01") if self.format == pq.Format.BINARY else data)


def _binary_cursor(connection: psycopg.Connection) -> psycopg.Cursor:
    """A server-side-binding cursor returning bytea as bytes, whatever cursor class the connection
    defaults to (Django's is a client-side cursor, which cannot fetch binary results)."""
    cursor = psycopg.Cursor(connection)
    cursor.format = pq.Format.BINARY
    return cursor


def _problem(kind: str | None) -> str | None:
    return None if kind == "object" else f"the checkpoint is a JSON {kind or 'null'}, not an object"


class PostgresCheckpointSource:
    """Reads LangGraph's PostgresSaver tables with psycopg 3, one round trip per table for a batch of threads."""

    channels: tuple[str, ...] = (MESSAGES_CHANNEL, INTERRUPT_CHANNEL, RESUME_CHANNEL, ERROR_CHANNEL)

    def __init__(self, *, conninfo: str | None = None, connection: psycopg.Connection | None = None) -> None:
        """Read through a borrowed ``connection`` (left open), or a connection of our own to ``conninfo``."""
        self._conninfo = conninfo
        self._connection = connection
        self._owns_connection = connection is None

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._conninfo or checkpoint_conninfo(), autocommit=True)
        return self._connection

    def close(self) -> None:
        if self._owns_connection and self._connection is not None:
            self._connection.close()

    def reset(self) -> None:
        """Drop the connection after a database fault; the next read opens a new one."""
        if self._owns_connection and self._connection is not None:
            try:
                self._connection.close()
            except psycopg.Error:
                pass
            self._connection = None

    def __enter__(self) -> PostgresCheckpointSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_thread(self, *, thread_id: str) -> ThreadCheckpoints | None:
        threads = self.get_threads(thread_ids=[thread_id])
        return threads[0] if threads else None

    def get_threads(self, *, thread_ids: Sequence[str]) -> list[ThreadCheckpoints]:
        """Given thread ids, return each existing thread's checkpoints and writes (input order kept)."""
        if not thread_ids:
            return []
        connection = self._connect()
        active_agent_channel = settings.SMART_SUPPORT["ACTIVE_AGENT_CHANNEL"]
        params = {
            "thread_ids": list(thread_ids),
            "messages": MESSAGES_CHANNEL,
            "active_agent": active_agent_channel,
            "channels": list(self.channels),
        }
        # Both queries in one round trip.
        with connection.pipeline(), psycopg.Cursor(connection) as header_cursor, _binary_cursor(connection) as write_cursor:
            header_cursor.adapters.register_loader("jsonb", _OrjsonLoader)
            header_cursor.execute(_CHECKPOINTS_SQL, params)
            write_cursor.execute(_WRITES_SQL, params)
            header_rows = header_cursor.fetchall()
            write_rows = write_cursor.fetchall()
        checkpoints: dict[str, list[CheckpointRecord]] = defaultdict(list)
        times: dict[str, CheckpointTimes] = {}
        for thread_id, ns, checkpoint_id, parent_id, ts, metadata, active_agent, version, kind in header_rows:
            thread_times = times.get(thread_id) or times.setdefault(thread_id, CheckpointTimes(thread_id))
            checkpoints[thread_id].append(
                CheckpointRecord(
                    checkpoint_ns=ns,
                    checkpoint_id=checkpoint_id,
                    parent_checkpoint_id=parent_id,
                    ts=thread_times.read(checkpoint_id=checkpoint_id, raw=ts),
                    metadata=metadata if isinstance(metadata, dict) else {},
                    channel_values={active_agent_channel: active_agent} if active_agent else {},
                    messages_version=version,
                    problem=_problem(kind),
                )
            )
        for thread_times in times.values():
            thread_times.warn()
        writes: dict[str, list[WriteRecord]] = defaultdict(list)
        decoder = ValueDecoder()
        for thread_id, ns, checkpoint_id, task_id, task_path, idx, channel, type_, blob in write_rows:
            writes[thread_id].append(
                WriteRecord(ns, checkpoint_id, str(task_id), task_path or "", idx, channel, type_, decoder.decode(type_, blob))
            )
        return [
            ThreadCheckpoints(thread_id, tuple(checkpoints[thread_id]), tuple(writes[thread_id]), source=self)
            for thread_id in thread_ids
            if thread_id in checkpoints
        ]

    def load_channel(self, *, thread_id: str, checkpoint_ns: str, channel: str, version: str) -> Decoded:
        with _binary_cursor(self._connect()) as cursor:
            row = cursor.execute(
                "SELECT type, blob FROM checkpoint_blobs "
                "WHERE thread_id = %s AND checkpoint_ns = %s AND channel = %s AND version = %s",
                (thread_id, checkpoint_ns, channel, version),
            ).fetchone()
        if row is None:
            return Decoded(error=f"no blob for channel {channel!r} at version {version}")
        return ValueDecoder().decode(row[0], row[1])

    def thread_signature(self, *, thread_id: str) -> tuple[str, int] | None:
        """``(newest checkpoint id, number of writes)`` of a thread, or None when it has no checkpoints:
        anything LangGraph adds to a thread changes one of the two."""
        row = psycopg.Cursor(self._connect()).execute(
            "SELECT max(checkpoint_id), (SELECT count(*) FROM checkpoint_writes WHERE thread_id = %(thread)s)::int "
            "FROM checkpoints WHERE thread_id = %(thread)s",
            {"thread": thread_id},
        ).fetchone()
        return (row[0], row[1]) if row and row[0] else None

    def iter_thread_heads(self, *, after: str, before: str | None = None) -> Iterator[tuple[str, str]]:
        """Every thread whose newest checkpoint id is in (``after``, ``before``], as ``(thread_id, newest
        checkpoint id)``, oldest head first; streamed, so memory stays flat on any number of threads."""
        with psycopg.connect(self._conninfo or checkpoint_conninfo()) as connection:
            with connection.cursor(name="thread_heads") as cursor:
                cursor.itersize = 5000
                cursor.execute(_THREAD_HEADS_SQL, {"after": after, "before": before or "~"})
                yield from cursor

    def count_thread_heads(self, *, after: str, before: str | None = None) -> int:
        sql = f"SELECT count(*) FROM ({_THREAD_HEADS_SQL}) heads"  # noqa: S608 - constant SQL
        return psycopg.Cursor(self._connect()).execute(sql, {"after": after, "before": before or "~"}).fetchone()[0]

    def recent_thread_signatures(self, *, after: str) -> list[tuple[str, str, int]]:
        """Threads with a checkpoint newer than ``after``: ``(thread_id, newest checkpoint id, writes)``.
        The write count catches writes that land after their checkpoint (an interrupt, a resume)."""
        return psycopg.Cursor(self._connect()).execute(
            _RECENT_SIGNATURES_SQL, {"after": after, "channels": list(self.channels)}
        ).fetchall()


_THREAD_HEADS_SQL = """
SELECT thread_id, max(checkpoint_id) AS newest FROM checkpoints
GROUP BY thread_id
HAVING max(checkpoint_id) > %(after)s AND max(checkpoint_id) <= %(before)s
ORDER BY newest
"""

_RECENT_SIGNATURES_SQL = """
SELECT recent.thread_id, recent.newest,
       (SELECT count(*) FROM checkpoint_writes w
        WHERE w.thread_id = recent.thread_id AND w.channel = ANY(%(channels)s))::int
FROM (SELECT thread_id, max(checkpoint_id) AS newest FROM checkpoints
      WHERE checkpoint_id > %(after)s GROUP BY thread_id) recent
ORDER BY recent.newest
"""
