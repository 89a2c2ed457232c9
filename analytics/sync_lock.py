"""The lock that makes deriving analytics one-run-at-a-time (or one run per shard).

A PostgreSQL session-level advisory lock, held by the command's own process on a connection of its
own for the whole run — worker processes, batches and ``--follow`` included. Django's connections
are closed and reopened around worker processes and after database faults, so the lock cannot live
on one of them. The holding connection's ``application_name`` names the process, so a refused run
can say who holds the lock and since when.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg
from django.db import connection

from replay.thread_shards import ALL_THREADS, MOST_SHARDS, ThreadShard

LOCK_KEY = 0x5AA7_0001
_APPLICATION_PREFIX = "backfill_events"

# How shards share the run. An unsharded run takes LOCK_KEY exclusively, as it always has; a shard takes it
# shared, plus its own key (LOCK_KEY, count * _PER_COUNT + index) exclusively. So the shards of one split
# run side by side, a second copy of a shard is refused by its own key, and an unsharded run — it derives
# every thread, rebuilds all rollups and may swap in a rebuild — is refused while any shard runs, and every
# shard while it runs. Two splits by different n would derive the same threads twice at once: refused too.
_PER_COUNT = MOST_SHARDS  # a split's keys end before the next split's begin

_HOLDER_SQL = """
SELECT activity.application_name, activity.client_addr::text, activity.backend_start
FROM pg_locks
JOIN pg_stat_activity AS activity ON activity.pid = pg_locks.pid
WHERE pg_locks.locktype = 'advisory' AND pg_locks.granted AND pg_locks.pid <> pg_backend_pid()
  AND pg_locks.classid = %(classid)s AND pg_locks.objsubid = %(objsubid)s
  AND (pg_locks.objid::bigint BETWEEN %(first)s AND %(last)s) <> %(outside)s
  AND pg_locks.database = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY activity.backend_start
"""


@dataclass(frozen=True)
class _Keys:
    """Advisory locks as pg_locks shows them: a lock on one bigint as classid = its high 32 bits, objid =
    its low 32 bits, objsubid = 1; a lock on two integers as classid = the first, objid = the second,
    objsubid = 2. ``first``..``last`` bound objid (``outside``: every objid but those)."""

    classid: int
    objsubid: int
    first: int
    last: int
    outside: bool = False

    @classmethod
    def of_shards(cls, *, count: int, index: int | None = None, outside: bool = False) -> _Keys:
        first = count * _PER_COUNT
        if index is not None:
            return cls(classid=LOCK_KEY, objsubid=2, first=first + index, last=first + index)
        return cls(classid=LOCK_KEY, objsubid=2, first=first, last=first + _PER_COUNT - 1, outside=outside)


_EVERY_THREAD = _Keys(classid=LOCK_KEY >> 32, objsubid=1, first=LOCK_KEY & 0xFFFF_FFFF, last=LOCK_KEY & 0xFFFF_FFFF)


class SyncLocked(RuntimeError):
    """Another run holds the lock; the message names it."""


def _django_database_params() -> dict:
    """libpq parameters of Django's database (where the derived tables, and so the lock, live)."""
    params = connection.get_connection_params()
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    return params


class SyncLock:
    """Hold the advisory lock of ``shard`` (every thread by default) on a dedicated connection:
    ``acquire()``, ``ensure_held()`` after a database fault, ``release()``. Also a context manager."""

    def __init__(self, *, shard: ThreadShard = ALL_THREADS) -> None:
        self._connection: psycopg.Connection | None = None
        self.shard = shard
        run = _APPLICATION_PREFIX if shard.is_all else f"{_APPLICATION_PREFIX} --shard {shard}"
        self.application_name = f"{run} pid {os.getpid()} on {socket.gethostname()}"[:63]

    def __enter__(self) -> SyncLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise ``SyncLocked`` naming the process that holds it."""
        lock_connection = psycopg.connect(
            **_django_database_params(), autocommit=True, application_name=self.application_name
        )
        try:
            refusal = self._refusal(lock_connection)
        except BaseException:
            lock_connection.close()
            raise
        if refusal is None:
            self._connection = lock_connection
            return
        lock_connection.close()  # and with it whatever part of the lock it took
        raise SyncLocked(f"{refusal}; wait for it to finish or stop it, then run again")

    def _refusal(self, lock_connection: psycopg.Connection) -> str | None:
        """Try to take the lock on ``lock_connection``: None when taken, else why not."""
        take = "SELECT pg_try_advisory_lock(%s)" if self.shard.is_all else "SELECT pg_try_advisory_lock_shared(%s)"
        if not lock_connection.execute(take, (LOCK_KEY,)).fetchone()[0]:
            return f"another backfill_events is running ({describe_holder(lock_connection)})"
        if self.shard.is_all:
            return None
        shard = self.shard
        own = _Keys.of_shards(count=shard.count, index=shard.index)
        if not lock_connection.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_KEY, own.first)).fetchone()[0]:
            return f"another backfill_events --shard {shard} is running ({describe_holder(lock_connection, keys=own)})"
        # Taken first, looked for second: of two different splits starting at once, at least one sees the other.
        other_splits = _Keys.of_shards(count=shard.count, outside=True)
        if _holders(lock_connection, keys=other_splits):
            return (
                f"backfill_events with another --shard i/n than i/{shard.count} is running "
                f"({describe_holder(lock_connection, keys=other_splits)}): every shard running at once must split by the same n"
            )
        return None

    def ensure_held(self) -> None:
        """After a database fault: if the lock's connection died with it, take the lock again."""
        if self._connection is not None and not self._connection.closed:
            try:
                self._connection.execute("SELECT 1")
                return
            except psycopg.Error:
                self._connection.close()
        self._connection = None
        self.acquire()

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            # Released by the server before the next run can ask: a closed session's backend releases its
            # locks only as it exits, a moment after close() returns.
            with contextlib.suppress(psycopg.Error):
                self._connection.execute("SELECT pg_advisory_unlock_all()")
            self._connection.close()
        finally:
            self._connection = None


def _holders(lock_connection: psycopg.Connection, *, keys: _Keys) -> list[tuple[str, str | None, datetime]]:
    return lock_connection.execute(_HOLDER_SQL, asdict(keys)).fetchall()


def describe_holder(lock_connection: psycopg.Connection, *, keys: _Keys = _EVERY_THREAD) -> str:
    """Who holds the lock (the unsharded run's key by default): the process and host from its
    application name, and since when."""
    rows = _holders(lock_connection, keys=keys)
    if not rows:
        return "the holder has just finished"
    application_name, client_address, since = rows[0]
    who = application_name if application_name.startswith(_APPLICATION_PREFIX) else f"a session named {application_name!r}"
    where = f" from {client_address}" if client_address else ""
    return f"held by {who}{where} since {_format_moment(since)}"


def _format_moment(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
