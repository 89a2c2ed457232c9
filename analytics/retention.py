"""Retention: deleting the checkpoints of threads idle for long, once their analytics are derived.

A thread is pruned only when its conversation row was derived at the thread's newest checkpoint after
that checkpoint settled (what makes a backfill skip it), it is not awaiting an approval whose expiry
the live sync has yet to record, and it is not a failed thread. Each batch is done in three steps:
mark the conversations (``checkpoints_pruned_at``, committed), delete the threads' rows in one
transaction of the checkpoint database (which may be another server), unmark the threads that grew
meanwhile. A run killed between the steps leaves marked threads whose rows are all still there: the
next run deletes them, or unmarks them if they grew. Nothing ever deletes a thread that is not marked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import psycopg
from django.db import transaction
from django.utils import timezone

from analytics.failed_threads import failed_heads
from analytics.sync import in_batches, is_derived
from replay.checkpoint_pruning import (
    CheckpointRows,
    check_delete_granted,
    check_writable,
    count_thread_rows,
    delete_threads,
)
from replay.checkpoint_times import checkpoint_id_floor
from replay.checkpoints import PostgresCheckpointSource, checkpoint_conninfo
from replay.models import Conversation, ConversationStatus

# One prune at a time per checkpoint database (a session lock on the pruning connection).
PRUNE_LOCK_KEY = 0x5AA7_0002


class PruneRunning(RuntimeError):
    """Another prune_checkpoints holds the lock on this checkpoint database."""


class CheckpointTablesMissing(LookupError):
    """The checkpoint database lacks some of LangGraph's tables."""

    def __init__(self, tables: tuple[str, ...]) -> None:
        super().__init__(", ".join(tables))
        self.tables = tables


@dataclass(frozen=True)
class PruneSummary:
    """What a run pruned (a dry run: would prune) and, by reason, the idle threads it kept."""

    threads: int = 0
    rows: CheckpointRows = field(default_factory=CheckpointRows)
    not_derived: int = 0
    # derived at an older checkpoint than the thread's newest, or before it settled
    stale: int = 0
    awaiting_approval: int = 0
    failed: int = 0
    # got a new checkpoint while being pruned
    grown: int = 0
    # threads active within the retention period, not looked at
    recent: int = 0
    seconds: float = 0.0

    def __add__(self, other: PruneSummary) -> PruneSummary:
        return PruneSummary(
            threads=self.threads + other.threads, rows=self.rows + other.rows,
            not_derived=self.not_derived + other.not_derived, stale=self.stale + other.stale,
            awaiting_approval=self.awaiting_approval + other.awaiting_approval, failed=self.failed + other.failed,
            grown=self.grown + other.grown, recent=self.recent + other.recent, seconds=self.seconds + other.seconds,
        )


def prune_checkpoints(
    *,
    older_than: timedelta,
    batch_size: int = 200,
    dry_run: bool = False,
    now: datetime | None = None,
    on_batch: Callable[[PruneSummary], None] = lambda batch: None,
) -> PruneSummary:
    """Delete the checkpoint rows (all three tables, every namespace) of threads whose newest checkpoint
    is older than ``now - older_than`` and whose analytics are derived; ``dry_run`` counts them and
    deletes nothing. Raise DeleteNotGranted (not for a dry run), CheckpointTablesMissing, PruneRunning."""
    started, now = time.monotonic(), now or timezone.now()
    floor = checkpoint_id_floor(now - older_than)
    with psycopg.connect(checkpoint_conninfo(), autocommit=True) as connection:
        source = PostgresCheckpointSource(connection=connection)
        missing = source.missing_tables()
        if missing:
            raise CheckpointTablesMissing(missing)
        if not dry_run:
            check_writable(connection=connection)
            check_delete_granted(connection=connection)
        if not connection.execute("SELECT pg_try_advisory_lock(%s)", (PRUNE_LOCK_KEY,)).fetchone()[0]:
            raise PruneRunning("another prune_checkpoints is running on this checkpoint database; wait for it to finish")
        summary = PruneSummary(recent=source.count_thread_heads(after=floor))
        for heads in in_batches(source.iter_thread_heads(after="", before=floor), batch_size):
            batch = _prune_batch(connection=connection, heads=dict(heads), dry_run=dry_run, now=now)
            on_batch(batch)
            summary += batch
    return replace(summary, seconds=time.monotonic() - started)


