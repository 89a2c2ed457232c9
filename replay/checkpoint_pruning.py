"""Deleting threads from LangGraph's checkpoint tables: the one place the back office writes to them.

LangGraph has no prune for PostgreSQL. What may be deleted is decided elsewhere (analytics/retention.py);
this module only checks that the back office's role may delete, counts the rows, and deletes whole
threads — every namespace of all three tables — in one transaction per batch, and only those whose
newest checkpoint is still the one the caller decided on: a thread that grew since is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from replay.checkpoints import CHECKPOINT_TABLES


class DeleteNotGranted(PermissionError):
    """The checkpoint database's role may not delete from some checkpoint tables."""

    def __init__(self, *, role: str, tables: tuple[str, ...]) -> None:
        super().__init__(f"role {role!r} lacks DELETE on {', '.join(tables)}")
        self.role = role
        self.tables = tables

    @property
    def grant(self) -> str:
        """The statement an owner of the tables runs to allow pruning."""
        return f'GRANT DELETE ON {", ".join(self.tables)} TO "{self.role}";'


@dataclass(frozen=True)
class CheckpointRows:
    """Rows of the three checkpoint tables, counted or deleted."""

    checkpoints: int = 0
    blobs: int = 0
    writes: int = 0

    def __add__(self, other: CheckpointRows) -> CheckpointRows:
        return CheckpointRows(
            checkpoints=self.checkpoints + other.checkpoints, blobs=self.blobs + other.blobs,
            writes=self.writes + other.writes,
        )


@dataclass(frozen=True)
class DeletedThreads:
    """What one batch deleted: ``thread_ids`` are gone whole; ``grown`` had a newer checkpoint and were kept."""

    thread_ids: tuple[str, ...]
    grown: tuple[str, ...]
    rows: CheckpointRows


class CheckpointDatabaseReadOnly(PermissionError):
    """The checkpoint database refuses writes: a replica, or a session set read-only."""


def check_writable(*, connection: psycopg.Connection) -> None:
    """Raise CheckpointDatabaseReadOnly when this connection cannot delete anything (a hot standby, or
    ``default_transaction_read_only``), before anything is decided: privileges replicate, so a replica
    passes check_delete_granted and refuses only at the first DELETE."""
    read_only = connection.execute(
        "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean"
    ).fetchone()[0]
    if read_only:
        raise CheckpointDatabaseReadOnly("the checkpoint database is read-only")


def check_delete_granted(*, connection: psycopg.Connection) -> None:
    """Raise DeleteNotGranted unless the connection's role may delete from every checkpoint table."""
    rows = connection.execute(
        "SELECT current_user, name, has_table_privilege(current_user, name, 'DELETE') "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS t(name, position) ORDER BY position",
        (list(CHECKPOINT_TABLES),),
    ).fetchall()
    refused = tuple(name for _, name, granted in rows if not granted)
    if refused:
        raise DeleteNotGranted(role=rows[0][0], tables=refused)


_HEADS_SQL = "SELECT thread_id, max(checkpoint_id) FROM checkpoints WHERE thread_id = ANY(%s) GROUP BY thread_id"
_DELETE_CHECKPOINTS_SQL = "DELETE FROM checkpoints WHERE thread_id = ANY(%s) RETURNING thread_id, checkpoint_id"
_LEFT_SQL = " UNION ".join(
    f"SELECT thread_id FROM {table} WHERE thread_id = ANY(%(threads)s)" for table in CHECKPOINT_TABLES  # noqa: S608
)


def count_thread_rows(*, connection: psycopg.Connection, thread_ids: Sequence[str]) -> CheckpointRows:
    """How many rows of each checkpoint table these threads hold (what pruning them would delete)."""
    counts = [
        connection.execute(f"SELECT count(*) FROM {table} WHERE thread_id = ANY(%s)", (list(thread_ids),)).fetchone()[0]  # noqa: S608
        for table in CHECKPOINT_TABLES
    ]
    return CheckpointRows(*counts)


class _ThreadsWentOn(Exception):
    """Rolls a batch back: some of its threads got rows while they were being deleted."""


def delete_threads(*, connection: psycopg.Connection, heads: dict[str, str]) -> DeletedThreads:
    """In one transaction, delete every row of the threads of ``heads`` (``thread_id → newest checkpoint
    id``) whose newest checkpoint is still that one. A thread that grew meanwhile, even while its rows
    were being deleted, is kept whole: the batch is rolled back and done again without it."""
    grown: set[str] = set()
    while True:
        try:
            with connection.transaction():
                current = dict(connection.execute(_HEADS_SQL, (list(heads),)).fetchall())
                grown |= {thread for thread, head in current.items() if head != heads[thread]}
                doomed = [thread for thread in heads if thread not in grown and thread in current]
                if not doomed:
                    return DeletedThreads(thread_ids=(), grown=tuple(sorted(grown)), rows=CheckpointRows())
                # each DELETE sees what was committed when it began: a checkpoint the agent committed after
                # the heads were read is deleted with the rest, and names its thread as one that went on
                deleted = connection.execute(_DELETE_CHECKPOINTS_SQL, (doomed,)).fetchall()
                went_on = {thread for thread, checkpoint_id in deleted if checkpoint_id > heads[thread]}
                if went_on:
                    grown |= went_on
                    raise _ThreadsWentOn
                counts = [len(deleted)] + [
                    connection.execute(f"DELETE FROM {table} WHERE thread_id = ANY(%s)", (doomed,)).rowcount  # noqa: S608
                    for table in CHECKPOINT_TABLES if table != "checkpoints"
                ]
                # a row the agent commits after a DELETE began is not deleted by it: that thread went on
                left = {thread for (thread,) in connection.execute(_LEFT_SQL, {"threads": doomed}).fetchall()}
                if left:
                    grown |= left
                    raise _ThreadsWentOn
                return DeletedThreads(thread_ids=tuple(doomed), grown=tuple(sorted(grown)), rows=CheckpointRows(*counts))
        except _ThreadsWentOn:
            continue
