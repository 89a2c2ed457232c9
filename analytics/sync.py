"""Keeping the analytics in step with the checkpoints: the resumable backfill and live sync.

Which threads a run derives is decided by comparing each thread's newest checkpoint with what was
derived of it, not by a clock-ordered watermark: checkpoint ids are stamped when a checkpoint is
made, not when it is committed, and an app (or ``simulate_conversations``) may write checkpoints with
older ids after a run. So a rerun never loses a thread, and a killed run resumes where it stopped.

A thread that cannot be read or derived costs only itself: it is recorded in ``FailedThread`` and
every other thread is derived. A batch is read, derived and recorded a chunk of threads at a time (a bounded
number of threads and checkpoints), each chunk in one transaction; if a chunk cannot be written, its threads
are written one by one so that only the bad one is left out.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import psycopg
from django.db import DatabaseError, connections, transaction
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError

from analytics.derive import DerivedThread, derive_thread
from analytics.failed_threads import ThreadFailure, clear_failures, failed_heads, failed_thread_ids, record_failures
from analytics.models import EventSource, SyncState
from analytics.pricing import RepriceResult, load_price_lookup, run_pending_reprices
from analytics.recorder import AnalyticsRecorder
from analytics.storage import rebuild_rollups, tidy_after_bulk_write
from analytics.sync_status import record_pass, state_name
from replay.checkpoint_times import checkpoint_id_floor, uuid6_time
from replay.checkpoints import PostgresCheckpointSource, ThreadCheckpoints, close_checkpoint_pool
from replay.models import Conversation, ConversationStatus
from replay.steps import approval_expiry_cutoff
from replay.thread_shards import ALL_THREADS, ThreadShard
from replay.timeline import PriceLookup, TimelineRules

logger = logging.getLogger(__name__)
Item = TypeVar("Item")

# LangGraph may save a checkpoint's writes (an interrupt, a resume) after the checkpoint itself, and
# checkpoints committed out of id order: a thread derived less than this after its newest checkpoint
# is derived again by the next run, and live sync re-reads this much behind its watermark.
SETTLE_TIME = timedelta(minutes=2)
# Up to this many threads a backfill keeps the hourly rollups current batch by batch.
ROLLUPS_PER_BATCH_UP_TO = 2000
# Threads read, derived and recorded at once (one transaction), and at most this many of their checkpoints:
# memory stays flat whatever the threads' lengths. A chunk of 20 clones of a 429-checkpoint thread took a worker
# from 100 MB to 260 MB; with 2,000 checkpoints at once it peaked at 131 MB.
READ_AT_ONCE = 100
MOST_CHECKPOINTS_AT_ONCE = 2000
# Threads of a live pass handed to sync_threads at once (recorded a chunk at a time, as any batch).
LIVE_BATCH_SIZE = 200
# The database itself failing is not a thread's fault: such errors stop the batch, never mark a thread.
DATABASE_FAULTS = (psycopg.OperationalError, psycopg.InterfaceError, DjangoOperationalError, DjangoInterfaceError)
# What the database says of one thread's rows (the recorder writes through psycopg directly).
REFUSED_WRITES = (DatabaseError, psycopg.DatabaseError)


@dataclass
class SyncSummary:
    threads: int = 0
    events: int = 0
    unpriced_tokens: int = 0
    unknown_steps: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    unpriced_models: set[str] = field(default_factory=set)

    def merge(self, other: SyncSummary) -> None:
        self.threads += other.threads
        self.events += other.events
        self.unpriced_tokens += other.unpriced_tokens
        self.unknown_steps += other.unknown_steps
        self.failed += other.failed
        self.skipped += other.skipped
        self.unpriced_models |= other.unpriced_models

    def add(self, derived: list[DerivedThread], events: int) -> None:
        self.threads += len(derived)
        self.events += events
        for thread in derived:
            self.unpriced_models.update(thread.conversation.unpriced_models)
            self.unpriced_tokens += sum(
                event.input_tokens + event.output_tokens for event in thread.events if event.status == "unpriced"
            )
            self.unknown_steps += sum(1 for event in thread.events if event.event_type == "unknown")


def in_batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- one batch, each thread isolated ------------------------------------------------------------------

def _read_threads(
    source: PostgresCheckpointSource, thread_ids: Sequence[str]
) -> tuple[list[ThreadCheckpoints], list[ThreadFailure]]:
    try:
        return source.get_threads(thread_ids=thread_ids), []
    except DATABASE_FAULTS:
        raise
    except Exception:  # noqa: BLE001 - one thread's rows broke the batch read: read them one by one
        threads, failures = [], []
        for thread_id in thread_ids:
            try:
                thread = source.get_thread(thread_id=thread_id)
            except DATABASE_FAULTS:
                raise
            except Exception as error:  # noqa: BLE001
                failures.append(ThreadFailure.of(thread_id=thread_id, error=error))
                continue
            if thread is not None:
                threads.append(thread)
        return threads, failures


def _derive_each(
    threads: list[ThreadCheckpoints], *, now: datetime, price_lookup: PriceLookup, rules: TimelineRules
) -> tuple[list[DerivedThread], list[ThreadFailure]]:
    derived, failures = [], []
    for thread in threads:
        try:
            derived.append(derive_thread(thread=thread, price_lookup=price_lookup, now=now, rules=rules))
        except Exception as error:  # noqa: BLE001 - one thread's data never stops the others
            failures.append(
                ThreadFailure.of(thread_id=thread.thread_id, error=error, last_checkpoint_id=thread.newest_checkpoint_id)
            )
    return derived, failures


def _record_each(
    recorder: AnalyticsRecorder, derived: list[DerivedThread], *, origin: str, refresh_rollups: bool
) -> tuple[list[DerivedThread], int, list[ThreadFailure]]:
    """Record the batch at once; if the database refuses it, thread by thread, leaving out the refused."""
    try:
        with transaction.atomic():
            return derived, recorder.record(threads=derived, source=origin, refresh_rollups=refresh_rollups), []
    except DATABASE_FAULTS:
        raise
    except REFUSED_WRITES:
        pass
    recorded, events, failures = [], 0, []
    for thread in derived:
        try:
            with transaction.atomic():
                events += recorder.record(threads=[thread], source=origin, refresh_rollups=refresh_rollups)
            recorded.append(thread)
        except DATABASE_FAULTS:
            raise
        except REFUSED_WRITES as error:
            failures.append(
                ThreadFailure.of(
                    thread_id=thread.conversation.thread_id, error=error,
                    last_checkpoint_id=thread.conversation.last_checkpoint_id,
                )
            )
    return recorded, events, failures


def sync_threads(
    *, source: PostgresCheckpointSource, recorder: AnalyticsRecorder, thread_ids: Sequence[str], origin: str,
    now: datetime | None = None, refresh_rollups: bool = True, keep_failures: bool = True,
) -> SyncSummary:
    """Derive and record these threads, a chunk of them per transaction (``chunks_to_read``); a thread that
    fails is recorded as failed (``keep_failures``) and costs nothing else. Returns what was done."""
    now = now or datetime.now(dt_timezone.utc)
    summary = SyncSummary()
    price_lookup, rules = load_price_lookup(), TimelineRules.from_settings()
    for chunk in chunks_to_read(thread_ids, checkpoints=source.checkpoint_counts(thread_ids=thread_ids)):
        derived, failures, marked = _read_and_derive(source, chunk, now=now, price_lookup=price_lookup, rules=rules)
        recorder.prepare(threads=derived)
        with transaction.atomic():
            recorded, events, record_failures_ = _record_each(
                recorder, derived, origin=origin, refresh_rollups=refresh_rollups
            )
            # marked by a prune that never deleted them (killed, or refused) and read whole: not pruned
            Conversation.objects.filter(
                thread_id__in=[thread.conversation.thread_id for thread in recorded if thread.conversation.thread_id in marked]
            ).update(checkpoints_pruned_at=None)
            failures += record_failures_
            if keep_failures:
                clear_failures(thread_ids=[thread.conversation.thread_id for thread in recorded])
                record_failures(failures=failures)
        summary.add(recorded, events)
        summary.failed += len(failures)
    return summary


def chunks_to_read(thread_ids: Sequence[str], *, checkpoints: dict[str, int]) -> Iterator[list[str]]:
    """These threads in order, cut into chunks of at most ``READ_AT_ONCE`` threads and, but for a longer thread
    alone, ``MOST_CHECKPOINTS_AT_ONCE`` checkpoints (``checkpoints``: each thread's count)."""
    chunk: list[str] = []
    held = 0
    for thread_id in thread_ids:
        size = checkpoints.get(thread_id, 0)
        if chunk and (len(chunk) >= READ_AT_ONCE or held + size > MOST_CHECKPOINTS_AT_ONCE):
            yield chunk
            chunk, held = [], 0
        chunk.append(thread_id)
        held += size
    if chunk:
        yield chunk


def _read_and_derive(
    source: PostgresCheckpointSource, thread_ids: list[str], *, now: datetime, price_lookup: PriceLookup,
    rules: TimelineRules,
) -> tuple[list[DerivedThread], list[ThreadFailure], dict[str, str]]:
    """Read and derive these threads: their derivations, the failures, and which of them retention marked."""
    threads, read_failures = _read_threads(source, thread_ids)
    # Asked after the read: a thread is marked pruned before its rows go, so a read that pruning cut
    # short is always caught here. Rows a pruned thread got since are not the conversation either.
    marked = _marked_pruned(thread_ids)
    read = {thread.thread_id: thread for thread in threads}
    pruned = {thread_id for thread_id, derived_at in marked.items() if not _holds(read.get(thread_id), derived_at)}
    threads = [thread for thread in threads if thread.thread_id not in pruned]
    read_failures = [failure for failure in read_failures if failure.thread_id not in marked]
    # the app wrote to a pruned thread again: its new turns alone are no conversation; say so once per head
    # rather than re-read it every pass
    written_again = [
        ThreadFailure.of(
            thread_id=thread_id, error=WrittenAfterPruning(), last_checkpoint_id=read[thread_id].newest_checkpoint_id
        )
        for thread_id in sorted(pruned) if thread_id in read
    ]
    derived, derive_failures = _derive_each(threads, now=now, price_lookup=price_lookup, rules=rules)
    return derived, [*read_failures, *written_again, *derive_failures], marked


class WrittenAfterPruning(Exception):
    def __init__(self) -> None:
        super().__init__(
            "the thread was written to after its checkpoints were pruned: the turns since are not derived, "
            "the analytics of the pruned turns are kept"
        )


def _marked_pruned(thread_ids: Sequence[str]) -> dict[str, str]:
    """Of these threads, those marked as pruned by retention: ``thread_id → checkpoint id it was derived at``."""
    return dict(
        Conversation.objects.filter(thread_id__in=list(thread_ids), checkpoints_pruned_at__isnull=False)
        .values_list("thread_id", "last_checkpoint_id")
    )


def _holds(thread: ThreadCheckpoints | None, checkpoint_id: str) -> bool:
    """Whether this read of a thread holds that checkpoint: a thread marked pruned that still holds the one
    it was derived at never lost its rows, whatever marked it."""
    return thread is not None and any(record.checkpoint_id == checkpoint_id for record in thread.checkpoints)


# -- which threads need deriving --------------------------------------------------------------------

def threads_to_derive(
    heads: list[tuple[str, str]], *, recorder: AnalyticsRecorder, force: bool
) -> list[str]:
    """Of these ``(thread_id, newest checkpoint id)`` heads, the threads whose derivation is missing,
    older than the thread, or made before the thread settled; a thread that failed at this very
    head waits for ``--retry-failed`` or for the thread to grow."""
    thread_ids = [thread_id for thread_id, _ in heads]
    if force:
        return thread_ids
    derived = recorder.derived_heads(thread_ids=thread_ids)
    failed = failed_heads(thread_ids=thread_ids)
    selected = []
    for thread_id, head in heads:
        if failed.get(thread_id) == head:
            continue
        derived_head, derived_at = derived.get(thread_id, (None, None))
        if not is_derived(head=head, derived_head=derived_head, derived_at=derived_at):
            selected.append(thread_id)
    return selected


def is_derived(*, head: str, derived_head: str | None, derived_at: datetime | None) -> bool:
    """Whether a thread whose newest checkpoint is ``head`` is fully in the analytics: derived at that
    head, and after it settled (its late writes could not have been missed)."""
    head_time = uuid6_time(head)
    settled = derived_at is not None and (head_time is None or derived_at >= head_time + SETTLE_TIME)
    return derived_head == head and settled


# -- the backfill ---------------------------------------------------------------------------------------

def backfill(
    *,
    source: PostgresCheckpointSource,
    recorder: AnalyticsRecorder,
    batch_size: int = 500,
    workers: int = 1,
    since: datetime | None = None,
    until: datetime | None = None,
    thread_id: str | None = None,
    rebuild: bool = False,
    retry_failed: bool = False,
    dry_run: bool = False,
    shard: ThreadShard = ALL_THREADS,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda done: None,
) -> SyncSummary:
    """Derive every thread whose checkpoints changed since it was last derived (or the ones selected;
    ``rebuild`` derives them all again, invisibly until complete); resumable. ``shard``: only its threads
    (``thread_id`` and ``retry_failed`` ignore it), with progress of its own."""
    started, started_at = time.monotonic(), datetime.now(dt_timezone.utc)
    if thread_id is not None or retry_failed:
        thread_ids = [thread_id] if thread_id is not None else failed_thread_ids()
        on_start(len(thread_ids))
        summary = SyncSummary()
        for batch in in_batches(thread_ids, batch_size):
            summary.merge(
                sync_threads(
                    source=source, recorder=recorder, thread_ids=batch, origin=EventSource.BACKFILL,
                    keep_failures=not dry_run,
                )
            )
            on_progress(len(batch))
        summary.seconds = time.monotonic() - started
        return summary

    target = recorder.for_rebuild() if rebuild else recorder
    state, _ = SyncState.objects.get_or_create(name=state_name(shard))
    if state.state == SyncState.State.STARTED:
        logger.info("backfill: the last run stopped midway; its rollups are redone at the end")
    after = checkpoint_id_floor(since) if since is not None else ""
    before = checkpoint_id_floor(until) if until is not None else None
    total = source.count_thread_heads(after=after, before=before, shard=shard)
    on_start(total)
    # Many threads spread over many hours: rebuild the rollups once at the end instead of per batch.
    # A run that finds the last one stopped midway does so too, for the batches that one left behind.
    defer_rollups = not dry_run and (rebuild or total > ROLLUPS_PER_BATCH_UP_TO or state.state == SyncState.State.STARTED)
    if not dry_run:
        SyncState.objects.filter(pk=state.pk).update(state=SyncState.State.STARTED)
    summary = SyncSummary()
    batches = in_batches(source.iter_thread_heads(after=after, before=before, shard=shard), batch_size)
    for watermark, batch_summary in _run_batches(
        batches, source=source, recorder=target, workers=workers, refresh_rollups=not defer_rollups,
        force=rebuild, keep_failures=not dry_run,
    ):
        if not dry_run:
            SyncState.objects.filter(pk=state.pk).update(watermark=max(state.watermark, watermark))
        summary.merge(batch_summary)
        on_progress(batch_summary.threads + batch_summary.failed + batch_summary.skipped)
    if rebuild and not dry_run:
        target.swap_in_rebuild(remove_unstaged=since is None and until is None)
        tidy_after_bulk_write()
    elif defer_rollups:
        rebuild_rollups()
        tidy_after_bulk_write()
    if not dry_run:
        SyncState.objects.filter(pk=state.pk).update(state=SyncState.State.DONE)
        if since is None and until is None:
            record_pass(started_at=started_at, shard=shard)
    summary.seconds = time.monotonic() - started
    return summary


def _derive_batch(
    source: PostgresCheckpointSource, recorder: AnalyticsRecorder, heads: list[tuple[str, str]], *,
    refresh_rollups: bool, force: bool, keep_failures: bool,
) -> SyncSummary:
    thread_ids = threads_to_derive(heads, recorder=recorder, force=force)
    summary = (
        sync_threads(
            source=source, recorder=recorder, thread_ids=thread_ids, origin=EventSource.BACKFILL,
            refresh_rollups=refresh_rollups, keep_failures=keep_failures,
        )
        if thread_ids else SyncSummary()
    )
    summary.skipped = len(heads) - summary.threads - summary.failed
    return summary


def _run_batches(
    batches: Iterator[list[tuple[str, str]]], *, source: PostgresCheckpointSource, recorder: AnalyticsRecorder,
    workers: int, **batch_options: bool,
) -> Iterator[tuple[str, SyncSummary]]:
    """Derive batches, in this process or in ``workers`` processes; yield ``(newest head, summary)`` in
    batch order."""
    if workers <= 1:
        for batch in batches:
            yield max(head for _, head in batch), _derive_batch(source, recorder, batch, **batch_options)
        return
    # Children must not share the parent's sockets: close every connection before forking.
    close_old_connections_for_fork()
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(recorder,)) as pool:
        in_flight: deque = deque()
        for batch in batches:
            in_flight.append((max(head for _, head in batch), pool.apply_async(_worker_batch, (batch, batch_options))))
            while len(in_flight) > 2 * workers:  # bounded: memory stays flat on any number of threads
                watermark, result = in_flight.popleft()
                yield watermark, result.get()
        while in_flight:
            watermark, result = in_flight.popleft()
            yield watermark, result.get()


