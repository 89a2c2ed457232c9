"""Live sync: what ``backfill_events --follow`` picks up between full comparisons, and how it stops."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from django.db import connection

from analytics.recorder import PostgresAnalyticsRecorder
from analytics.sync import FollowSettings, follow, sync_recent
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation
from tests.test_commands import PROJECT_DIR

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


def _wait_for(predicate, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


@pytest.mark.django_db(transaction=True)
def test_follow_command_syncs_new_conversations_and_stops_cleanly_on_ctrl_c(run_reference_agent):
    before = run(run_reference_agent, index=3, started_at=datetime.now(timezone.utc))
    env = {**os.environ, "DATABASE_NAME": connection.settings_dict["NAME"], "PYTHONUNBUFFERED": "1"}
    follower = subprocess.Popen(
        [sys.executable, "manage.py", "backfill_events", "--follow", "--interval=0.2"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: before in derived_thread_ids(), seconds=60, what="the conversation written before the start")
        after = run(run_reference_agent, index=4, started_at=datetime.now(timezone.utc))
        _wait_for(lambda: after in derived_thread_ids(), seconds=60, what="a conversation written while following")
        assert follower.poll() is None, "the follower stopped on its own"
    finally:
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=60)

    assert follower.returncode == 0, err
    assert "SYNC 1 threads" in out
    assert out.rstrip().endswith("STOP backfill_events --follow")
    assert "Traceback" not in err
