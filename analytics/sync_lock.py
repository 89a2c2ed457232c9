"""The lock that makes deriving analytics one-run-at-a-time.

A PostgreSQL session-level advisory lock, held by the command's own process on a connection of its
own for the whole run — worker processes, batches and ``--follow`` included. Django's connections
are closed and reopened around worker processes and after database faults, so the lock cannot live
on one of them. The holding connection's ``application_name`` names the process, so a refused run
can say who holds the lock and since when.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

import psycopg
from django.db import connection

LOCK_KEY = 0x5AA7_0001
_APPLICATION_PREFIX = "backfill_events"

# pg_try_advisory_lock(bigint) shows in pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
_HOLDER_SQL = """
SELECT activity.application_name, activity.client_addr::text, activity.backend_start
FROM pg_locks
JOIN pg_stat_activity AS activity ON activity.pid = pg_locks.pid
WHERE pg_locks.locktype = 'advisory' AND pg_locks.granted AND pg_locks.objsubid = 1
  AND pg_locks.classid = %(high)s AND pg_locks.objid = %(low)s AND pg_locks.database = (
      SELECT oid FROM pg_database WHERE datname = current_database())
"""


class SyncLocked(RuntimeError):
    """Another run holds the lock; the message names it."""


def _django_database_params() -> dict:
    """libpq parameters of Django's database (where the derived tables, and so the lock, live)."""
    params = connection.get_connection_params()
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    return params


class SyncLock:
    """Hold the advisory lock on a dedicated connection: ``acquire()``, ``ensure_held()`` after a
    database fault, ``release()``. Also a context manager."""

    def __init__(self) -> None:
        self._connection: psycopg.Connection | None = None
        self.application_name = f"{_APPLICATION_PREFIX} pid {os.getpid()} on {socket.gethostname()}"[:63]

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
        if lock_connection.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            self._connection = lock_connection
            return
        try:
            holder = describe_holder(lock_connection)
        finally:
            lock_connection.close()
        raise SyncLocked(
            f"another backfill_events is running ({holder}); wait for it to finish or stop it, then run again"
        )

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
            # closing the session releases the lock
            self._connection.close()
        finally:
            self._connection = None


def describe_holder(lock_connection: psycopg.Connection) -> str:
    """Who holds the lock: the process and host from its application name, and since when."""
    row = lock_connection.execute(_HOLDER_SQL, {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFF_FFFF}).fetchone()
    if row is None:
        return "the holder has just finished"
    application_name, client_address, since = row
    who = application_name if application_name.startswith(_APPLICATION_PREFIX) else f"a session named {application_name!r}"
    where = f" from {client_address}" if client_address else ""
    return f"held by {who}{where} since {_format_moment(since)}"


def _format_moment(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