def close_old_connections_for_fork() -> None:
    for database in connections.all():
        database.close()
        database.close_pool()  # every database here is PostgreSQL, whose Django backend may pool
    close_checkpoint_pool()


_worker_source: PostgresCheckpointSource | None = None
_worker_recorder: AnalyticsRecorder | None = None


def _init_worker(recorder: AnalyticsRecorder) -> None:
    global _worker_source, _worker_recorder
    # The pool stops its workers with SIGTERM: a handler inherited from the parent (the embedded
    # database's clean exit) must not leave a worker running and the parent waiting for it forever.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _worker_source = PostgresCheckpointSource()
    _worker_recorder = recorder


def _worker_batch(heads: list[tuple[str, str]], batch_options: dict[str, bool]) -> SyncSummary:
    return _derive_batch(_worker_source, _worker_recorder, heads, **batch_options)


# -- live sync --------------------------------------------------------------------------------------------

def sync_recent(
    *, source: PostgresCheckpointSource, recorder: AnalyticsRecorder, watermark: str, now: datetime | None = None,
    shard: ThreadShard = ALL_THREADS,
) -> tuple[str, SyncSummary]:
    """One live-sync pass over ``shard``'s threads: re-derive those whose checkpoints or writes changed near
    the watermark, and conversations whose approvals just expired; return the new watermark."""
    now = now or datetime.now(dt_timezone.utc)
    summary = SyncSummary()
    lookback = checkpoint_id_floor(now - SETTLE_TIME)
    after = min(watermark, lookback)  # "" (no watermark yet): every thread
    signatures = source.recent_thread_signatures(after=after, shard=shard)
    derived_signatures = {
        thread: (newest, writes)
        for thread, newest, writes in Conversation.objects.filter(
            thread_id__in=[thread for thread, _, _ in signatures]
        ).values_list("thread_id", "last_checkpoint_id", "write_count")
    }
    failed = failed_heads(thread_ids=[thread for thread, _, _ in signatures])
    changed = [
        thread for thread, newest, writes in signatures
        if derived_signatures.get(thread) != (newest, writes) and failed.get(thread) != newest
    ]
    expiring = Conversation.objects.filter(
        shard.holds(), status=ConversationStatus.AWAITING_APPROVAL,
        newest_pending_interrupt_at__lt=approval_expiry_cutoff(now=now), checkpoints_pruned_at__isnull=True,
    ).values_list("thread_id", flat=True)
    changed += [thread for thread in expiring if thread not in changed]
    for batch in in_batches(changed, LIVE_BATCH_SIZE):
        summary.merge(
            sync_threads(source=source, recorder=recorder, thread_ids=batch, origin=EventSource.LIVE, now=now)
        )
    newest = max([watermark, *(newest for _, newest, _ in signatures)])
    return newest, summary


