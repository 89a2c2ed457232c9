"""Live sync: what ``backfill_events --follow`` picks up between full comparisons, and how it stops."""

from datetime import datetime, timedelta, timezone

from django.core.management import call_command

from analytics.recorder import PostgresAnalyticsRecorder
from analytics.sync import FollowSettings, follow, sync_recent
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def run(run_reference_agent, *, index: int, started_at: datetime) -> str:
    plan = plan_conversation(seed=71, index=index, scenario="order_status")
    run_reference_agent(plan, started_at)
    return plan.thread_id


def derived_thread_ids() -> set[str]:
    return set(Conversation.objects.values_list("thread_id", flat=True))


def test_live_sync_catches_a_thread_committed_late_with_older_checkpoint_ids(run_reference_agent):
    first = run(run_reference_agent, index=0, started_at=NOW - timedelta(seconds=40))
    with PostgresCheckpointSource() as source:
        watermark, _ = sync_recent(source=source, recorder=PostgresAnalyticsRecorder(), watermark="", now=NOW)
        # committed after that pass, its checkpoint ids stamped a minute before the watermark
        late = run(run_reference_agent, index=1, started_at=NOW - timedelta(seconds=100))

        _, summary = sync_recent(source=source, recorder=PostgresAnalyticsRecorder(), watermark=watermark, now=NOW + timedelta(seconds=5))

    assert summary.threads == 1
    assert derived_thread_ids() == {first, late}


def test_live_sync_leaves_a_thread_older_than_its_look_back_to_the_full_comparison(run_reference_agent):
    run(run_reference_agent, index=0, started_at=NOW - timedelta(seconds=40))
    with PostgresCheckpointSource() as source:
        watermark, _ = sync_recent(source=source, recorder=PostgresAnalyticsRecorder(), watermark="", now=NOW)
        old = run(run_reference_agent, index=1, started_at=NOW - timedelta(minutes=30))

        _, summary = sync_recent(source=source, recorder=PostgresAnalyticsRecorder(), watermark=watermark, now=NOW + timedelta(seconds=5))

    assert summary.threads == 0 and old not in derived_thread_ids()
    call_command("backfill_events", verbosity=0)
    assert old in derived_thread_ids()


def test_a_live_sync_pass_rederives_only_threads_that_changed(run_reference_agent):
    run(run_reference_agent, index=0, started_at=NOW - timedelta(seconds=40))
    with PostgresCheckpointSource() as source:
        watermark, first = sync_recent(source=source, recorder=PostgresAnalyticsRecorder(), watermark="", now=NOW)
        _, again = sync_recent(source=source, recorder=PostgresAnalyticsRecorder(), watermark=watermark, now=NOW + timedelta(seconds=5))

    assert (first.threads, again.threads) == (1, 0)


def test_follow_syncs_a_new_conversation_without_waiting_for_the_full_comparison(run_reference_agent):
    """The live pass alone (the full comparison an hour away) picks up a conversation written just now."""
    call_command("backfill_events", verbosity=0)
    new = run(run_reference_agent, index=2, started_at=datetime.now(timezone.utc))  # live sync follows the wall clock
    passes = []

    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            on_sync=lambda summary, seconds: passes.append(summary.threads),
            should_stop=lambda: len(passes) >= 1,
        )

    assert passes == [1] and derived_thread_ids() == {new}