def _prune_batch(*, connection: psycopg.Connection, heads: dict[str, str], dry_run: bool, now: datetime) -> PruneSummary:
    """Prune the derived threads of one batch of idle ``thread_id → newest checkpoint id``."""
    conversations = {
        row["thread_id"]: row
        for row in Conversation.objects.filter(thread_id__in=list(heads)).values(
            "thread_id", "last_checkpoint_id", "synced_at", "status", "checkpoints_pruned_at"
        )
    }
    failed = failed_heads(thread_ids=list(heads))
    prunable: dict[str, str] = {}
    kept = {"not_derived": 0, "stale": 0, "awaiting_approval": 0, "failed": 0}
    for thread_id, head in heads.items():
        conversation = conversations.get(thread_id)
        if thread_id in failed:
            kept["failed"] += 1
        elif conversation is None:
            kept["not_derived"] += 1
        elif not is_derived(head=head, derived_head=conversation["last_checkpoint_id"], derived_at=conversation["synced_at"]):
            kept["stale"] += 1
        elif conversation["status"] == ConversationStatus.AWAITING_APPROVAL:
            kept["awaiting_approval"] += 1
        else:
            prunable[thread_id] = head
    if dry_run:
        return PruneSummary(threads=len(prunable), rows=count_thread_rows(connection=connection, thread_ids=list(prunable)), **kept)
    _unmark_never_pruned(
        connection=connection,
        derived_heads={
            thread_id: row["last_checkpoint_id"] for thread_id, row in conversations.items()
            if row["checkpoints_pruned_at"] is not None and thread_id not in prunable
        },
    )
    if not prunable:
        return PruneSummary(**kept)
    marked = Conversation.objects.filter(thread_id__in=list(prunable))
    with transaction.atomic():  # committed before a row goes: see the module's docstring
        marked.update(checkpoints_pruned_at=now)
    try:
        deleted = delete_threads(connection=connection, heads=prunable)
    except BaseException:
        # nothing of the batch was deleted (its transaction is rolled back): the sync must go on deriving it
        marked.update(checkpoints_pruned_at=None)
        raise
    if deleted.grown:
        Conversation.objects.filter(thread_id__in=list(deleted.grown)).update(checkpoints_pruned_at=None)
    # again once the rows are gone: a sync that read a thread whole before the delete took its mark off
    Conversation.objects.filter(thread_id__in=list(deleted.thread_ids)).update(checkpoints_pruned_at=now)
    return PruneSummary(threads=len(deleted.thread_ids), rows=deleted.rows, grown=len(deleted.grown), **kept)


def _unmark_never_pruned(*, connection: psycopg.Connection, derived_heads: dict[str, str]) -> None:
    """Marked threads that are not prunable now: a run killed after marking them left their rows
    whole (the checkpoint they were derived at is still there) and they grew since; the sync must
    derive them again. A thread whose derived checkpoint is gone was pruned, and later got new rows:
    it stays marked, its conversation is what was pruned."""
    if not derived_heads:
        return
    whole = [
        thread_id for (thread_id,) in connection.execute(
            "SELECT DISTINCT thread_id FROM checkpoints "
            "WHERE (thread_id, checkpoint_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            (list(derived_heads), list(derived_heads.values())),
        ).fetchall()
    ]
    Conversation.objects.filter(thread_id__in=whole).update(checkpoints_pruned_at=None)
