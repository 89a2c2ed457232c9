"""The ``backfill_events --follow`` loop in-process: what it reports after each pass and each queued price
change, when it runs the full comparison, where a fresh worker starts reading, and how it rides out a
database that goes away (the command's words for these are tested through the command itself)."""

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from django.test import override_settings

import analytics.sync
from analytics.models import PendingReprice, SyncState
from analytics.pricing import RepriceResult
from analytics.recorder import PostgresAnalyticsRecorder
from analytics.sync import FollowSettings, follow
from analytics.sync_status import BACKFILL_STATE
from replay.checkpoint_times import checkpoint_id_floor
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation

# The loop follows the wall clock: conversations are placed relative to it.
LONG_AGO = timedelta(minutes=30)  # past the live pass's look-back: only a full comparison finds it


def run(run_reference_agent, *, index: int, started_at: datetime) -> str:
    plan = plan_conversation(seed=83, index=index, scenario="order_status")
    run_reference_agent(plan, started_at)
    return plan.thread_id


def derived_thread_ids() -> set[str]:
    return set(Conversation.objects.values_list("thread_id", flat=True))


def stop_after(passes: int):
    """``should_stop`` for exactly this many passes of the loop."""
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) > passes

    return should_stop


def watermark_now() -> None:
    """As after an earlier worker's pass just now: the live pass then looks back only SETTLE_TIME."""
    SyncState.objects.update_or_create(
        name=BACKFILL_STATE, defaults={"watermark": checkpoint_id_floor(datetime.now(timezone.utc))}
    )


class FaultySource(PostgresCheckpointSource):
    """The real reader, whose first ``faults`` live passes find the database gone (as during a restart)."""

    def __init__(self, *, faults: int) -> None:
        super().__init__()
        self.faults = faults

    def recent_thread_signatures(self, **reading):
        if self.faults:
            self.faults -= 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return super().recent_thread_signatures(**reading)


def test_each_pass_that_derived_reports_its_summary_and_duration(run_reference_agent):
    first = run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - timedelta(seconds=20))
    second = run(run_reference_agent, index=1, started_at=datetime.now(timezone.utc) - timedelta(seconds=10))
    reports = []

    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            on_sync=lambda summary, seconds: reports.append((summary.threads, summary.failed, seconds)),
            should_stop=stop_after(3),
        )

    assert derived_thread_ids() == {first, second}
    # the idle passes after the first report nothing
    assert [(threads, failed) for threads, failed, _ in reports] == [(2, 0)]
    assert 0 < reports[0][2] < 60


def test_a_queued_price_change_is_applied_and_reported_with_its_reason(run_reference_agent):
    run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - timedelta(seconds=20))
    PendingReprice.objects.create(reason="gpt-4o: new price from Dec 1", reported_names=["gpt-4o"], calls=3)
    reprices = []

    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            on_reprice=lambda reason, result, seconds: reprices.append((reason, result, seconds)),
            should_stop=stop_after(2),
        )

    assert not PendingReprice.objects.exists()
    [(reason, result, seconds)] = reprices
    assert reason == "gpt-4o: new price from Dec 1"
    assert isinstance(result, RepriceResult)
    assert 0 < seconds < 60


def test_a_worker_with_no_recorded_watermark_reads_every_thread_on_its_first_pass(run_reference_agent):
    old = run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - LONG_AGO)

    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600), should_stop=stop_after(1),
        )

    assert derived_thread_ids() == {old}


def test_a_healthy_start_waits_for_the_full_comparison_and_does_not_retake_its_lock(run_reference_agent):
    old = run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - LONG_AGO)
    watermark_now()
    locks, recoveries = [], []

    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            keep_lock=lambda: locks.append(True), on_recovered=lambda: recoveries.append(True),
            should_stop=stop_after(2),
        )

    assert old not in derived_thread_ids()
    assert (locks, recoveries) == ([], [])


def test_a_recovering_start_retakes_its_lock_and_compares_every_thread_first(run_reference_agent):
    old = run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - LONG_AGO)
    watermark_now()
    locks, recoveries = [], []

    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            keep_lock=lambda: locks.append(True), on_recovered=lambda: recoveries.append(True),
            should_stop=stop_after(1), recovering=True,
        )

    assert old in derived_thread_ids()
    assert (len(locks), len(recoveries)) == (1, 1)


