"""Keeping the analytics in step with the checkpoints: the resumable backfill and live sync.

Progress lives in ``SyncState`` (after Zulip's FillState): a batch of threads is derived and
recorded in one transaction together with the new watermark, so a run killed at any moment loses
at most the batch in flight, and a rerun redoes it to exactly the same rows.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import connection, connections, transaction

from analytics.derive import DerivedThread, derive_thread
from analytics.models import EventSource, SyncState
from analytics.pricing import load_price_lookup
from analytics.recorder import AnalyticsRecorder
from analytics.storage import delete_conversations, rebuild_rollups
from replay.checkpoints import PostgresCheckpointSource, checkpoint_id_floor, close_checkpoint_pool
from replay.models import Conversation, ConversationStatus
from replay.timeline import TimelineRules

logger = logging.getLogger(__name__)

BACKFILL_STATE = "backfill"
LOCK_KEY = 0x5AA7_0001  # pg advisory lock held by whoever derives events
# LangGraph may save a checkpoint's writes (an interrupt, a resume) after the checkpoint itself, and
# checkpoints committed out of id order: live sync re-reads this much behind its watermark.
FOLLOW_LOOKBACK = timedelta(minutes=2)
# Up to this many threads a backfill keeps the hourly rollups current batch by batch.
ROLLUPS_PER_BATCH_UP_TO = 2000


class SyncLocked(RuntimeError):
    pass


@dataclass
class SyncSummary:
    threads: int = 0
    events: int = 0
    unpriced_tokens: int = 0
    unknown_steps: int = 0
    seconds: float = 0.0
    unpriced_models: set[str] = field(default_factory=set)

    def merge(self, other: SyncSummary) -> None:
        self.threads += other.threads
        self.events += other.events
        self.unpriced_tokens += other.unpriced_tokens
        self.unknown_steps += other.unknown_steps
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


@contextmanager
def sync_lock() -> Iterator[None]:
    """Hold the PostgreSQL advisory lock that makes event derivation one-at-a-time; raise SyncLocked if taken."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise SyncLocked("another backfill_events is running (it holds the advisory lock); wait for it or stop it")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _batches(items: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def sync_threads(
    *, source: PostgresCheckpointSource, recorder: AnalyticsRecorder, thread_ids: list[str], origin: str,
    now: datetime | None = None, refresh_rollups: bool = True,
) -> tuple[list[DerivedThread], int]:
    """Derive and record these threads (one batch, one transaction); return what was derived and the event count."""
    now = now or datetime.now(dt_timezone.utc)
    price_lookup, rules = load_price_lookup(), TimelineRules.from_settings()
    derived = [
        derive_thread(thread=thread, price_lookup=price_lookup, now=now, rules=rules)
        for thread in source.get_threads(thread_ids=thread_ids)
    ]
    return derived, recorder.record(threads=derived, source=origin, refresh_rollups=refresh_rollups)


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
    dry_run: bool = False,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda done: None,
) -> SyncSummary:
    """Derive events for every thread changed since the last run (or the ones selected); resumable."""
    started = time.monotonic()
    summary = SyncSummary()
    if thread_id is not None:
        if rebuild and not dry_run:
            delete_conversations(Conversation.objects.filter(thread_id=thread_id))
        derived, events = sync_threads(source=source, recorder=recorder, thread_ids=[thread_id], origin=EventSource.BACKFILL)
        summary.add(derived, events)
        on_start(len(derived))
        on_progress(len(derived))
        summary.seconds = time.monotonic() - started
        return summary

    full_run = since is None and until is None
    state, _ = SyncState.objects.get_or_create(name=BACKFILL_STATE)
    if rebuild and not dry_run:
        with transaction.atomic():
            _delete_conversations(since=since, until=until)
            if full_run:
                state.watermark = ""
                state.save()
    if state.state == SyncState.State.STARTED:
        logger.info("backfill: the last run stopped mid-batch after %s; redoing that batch", state.watermark or "start")
    after = state.watermark if (full_run and not rebuild) else ""
    if since is not None:
        after = max(after, checkpoint_id_floor(since))
    before = checkpoint_id_floor(until) if until is not None else None
    total = source.count_thread_heads(after=after, before=before)
    on_start(total)
    track = full_run and not dry_run
    # Many threads spread over many hours: rebuild the rollups once at the end instead of per batch.
    # A run that finds the last one stopped midway does so too, for the batches that one left behind.
    defer_rollups = not dry_run and (total > ROLLUPS_PER_BATCH_UP_TO or state.state == SyncState.State.STARTED)
    if track:
        SyncState.objects.filter(pk=state.pk).update(state=SyncState.State.STARTED)
    batches = _batches(source.iter_thread_heads(after=after, before=before), batch_size)
    for watermark, batch_summary in _run_batches(
        batches, source=source, recorder=recorder, workers=workers, refresh_rollups=not defer_rollups
    ):
        if track:
            SyncState.objects.filter(pk=state.pk).update(watermark=watermark)
        summary.merge(batch_summary)
        on_progress(batch_summary.threads)
    if defer_rollups:
        rebuild_rollups()
    if track:
        SyncState.objects.filter(pk=state.pk).update(state=SyncState.State.DONE)
    summary.seconds = time.monotonic() - started
    return summary


