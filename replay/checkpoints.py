"""Reading LangGraph's checkpoint tables (``checkpoints``, ``checkpoint_blobs``, ``checkpoint_writes``).

They live in ``CHECKPOINT_DATABASE_URL`` or, when that is empty, in Django's own database — following
Django's connection settings, so the test suite reads the checkpoints of its test database, and a page
that reads from Django's read replica reads the checkpoints there too.

The reader never writes: its SQL only selects, and the connections it opens itself are read-only
(``default_transaction_read_only``), so ``CHECKPOINT_DATABASE_URL`` may point at a replica of the agent's
database.

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
from replay.checkpoint_records import (  # noqa: F401 - callers import the records from here
    LANGGRAPH_METADATA_KEYS,
    MESSAGES_CHANNEL,
    CheckpointRecord,
    StopReading,
    ThreadCheckpoints,
    WriteRecord,
    messages_versions_to_read,
)
from replay.functional_runs import START_CHANNEL, TASK_RESULT_CHANNELS, inputs_to_read
from replay.stored_values import Decoded, ValueDecoder
from replay.thread_shards import ALL_THREADS, ThreadShard
from smart_support.db_router import reading_alias

logger = logging.getLogger(__name__)

# Django OPTIONS that are not libpq connection parameters.
_NON_LIBPQ_OPTIONS = {"pool", "isolation_level", "server_side_binding", "assume_role", "cursor_factory"}

INTERRUPT_CHANNEL = "__interrupt__"
RESUME_CHANNEL = "__resume__"
ERROR_CHANNEL = "__error__"
# create_agent's ToolStrategy answer: which of its model's tool calls is the final answer, not a tool
STRUCTURED_RESPONSE_CHANNEL = "structured_response"
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"


def checkpoint_conninfo() -> str:
    """Return the libpq connection string of the database holding the checkpoint tables."""
    if settings.CHECKPOINT_DATABASE_URL:
        return settings.CHECKPOINT_DATABASE_URL
    database = connections["default"].settings_dict
    if database.get("EMBEDDED_PGDATA"):  # the embedded server's address is known once it runs
        from smart_support.embedded_db.base import start_server

        start_server(settings_dict=database)
    params: dict[str, Any] = {
        "dbname": database["NAME"],
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
    }
    params.update({key: value for key, value in database.get("OPTIONS", {}).items() if key not in _NON_LIBPQ_OPTIONS})
    return make_conninfo(**{key: value for key, value in params.items() if value is not None})


def read_only_conninfo(conninfo: str) -> str:
    """The same connection with every transaction read-only: a reader on it cannot write, whatever it runs."""
    options = conninfo_to_dict(conninfo).get("options") or ""
    return make_conninfo(conninfo, options=f"{options} -c default_transaction_read_only=on".strip())


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
    checkpoints live in Django's database (its replica while the request reads from it), else one from
    a process-wide pool of read-only connections."""
    global _pool
    if not settings.CHECKPOINT_DATABASE_URL:
        django_connection = connections[reading_alias()]
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
            read_only_conninfo(settings.CHECKPOINT_DATABASE_URL), min_size=1, max_size=4, kwargs=kwargs,
            timeout=POOL_TIMEOUT_SECONDS, check=ConnectionPool.check_connection, open=True,
        )
    with _pool.connection() as connection:
        yield PostgresCheckpointSource(connection=connection)


def described_conninfo(conninfo: str) -> str:
    """Where a connection string points, fit for a log line: database, user, host and port, no password."""
    params = conninfo_to_dict(conninfo)
    return " ".join(f"{key}={params[key]}" for key in ("dbname", "user", "host", "port") if params.get(key))