def test_the_full_comparison_runs_once_per_period_not_every_pass(run_reference_agent, monkeypatch):
    run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - LONG_AGO)
    comparisons = []
    real_backfill = analytics.sync.backfill

    def counted_backfill(**options):
        comparisons.append(options)
        return real_backfill(**options)

    monkeypatch.setattr(analytics.sync, "backfill", counted_backfill)
    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            should_stop=stop_after(4), recovering=True,
        )

    assert len(comparisons) == 1


@pytest.mark.django_db(transaction=True)  # a fault closes Django's connections, as after a real one
def test_a_database_that_goes_away_is_retried_with_doubling_delays_up_to_the_longest(run_reference_agent):
    new = run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - timedelta(seconds=20))
    faults, locks, recoveries = [], [], []
    source = FaultySource(faults=4)

    try:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(
                interval=0, reconcile_every=3600, first_retry_delay=0.01, longest_retry_delay=0.04
            ),
            on_fault=lambda error, delay: faults.append((type(error), delay)),
            keep_lock=lambda: locks.append(True), on_recovered=lambda: recoveries.append(True),
            should_stop=stop_after(6),
        )
    finally:
        source.close()

    assert faults == [(psycopg.OperationalError, delay) for delay in (0.01, 0.02, 0.04, 0.04)]
    # the lock is checked before each retry, the recovery told once, and the pass after it is ordinary
    assert (len(locks), len(recoveries)) == (4, 1)
    assert derived_thread_ids() == {new}


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_the_recorded_pass_time_is_the_real_moment_in_any_server_time_zone(run_reference_agent, zone):
    SyncState.objects.create(name=BACKFILL_STATE)  # as the worker's catch-up backfill leaves it
    before = datetime.now(timezone.utc)
    with override_settings(TIME_ZONE=zone), PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600), should_stop=stop_after(1),
        )

    synced_at = SyncState.objects.get(name=BACKFILL_STATE).synced_at
    assert before <= synced_at <= datetime.now(timezone.utc)


def test_a_worker_process_derives_its_batch_and_stops_on_sigterm(run_reference_agent):
    """What ``--workers N`` runs in each forked process, run here in-process: the pool stops its workers with
    SIGTERM, so a worker must not keep the parent's handler (the embedded database's clean exit)."""
    import signal

    first = run(run_reference_agent, index=0, started_at=datetime.now(timezone.utc) - LONG_AGO)
    second = run(run_reference_agent, index=1, started_at=datetime.now(timezone.utc) - LONG_AGO)
    with PostgresCheckpointSource() as source:
        heads = list(source.iter_thread_heads(after=""))
    parents_handler = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        analytics.sync._init_worker(PostgresAnalyticsRecorder())
        workers_handler = signal.getsignal(signal.SIGTERM)
        summary = analytics.sync._worker_batch(
            heads, {"refresh_rollups": True, "force": False, "keep_failures": True}
        )
    finally:
        signal.signal(signal.SIGTERM, parents_handler)
        analytics.sync._worker_source.close()

    assert workers_handler is signal.SIG_DFL
    assert (summary.threads, summary.skipped, summary.failed) == (2, 0, 0)
    assert derived_thread_ids() == {first, second}


@pytest.mark.django_db(transaction=True)  # the test closes Django's connection, as the fork does
def test_before_workers_are_forked_the_parent_closes_every_connection_they_would_share(settings, checkpoint_db):
    """A forked worker inherits its parent's sockets: the parent's Django connection and its pool of
    checkpoint connections must be closed first, or two processes talk over one connection."""
    import replay.checkpoints
    from django.db import connections

    settings.CHECKPOINT_DATABASE_URL = checkpoint_db  # the agent's own database: read through the pool
    with replay.checkpoints.open_checkpoint_source() as source:
        list(source.iter_thread_heads(after=""))
    Conversation.objects.exists()
    assert connections["default"].connection is not None and replay.checkpoints._pool is not None

    analytics.sync.close_old_connections_for_fork()

    assert connections["default"].connection is None
    assert replay.checkpoints._pool is None