def _derive_batch(
    source: PostgresCheckpointSource, recorder: AnalyticsRecorder, thread_ids: list[str], refresh_rollups: bool
) -> SyncSummary:
    with transaction.atomic():
        derived, events = sync_threads(
            source=source, recorder=recorder, thread_ids=thread_ids, origin=EventSource.BACKFILL,
            refresh_rollups=refresh_rollups,
        )
    summary = SyncSummary()
    summary.add(derived, events)
    return summary


def _run_batches(
    batches: Iterator[list[tuple[str, str]]], *, source: PostgresCheckpointSource, recorder: AnalyticsRecorder,
    workers: int, refresh_rollups: bool,
) -> Iterator[tuple[str, SyncSummary]]:
    """Derive batches, in this process or in ``workers`` processes; yield ``(watermark, summary)`` in
    batch order, so the watermark only passes batches that are all committed."""
    if workers <= 1:
        for batch in batches:
            yield batch[-1][1], _derive_batch(source, recorder, [thread for thread, _ in batch], refresh_rollups)
        return
    # Children must not share the parent's sockets: close every connection before forking.
    close_old_connections_for_fork()
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(recorder,)) as pool:
        in_flight: deque = deque()
        for batch in batches:
            thread_ids = [thread for thread, _ in batch]
            in_flight.append((batch[-1][1], pool.apply_async(_worker_batch, (thread_ids, refresh_rollups))))
            while len(in_flight) > 2 * workers:  # bounded: memory stays flat on any number of threads
                watermark, result = in_flight.popleft()
                yield watermark, result.get()
        while in_flight:
            watermark, result = in_flight.popleft()
            yield watermark, result.get()


def close_old_connections_for_fork() -> None:
    for alias in connections:
        database = connections[alias]
        database.close()
        if hasattr(database, "close_pool"):
            database.close_pool()
    close_checkpoint_pool()


_worker_source: PostgresCheckpointSource | None = None
_worker_recorder: AnalyticsRecorder | None = None


def _init_worker(recorder: AnalyticsRecorder) -> None:
    global _worker_source, _worker_recorder
    _worker_source = PostgresCheckpointSource()
    _worker_recorder = recorder


def _worker_batch(thread_ids: list[str], refresh_rollups: bool) -> SyncSummary:
    return _derive_batch(_worker_source, _worker_recorder, thread_ids, refresh_rollups)


def _delete_conversations(*, since: datetime | None, until: datetime | None) -> None:
    conversations = Conversation.objects.all()
    if since is not None:
        conversations = conversations.filter(last_activity_at__gte=since)
    if until is not None:
        conversations = conversations.filter(last_activity_at__lt=until)
    delete_conversations(conversations)


def sync_recent(
    *, source: PostgresCheckpointSource, recorder: AnalyticsRecorder, watermark: str, now: datetime | None = None
) -> tuple[str, SyncSummary]:
    """One live-sync pass: re-derive threads whose checkpoints or writes changed near the watermark, and
    conversations whose approvals just expired; return the new watermark."""
    now = now or datetime.now(dt_timezone.utc)
    summary = SyncSummary()
    lookback = checkpoint_id_floor(now - FOLLOW_LOOKBACK)
    after = min(watermark, lookback) if watermark else ""
    signatures = source.recent_thread_signatures(after=after)
    derived_signatures = {
        thread: (newest, writes)
        for thread, newest, writes in Conversation.objects.filter(
            thread_id__in=[thread for thread, _, _ in signatures]
        ).values_list("thread_id", "last_checkpoint_id", "write_count")
    }
    changed = [thread for thread, newest, writes in signatures if derived_signatures.get(thread) != (newest, writes)]
    ttl = settings.SMART_SUPPORT["INTERRUPT_TTL"]
    expiring = Conversation.objects.filter(
        status=ConversationStatus.AWAITING_APPROVAL, last_activity_at__lt=now - ttl
    ).values_list("thread_id", flat=True)
    changed += [thread for thread in expiring if thread not in changed]
    for batch in _batches(((thread, "") for thread in changed), 200):
        derived, events = sync_threads(
            source=source, recorder=recorder, thread_ids=[thread for thread, _ in batch], origin=EventSource.LIVE, now=now
        )
        summary.add(derived, events)
    newest = max([watermark, *(newest for _, newest, _ in signatures)])
    return newest, summary