class CheckpointSource(Protocol):
    """Where checkpoints come from. Implementations read; they never write."""

    def get_thread(self, *, thread_id: str) -> ThreadCheckpoints | None: ...

    def get_threads(self, *, thread_ids: Sequence[str]) -> list[ThreadCheckpoints]: ...

    def thread_signature(self, *, thread_id: str) -> tuple[str, int] | None: ...

    def checkpoint_counts(self, *, thread_ids: Sequence[str]) -> dict[str, int]: ...

    def iter_thread_heads(
        self, *, after: str, before: str | None = None, shard: ThreadShard = ALL_THREADS
    ) -> Iterator[tuple[str, str]]: ...

    def count_thread_heads(self, *, after: str, before: str | None = None, shard: ThreadShard = ALL_THREADS) -> int: ...

    def recent_thread_signatures(self, *, after: str, shard: ThreadShard = ALL_THREADS) -> list[tuple[str, str, int]]: ...

    def ping(self) -> None: ...

    def missing_tables(self) -> tuple[str, ...]: ...


# Only what the timeline reads: no channel blobs, metadata without LangGraph's bookkeeping, of the
# inline channel values only the active agent — and, for the checkpoints where a run may have stopped at
# a static breakpoint, what LangGraph computes a thread's next tasks from (channel versions, the versions
# each node has seen, which channels hold a value). A run may have stopped at a checkpoint when the next one
# in its namespace is not a plain step, or resumed from it (LangGraph then records the versions it resumed
# at under versions_seen["__interrupt__"]), or when there is no next one; other checkpoints never carry them.
_CHECKPOINTS_SQL = """
SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint_value->>'ts',
       -- deleting keys from a scalar is an error that would fail the whole batch
       CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata - 'parents' - 'source' - 'step' - 'writes' END,
       checkpoint_value->'channel_values'->>%(active_agent)s, checkpoint_value->'channel_versions'->>%(messages)s,
       jsonb_typeof(checkpoint_value), source, checkpoint_value->'channel_versions'->>%(active_agent)s,
       COALESCE(resumed_by_next, false),
       CASE WHEN may_stop THEN checkpoint_value->'channel_versions' END,
       CASE WHEN may_stop AND jsonb_typeof(checkpoint_value->'versions_seen') = 'object'
            THEN (checkpoint_value->'versions_seen') - '__interrupt__' END,
       CASE WHEN may_stop AND jsonb_typeof(checkpoint_value->'channel_values') = 'object'
            THEN ARRAY(SELECT jsonb_object_keys(checkpoint_value->'channel_values')) END,
       -- langgraph before 1.0 named in metadata.writes the nodes of the step (or the node an update_state
       -- was made as) that made the checkpoint
       CASE WHEN source IN ('update', 'loop') AND jsonb_typeof(metadata->'writes') = 'object'
            THEN ARRAY(SELECT jsonb_object_keys(metadata->'writes')) END
FROM (
    -- an input checkpoint has only the input to run: never a stop
    SELECT *, (source IN ('update', 'fork') OR (source IS DISTINCT FROM 'input'
               AND (next_source IS DISTINCT FROM 'loop' OR resumed_by_next))) AS may_stop
    FROM (
        SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, metadata, checkpoint_value,
               metadata->>'source' AS source,
               lead(metadata->>'source') OVER next_in_namespace AS next_source,
               lead(checkpoint_value->'versions_seen'->'__interrupt__') OVER next_in_namespace
                   @> (checkpoint_value->'channel_versions') AS resumed_by_next
        FROM (
            -- "|| '{}'" detoasts each checkpoint once instead of once per field read (about a quarter faster)
            SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, metadata,
                   CASE WHEN jsonb_typeof(checkpoint) = 'object' THEN checkpoint || '{}'::jsonb ELSE checkpoint END AS checkpoint_value
            FROM checkpoints WHERE thread_id = ANY(%(thread_ids)s) OFFSET 0
        ) AS detoasted
        WINDOW next_in_namespace AS (PARTITION BY thread_id, checkpoint_ns ORDER BY checkpoint_id)
    ) AS ordered
) AS thread_checkpoints
ORDER BY thread_id, checkpoint_id, checkpoint_ns
"""