@dataclass
class FollowSettings:
    interval: float = 0.5
    # every this often, every thread is compared with what was derived of it (late commits, old ids)
    reconcile_every: float = 60.0
    first_retry_delay: float = 0.5
    longest_retry_delay: float = 30.0


def follow(
    *,
    source: PostgresCheckpointSource,
    recorder: AnalyticsRecorder,
    follow_settings: FollowSettings,
    on_sync: Callable[[SyncSummary, float], None] = lambda summary, seconds: None,
    on_fault: Callable[[BaseException, float], None] = lambda error, delay: None,
    on_recovered: Callable[[], None] = lambda: None,
    on_reprice: Callable[[str, RepriceResult, float], None] = lambda reason, result, seconds: None,
    keep_lock: Callable[[], None] = lambda: None,
    should_stop: Callable[[], bool] = lambda: False,
    recovering: bool = False,
    shard: ThreadShard = ALL_THREADS,
) -> None:
    """Keep the analytics in step with the checkpoints until ``should_stop``: a live-sync pass every
    ``interval``, a full comparison every ``reconcile_every``, and the price changes queued by admin. A database fault (a restart, a
    network cut) is reported once through ``on_fault`` and retried with growing delays; the lock is
    taken again (``keep_lock``) before syncing resumes. ``recovering``: the catch-up pass before it
    was cut by such a fault, so start as after one, with a full comparison first. ``shard``: all of it
    over that shard's threads only."""
    delay = follow_settings.first_retry_delay if recovering else 0.0
    watermark: str | None = None  # read in the loop, where a fault is retried like any other
    next_reconcile = time.monotonic() + (0 if recovering else follow_settings.reconcile_every)
    while not should_stop():
        started, started_at = time.monotonic(), datetime.now(dt_timezone.utc)
        try:
            if delay:
                keep_lock()
            if watermark is None:
                watermark = SyncState.objects.filter(name=state_name(shard)).values_list("watermark", flat=True).first() or ""
            watermark, summary = sync_recent(source=source, recorder=recorder, watermark=watermark, shard=shard)
            if started >= next_reconcile:
                summary.merge(backfill(source=source, recorder=recorder, shard=shard))
                next_reconcile = started + follow_settings.reconcile_every
            # every pass, even an idle one: "last synced" and /readyz read this row
            record_pass(started_at=started_at, watermark=watermark, shard=shard)
            for reason, result in run_pending_reprices():  # price changes too large for admin's request
                on_reprice(reason, result, time.monotonic() - started)
            if summary.threads or summary.failed:
                on_sync(summary, time.monotonic() - started)
            if delay:
                on_recovered()
                delay = 0.0
        except DATABASE_FAULTS as error:
            delay = min(follow_settings.longest_retry_delay, delay * 2 or follow_settings.first_retry_delay)
            on_fault(error, delay)
            _drop_connections(source)
            time.sleep(delay)
            continue
        time.sleep(follow_settings.interval)


def _drop_connections(source: PostgresCheckpointSource) -> None:
    """After a database fault every open connection may be dead: open new ones on the next use."""
    for alias in connections:
        try:
            connections[alias].close()
        except Exception:  # noqa: BLE001 - a dead connection may fail to close; it is dropped either way
            pass
    source.reset()