# Channel blobs the timeline needs besides messages: the active agent's value when it is not a primitive
# (a stack of agents is a list), and whether the channels that trigger nodes held a value (savers before
# the inline primitives kept every channel in a blob; an "empty" blob is a channel without a value).
_BLOBS_SQL = """
SELECT thread_id, checkpoint_ns, channel, version, type, CASE WHEN channel = %(active_agent)s THEN blob END
FROM checkpoint_blobs
WHERE thread_id = ANY(%(thread_ids)s)
  AND (channel = %(active_agent)s OR channel LIKE 'branch:%%' OR channel LIKE 'start:%%' OR channel LIKE 'join:%%')
"""

_MESSAGE_BLOBS_SQL = """
SELECT blobs.thread_id, blobs.checkpoint_ns, blobs.version, blobs.type, blobs.blob
FROM unnest(%(threads)s::text[], %(namespaces)s::text[], %(versions)s::text[]) AS wanted(thread_id, checkpoint_ns, version)
JOIN checkpoint_blobs AS blobs
  ON blobs.thread_id = wanted.thread_id AND blobs.checkpoint_ns = wanted.checkpoint_ns
 AND blobs.channel = %(channel)s AND blobs.version = wanted.version
"""

# A Functional API run's input: the __start__ channel at the version its input checkpoint names.
_RUN_INPUTS_SQL = """
SELECT checkpoints.thread_id, checkpoints.checkpoint_ns, checkpoints.checkpoint_id, blobs.type, blobs.blob
FROM unnest(%(threads)s::text[], %(namespaces)s::text[], %(checkpoint_ids)s::text[]) AS wanted(thread_id, checkpoint_ns, checkpoint_id)
JOIN checkpoints
  ON checkpoints.thread_id = wanted.thread_id AND checkpoints.checkpoint_ns = wanted.checkpoint_ns
 AND checkpoints.checkpoint_id = wanted.checkpoint_id
JOIN checkpoint_blobs AS blobs
  ON blobs.thread_id = checkpoints.thread_id AND blobs.checkpoint_ns = checkpoints.checkpoint_ns
 AND blobs.channel = %(channel)s AND blobs.version = checkpoints.checkpoint->'channel_versions'->>%(channel)s
WHERE jsonb_typeof(checkpoints.checkpoint) = 'object'
"""

# langgraph-checkpoint-postgres before 2.0 made checkpoint_writes without task_path: there the unqualified
# name resolves to the outer query's empty text instead (a column of the innermost table wins when it exists).
_WRITES_SQL = """
SELECT writes.* FROM (SELECT ''::text AS task_path) AS without_task_path, LATERAL (
    SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
    FROM checkpoint_writes
    WHERE thread_id = ANY(%(thread_ids)s) AND channel = ANY(%(channels)s)
) AS writes
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


class _ChannelBlobs:
    """The blobs of one batch of threads that the checkpoint headers refer to, by channel and version."""

    def __init__(self, rows: list[tuple], *, decoder: ValueDecoder, active_agent_channel: str) -> None:
        self.active_agent_channel = active_agent_channel
        self.decoder = decoder
        self.rows: dict[tuple[str, str, str, str], tuple[str | None, bytes | None]] = {
            (thread_id, ns, channel, str(version)): (type_, blob) for thread_id, ns, channel, version, type_, blob in rows
        }

    def active_agent(self, thread_id: str, ns: str, version: Any) -> Any:
        """The active-agent channel's value when it is kept in a blob (a stack of agents is a list)."""
        type_, blob = self.rows.get((thread_id, ns, self.active_agent_channel, str(version)), (None, None))
        return self.decoder.decode(type_, blob).value if type_ not in (None, "empty") else None

    def stop_reading(
        self, thread_id: str, ns: str, channel_versions: Any, versions_seen: Any, inline_channels: list[str] | None
    ) -> StopReading | None:
        """What the next tasks of a checkpoint are computed from; None when it was not read or is damaged."""
        if not isinstance(channel_versions, dict) or not isinstance(versions_seen, dict):
            return None
        available = set(inline_channels or ())
        for channel, version in channel_versions.items():
            type_, _ = self.rows.get((thread_id, ns, channel, str(version)), (None, None))
            if type_ not in (None, "empty"):
                available.add(channel)
        return StopReading(channel_versions, versions_seen, frozenset(available))


CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


class PostgresCheckpointSource:
    """Reads LangGraph's PostgresSaver tables with psycopg 3, one round trip per table for a batch of threads."""

    channels: tuple[str, ...] = (
        MESSAGES_CHANNEL, INTERRUPT_CHANNEL, RESUME_CHANNEL, ERROR_CHANNEL, STRUCTURED_RESPONSE_CHANNEL,
        *TASK_RESULT_CHANNELS,
    )

    def __init__(self, *, conninfo: str | None = None, connection: psycopg.Connection | None = None) -> None:
        """Read through a borrowed ``connection`` (left open), or a connection of our own to ``conninfo``."""
        self._conninfo = conninfo
        self._connection = connection
        self._owns_connection = connection is None

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(read_only_conninfo(self._conninfo or checkpoint_conninfo()), autocommit=True)
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

    def _read_channels(self) -> list[str]:
        """The channels whose writes are read: LangGraph's own, and those whose input is the user's message."""
        return [*self.channels, *settings.SMART_SUPPORT.get("INPUT_CHANNELS", ())]

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
            "channels": self._read_channels(),
        }
        # All three queries in one round trip.
        with (
            connection.pipeline(),
            psycopg.Cursor(connection) as header_cursor,
            _binary_cursor(connection) as write_cursor,
            _binary_cursor(connection) as blob_cursor,
        ):
            header_cursor.adapters.register_loader("jsonb", _OrjsonLoader)
            header_cursor.execute(_CHECKPOINTS_SQL, params)
            write_cursor.execute(_WRITES_SQL, params)
            blob_cursor.execute(_BLOBS_SQL, params)
            header_rows = header_cursor.fetchall()
            write_rows = write_cursor.fetchall()
            blob_rows = blob_cursor.fetchall()
        decoder = ValueDecoder()
        blobs = _ChannelBlobs(blob_rows, decoder=decoder, active_agent_channel=active_agent_channel)
        checkpoints: dict[str, list[CheckpointRecord]] = defaultdict(list)
        times: dict[str, CheckpointTimes] = {}
        for row in header_rows:
            thread_id, ns, checkpoint_id, parent_id, ts, metadata, active_agent, version, kind, *stop_columns = row
            source, agent_version, resumed_by_next, channel_versions, versions_seen, inline_channels, written_by = stop_columns
            thread_times = times.get(thread_id) or times.setdefault(thread_id, CheckpointTimes(thread_id))
            if active_agent is None and agent_version is not None:
                active_agent = blobs.active_agent(thread_id, ns, agent_version)
            checkpoints[thread_id].append(
                CheckpointRecord(
                    checkpoint_ns=ns,
                    checkpoint_id=checkpoint_id,
                    parent_checkpoint_id=parent_id,
                    ts=thread_times.read(checkpoint_id=checkpoint_id, raw=ts),
                    metadata=metadata if isinstance(metadata, dict) else {},
                    channel_values={active_agent_channel: active_agent} if active_agent is not None else {},
                    messages_version=version,
                    problem=_problem(kind),
                    source=source,
                    resumed_by_next=bool(resumed_by_next),
                    stop_reading=blobs.stop_reading(thread_id, ns, channel_versions, versions_seen, inline_channels),
                    update_nodes=tuple(written_by or ()) if source == "update" else (),
                    step_nodes=tuple(written_by or ()) if source == "loop" else (),
                )
            )
        for thread_times in times.values():
            thread_times.warn()
        writes: dict[str, list[WriteRecord]] = defaultdict(list)
        for thread_id, ns, checkpoint_id, task_id, task_path, idx, channel, type_, blob in write_rows:
            writes[thread_id].append(
                WriteRecord(ns, checkpoint_id, str(task_id), task_path or "", idx, channel, type_, decoder.decode(type_, blob))
            )
        message_blobs, run_inputs = self._message_blobs(connection, checkpoints, writes, decoder)
        return [
            ThreadCheckpoints(
                thread_id, tuple(checkpoints[thread_id]), tuple(writes[thread_id]),
                message_blobs=message_blobs.get(thread_id, {}), run_inputs=run_inputs.get(thread_id, {}),
            )
            for thread_id in thread_ids
            if thread_id in checkpoints
        ]

    def _message_blobs(
        self, connection: psycopg.Connection, checkpoints: dict[str, list[CheckpointRecord]],
        writes: dict[str, list[WriteRecord]], decoder: ValueDecoder,
    ) -> tuple[dict[str, dict[tuple[str, str], Decoded]], dict[str, dict[tuple[str, str], Decoded]]]:
        """The ``messages`` blobs the batch's timelines need and the inputs of its Functional API runs, in
        one more round trip (none for threads whose every step left its writes)."""
        wanted = [
            (thread_id, ns, version)
            for thread_id, records in checkpoints.items()
            for ns, version in messages_versions_to_read(records, writes.get(thread_id, ()))
        ]
        inputs = [
            (thread_id, ns, checkpoint_id)
            for thread_id, records in checkpoints.items()
            for ns, checkpoint_id in inputs_to_read(records, writes.get(thread_id, ()))
        ]
        found: dict[str, dict[tuple[str, str], Decoded]] = defaultdict(dict)
        found_inputs: dict[str, dict[tuple[str, str], Decoded]] = defaultdict(dict)
        if not wanted and not inputs:
            return found, found_inputs
        rows, input_rows = [], []
        with connection.pipeline(), _binary_cursor(connection) as cursor, _binary_cursor(connection) as input_cursor:
            if wanted:
                threads, namespaces, versions = (list(column) for column in zip(*wanted))
                cursor.execute(
                    _MESSAGE_BLOBS_SQL,
                    {"threads": threads, "namespaces": namespaces, "versions": versions, "channel": MESSAGES_CHANNEL},
                )
            if inputs:
                threads, namespaces, checkpoint_ids = (list(column) for column in zip(*inputs))
                input_cursor.execute(
                    _RUN_INPUTS_SQL,
                    {"threads": threads, "namespaces": namespaces, "checkpoint_ids": checkpoint_ids, "channel": START_CHANNEL},
                )
            rows = cursor.fetchall() if wanted else []
            input_rows = input_cursor.fetchall() if inputs else []
        for thread_id, ns, version in wanted:
            found[thread_id][(ns, version)] = Decoded(error=f"no blob for channel {MESSAGES_CHANNEL!r} at version {version}")
        for thread_id, ns, version, type_, blob in rows:
            found[thread_id][(ns, str(version))] = decoder.decode(type_, blob)
        for thread_id, ns, checkpoint_id, type_, blob in input_rows:
            found_inputs[thread_id][(ns, checkpoint_id)] = decoder.decode(type_, blob)
        return found, found_inputs

    def thread_signature(self, *, thread_id: str) -> tuple[str, int] | None:
        """``(newest checkpoint id, number of writes)`` of a thread, or None when it has no checkpoints:
        anything LangGraph adds to a thread changes one of the two."""
        row = psycopg.Cursor(self._connect()).execute(
            "SELECT max(checkpoint_id), (SELECT count(*) FROM checkpoint_writes WHERE thread_id = %(thread)s)::int "
            "FROM checkpoints WHERE thread_id = %(thread)s",
            {"thread": thread_id},
        ).fetchone()
        return (row[0], row[1]) if row and row[0] else None

    def checkpoint_counts(self, *, thread_ids: Sequence[str]) -> dict[str, int]:
        """How many checkpoints each of these threads holds (threads without any are left out)."""
        return dict(
            psycopg.Cursor(self._connect()).execute(
                "SELECT thread_id, count(*)::int FROM checkpoints WHERE thread_id = ANY(%s) GROUP BY thread_id",
                (list(thread_ids),),
            ).fetchall()
        )

    def iter_thread_heads(
        self, *, after: str, before: str | None = None, shard: ThreadShard = ALL_THREADS
    ) -> Iterator[tuple[str, str]]:
        """Every thread of ``shard`` whose newest checkpoint id is in (``after``, ``before``], as ``(thread_id,
        newest checkpoint id)``, oldest head first; streamed, so memory stays flat on any number of threads."""
        with psycopg.connect(read_only_conninfo(self._conninfo or checkpoint_conninfo())) as connection:
            with connection.cursor(name="thread_heads") as cursor:
                cursor.itersize = 5000
                cursor.execute(_thread_heads_sql(shard), {"after": after, "before": before or "~"})
                yield from cursor

    def count_thread_heads(self, *, after: str, before: str | None = None, shard: ThreadShard = ALL_THREADS) -> int:
        sql = f"SELECT count(*) FROM ({_thread_heads_sql(shard)}) heads"  # noqa: S608 - constant SQL
        return psycopg.Cursor(self._connect()).execute(sql, {"after": after, "before": before or "~"}).fetchone()[0]

    def recent_thread_signatures(self, *, after: str, shard: ThreadShard = ALL_THREADS) -> list[tuple[str, str, int]]:
        """Threads of ``shard`` with a checkpoint newer than ``after``: ``(thread_id, newest checkpoint id,
        writes)``. The write count catches writes that land after their checkpoint (an interrupt, a resume)."""
        return psycopg.Cursor(self._connect()).execute(
            _RECENT_SIGNATURES_SQL.format(in_shard=shard.condition_sql(thread_id="thread_id")),
            {"after": after, "channels": self._read_channels()},
        ).fetchall()

    def missing_tables(self) -> tuple[str, ...]:
        """LangGraph's tables this database lacks (in its search path): all of them until the agent's
        ``PostgresSaver.setup()`` has run there."""
        rows = psycopg.Cursor(self._connect()).execute(
            "SELECT name FROM unnest(%s::text[]) WITH ORDINALITY AS t(name, position) WHERE to_regclass(name) IS NULL ORDER BY position",
            (list(CHECKPOINT_TABLES),),
        ).fetchall()
        return tuple(name for (name,) in rows)

    def ping(self) -> None:
        """Reach the checkpoint database (a psycopg error when it cannot be reached)."""
        psycopg.Cursor(self._connect()).execute("SELECT 1")


# The shard is tested once per thread (HAVING), not once per checkpoint.
_THREAD_HEADS_SQL = """
SELECT thread_id, max(checkpoint_id) AS newest FROM checkpoints
GROUP BY thread_id
HAVING max(checkpoint_id) > %(after)s AND max(checkpoint_id) <= %(before)s AND {in_shard}
ORDER BY newest
"""


def _thread_heads_sql(shard: ThreadShard) -> str:
    return _THREAD_HEADS_SQL.format(in_shard=shard.condition_sql(thread_id="thread_id"))


_RECENT_SIGNATURES_SQL = """
SELECT recent.thread_id, recent.newest,
       (SELECT count(*) FROM checkpoint_writes w
        WHERE w.thread_id = recent.thread_id AND w.channel = ANY(%(channels)s))::int
FROM (SELECT thread_id, max(checkpoint_id) AS newest FROM checkpoints
      WHERE checkpoint_id > %(after)s GROUP BY thread_id HAVING {in_shard}) recent
ORDER BY recent.newest
"""
