"""backfill_events when real-world data or the database misbehave: a bad thread costs only itself, a
rebuild never shows less than before, one run at a time, and nothing written late is missed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, TypedDict
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from langchain_core.messages import AIMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

from analytics.derive import derive_thread
from analytics.models import FailedThread, SyncState
from analytics.queries import get_analytics
from analytics.recorder import PostgresAnalyticsRecorder
from analytics.storage import rebuild_in_progress
from analytics.sync import backfill
from analytics.sync_lock import LOCK_KEY, SyncLock
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation
from tests.analytics.test_backfill import (  # noqa: F401 - five_threads is a fixture
    STARTED_AT,
    CrashOnSecondBatch,
    assert_rollups_match_conversations,
    five_threads,
    snapshot,
)
from tests.test_commands import PROJECT_DIR



class _State(TypedDict):
    messages: Annotated[list, add_messages]


def write_thread_with_absurd_tokens(checkpointer, thread_id: str) -> None:
    """An app whose model reports three billion tokens for one call: the database refuses its events."""

    def reply(state: _State) -> dict:
        usage = {"input_tokens": 3_000_000_000, "output_tokens": 3, "total_tokens": 3_000_000_003}
        return {"messages": [AIMessage(content="Done.", usage_metadata=usage, response_metadata={"model_name": "m"})]}

    builder = StateGraph(_State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    graph = builder.compile(checkpointer=checkpointer)
    graph.invoke({"messages": [("user", "Refund my order")]}, {"configurable": {"thread_id": thread_id}})


def dashboard_numbers():
    """What a manager sees for the whole test period."""
    result = get_analytics(start=date(2026, 11, 1), end=date(2026, 11, 30), tz=ZoneInfo("UTC"), now=STARTED_AT)
    return (result.conversations, result.resolution_rate, result.escalation_rate, result.total_cost, result.interrupt_stats)


# -- one bad thread ------------------------------------------------------------------------------------

def test_a_thread_the_database_refuses_is_recorded_and_every_other_is_derived(five_threads, checkpointer, capsys):
    write_thread_with_absurd_tokens(checkpointer, "bad-tokens")

    call_command("backfill_events", batch_size=10)

    captured = capsys.readouterr()
    assert Conversation.objects.count() == 5
    assert "bad-tokens" not in Conversation.objects.values_list("thread_id", flat=True)
    failure = FailedThread.objects.get()
    assert failure.thread_id == "bad-tokens" and "out of range" in failure.error and failure.attempts == 1
    assert "failed threads 1" in captured.out
    assert "WARNING 1 threads could not be derived" in captured.err
    assert_rollups_match_conversations()  # the five, recorded one by one after their batch was refused, count


def test_when_a_batch_read_fails_each_thread_is_read_alone_and_only_the_one_that_fails_again_is_recorded(
    five_threads, monkeypatch
):
    from replay.checkpoints import PostgresCheckpointSource

    broken = five_threads[3].thread_id
    read = PostgresCheckpointSource.get_threads

    def reads_fail_where_the_broken_thread_is(self, *, thread_ids):
        if broken in thread_ids:
            raise RuntimeError("this thread's rows cannot be read")
        return read(self, thread_ids=thread_ids)

    monkeypatch.setattr(PostgresCheckpointSource, "get_threads", reads_fail_where_the_broken_thread_is)
    call_command("backfill_events", verbosity=0)

    assert Conversation.objects.count() == 4 and not Conversation.objects.filter(thread_id=broken).exists()
    failure = FailedThread.objects.get()
    assert (failure.thread_id, failure.error) == (broken, "RuntimeError: this thread's rows cannot be read")


@pytest.fixture
def broken(five_threads, monkeypatch) -> str:
    """The id of one of the five threads whose data reaches a bug in the derivation."""
    broken = five_threads[2].thread_id

    def derive_with_a_bug(*, thread, **options):
        if thread.thread_id == broken:
            raise ValueError("a bug that only this thread's data reaches")
        return derive_thread(thread=thread, **options)

    monkeypatch.setattr("analytics.sync.derive_thread", derive_with_a_bug)
    return broken


def test_progress_counts_a_failed_thread_as_done(broken, capsys):
    call_command("backfill_events", batch_size=2)

    err = capsys.readouterr().err
    assert "PROGRESS 0/5 threads" in err and "PROGRESS 5/5 threads" in err


def test_a_dry_run_reports_a_failing_thread_but_records_no_failure(broken, capsys):
    call_command("backfill_events", "--dry-run", batch_size=2)

    assert "failed threads 1" in capsys.readouterr().out
    assert not FailedThread.objects.exists() and not Conversation.objects.exists()


def test_a_failed_thread_waits_for_retry_failed_and_is_forgotten_once_derived(broken, monkeypatch, capsys):
    call_command("backfill_events", batch_size=2, verbosity=0)
    assert Conversation.objects.count() == 4
    assert FailedThread.objects.get().error == "ValueError: a bug that only this thread's data reaches"

    call_command("backfill_events", verbosity=0)  # the thread has not changed: not tried again
    assert FailedThread.objects.get().attempts == 1
    call_command("backfill_events", "--retry-failed", verbosity=0)
    assert FailedThread.objects.get().attempts == 2

    monkeypatch.setattr("analytics.sync.derive_thread", derive_thread)  # the bug is fixed
    capsys.readouterr()
    call_command("backfill_events", "--retry-failed")
    assert "DONE backfill_events: 1 threads" in capsys.readouterr().out
    assert not FailedThread.objects.exists()
    assert Conversation.objects.count() == 5


def test_one_bad_thread_and_the_thread_option_exit_zero(five_threads, checkpointer):
    write_thread_with_absurd_tokens(checkpointer, "bad-tokens")
    call_command("backfill_events", thread="bad-tokens", verbosity=0)
    assert FailedThread.objects.filter(thread_id="bad-tokens").exists()
    call_command("backfill_events", thread=five_threads[0].thread_id, verbosity=0)
    assert Conversation.objects.get().thread_id == five_threads[0].thread_id


# -- checkpoints written after a run -------------------------------------------------------------------

def test_threads_written_later_with_older_checkpoint_ids_are_derived_by_a_plain_run(five_threads, run_reference_agent):
    call_command("backfill_events", verbosity=0)
    backdated = plan_conversation(seed=41, index=9, scenario="order_status")
    run_reference_agent(backdated, STARTED_AT - timedelta(days=3))  # older ids than every derived thread

    call_command("backfill_events", verbosity=0)

    assert Conversation.objects.filter(thread_id=backdated.thread_id).exists()
    assert Conversation.objects.count() == 6


def test_a_thread_derived_before_it_settled_is_derived_again(five_threads):
    call_command("backfill_events", verbosity=0)
    thread = five_threads[0].thread_id
    # as if derived a moment after its newest checkpoint, when its last writes may not have landed yet
    Conversation.objects.filter(thread_id=thread).update(synced_at=STARTED_AT, step_count=0)

    call_command("backfill_events", verbosity=0)

    assert Conversation.objects.get(thread_id=thread).step_count > 0


# -- rebuild -----------------------------------------------------------------------------------------------

def test_a_killed_rebuild_leaves_the_previous_numbers_and_resumes(five_threads):
    call_command("backfill_events", verbosity=0)
    before, numbers = snapshot(), dashboard_numbers()
    assert numbers[0] == 5

    CrashOnSecondBatch.calls = 0
    with PostgresCheckpointSource() as source, pytest.raises(KeyboardInterrupt):
        backfill(source=source, recorder=CrashOnSecondBatch(), batch_size=2, rebuild=True)

    assert snapshot() == before and dashboard_numbers() == numbers
    assert rebuild_in_progress()

    call_command("backfill_events", "--rebuild", batch_size=2, verbosity=0)

    assert snapshot() == before and dashboard_numbers() == numbers
    assert not rebuild_in_progress()
    assert SyncState.objects.get().state == SyncState.State.DONE


def test_a_full_rebuild_removes_conversations_whose_checkpoints_are_gone(five_threads, checkpoint_db):
    call_command("backfill_events", verbosity=0)
    gone = five_threads[4].thread_id
    with psycopg.connect(checkpoint_db, autocommit=True) as other:
        for table in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
            other.execute(f"DELETE FROM {table} WHERE thread_id = %s", (gone,))  # noqa: S608 - fixed names

    call_command("backfill_events", "--rebuild", verbosity=0)

    assert sorted(Conversation.objects.values_list("thread_id", flat=True)) == sorted(
        plan.thread_id for plan in five_threads[:4]
    )
    assert dashboard_numbers()[0] == 4


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "DATABASE_NAME": connection.settings_dict["NAME"], "PYTHONUNBUFFERED": "1"}


@pytest.mark.django_db(transaction=True)
def test_sigkill_at_any_point_of_a_rebuild_never_lowers_the_dashboard(checkpoint_db):
    call_command("simulate_conversations", count=40, days=3, seed=5, workers=1, verbosity=0)
    call_command("backfill_events", verbosity=0)
    numbers = dashboard_numbers_over(days=5)
    assert numbers[0] == 40

    # kill after the first progress line, after one in the middle, and once every thread is staged
    for kill_after in (1, 5, 11):
        process = subprocess.Popen(
            [sys.executable, "manage.py", "backfill_events", "--rebuild", "--batch-size=1", "--workers=1"],
            cwd=PROJECT_DIR, env=_subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        lines = 0
        for line in process.stderr:
            lines += line.startswith("PROGRESS")
            if lines == kill_after:
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=120)
        assert dashboard_numbers_over(days=5) == numbers, f"after a kill at progress line {kill_after}"

    call_command("backfill_events", "--rebuild", verbosity=0)
    assert dashboard_numbers_over(days=5) == numbers
    assert not rebuild_in_progress()


def dashboard_numbers_over(*, days: int):
    today = datetime.now(timezone.utc).date()
    result = get_analytics(start=today - timedelta(days=days), end=today, tz=ZoneInfo("UTC"))
    return (result.conversations, result.resolution_rate, result.escalation_rate, result.total_cost, result.interrupt_stats)


# -- one run at a time -----------------------------------------------------------------------------------

def test_a_second_run_is_refused_with_who_holds_the_lock(five_threads):
    with SyncLock() as lock:
        with pytest.raises(CommandError) as refused:
            call_command("backfill_events", verbosity=0)
    message = str(refused.value)
    assert message.startswith("another backfill_events is running (held by backfill_events pid ")
    assert lock.application_name in message and " since " in message


class LockProbingRecorder(PostgresAnalyticsRecorder):
    """Checks, while each batch is recorded (in a worker process too), that nobody else can take the lock."""

    def record(self, *, threads, source, refresh_rollups=True):
        params = connection.get_connection_params()
        with psycopg.connect(dbname=params["dbname"], **{k: params[k] for k in ("host", "port", "user") if k in params}) as probe:
            if probe.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
                raise AssertionError("the backfill lock was free while a batch was being recorded")
        return super().record(threads=threads, source=source, refresh_rollups=refresh_rollups)


@pytest.mark.django_db(transaction=True)
def test_the_lock_is_held_while_worker_processes_derive(five_threads, settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ANALYTICS_RECORDER": f"{__name__}.LockProbingRecorder"}
    call_command("backfill_events", "--workers=2", batch_size=1, verbosity=0)
    assert Conversation.objects.count() == 5


def test_follow_finds_threads_committed_late_with_old_ids(five_threads, run_reference_agent):
    from analytics.sync import FollowSettings, follow

    call_command("backfill_events", verbosity=0)
    backdated = plan_conversation(seed=41, index=8, scenario="refund_approved")
    run_reference_agent(backdated, STARTED_AT - timedelta(days=2))  # older than the watermark and the lookback
    passes = []

    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=0),
            on_sync=lambda summary, seconds: passes.append(summary.threads),
            should_stop=lambda: len(passes) >= 1,
        )

    assert passes == [1]
    assert Conversation.objects.filter(thread_id=backdated.thread_id).exists()


# -- damaged threads among good ones ---------------------------------------------------------------------

def _damage(conninfo: str) -> None:
    """Threads with one fault each, as found in real databases, beside the good ones."""
    from tests.replay.damaged_threads import execute, run_approval_thread, run_weather_turns

    with psycopg.connect(conninfo, autocommit=True) as connection:
        from langgraph.checkpoint.postgres import PostgresSaver

        saver = PostgresSaver(connection)
        run_weather_turns(saver, "damaged/truncated msgpack")
        run_weather_turns(saver, "damaged naive ts")
        run_weather_turns(saver, "damaged no ts")
        run_weather_turns(saver, "damaged reused call id", turns=2, call_ids=["call_1", "call_1"])
        run_approval_thread(saver, "damaged-interrupt-bytes")
        run_weather_turns(saver, "ü" * 300)
    execute(conninfo, "UPDATE checkpoint_writes SET blob = substring(blob FROM 1 FOR 7) "
            "WHERE thread_id = 'damaged/truncated msgpack' AND channel = 'messages'")
    execute(conninfo, "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', "
            "to_jsonb(left(checkpoint->>'ts', 19))) WHERE thread_id = 'damaged naive ts'")
    execute(conninfo, "UPDATE checkpoints SET checkpoint = checkpoint - 'ts' WHERE thread_id = 'damaged no ts'")
    execute(conninfo, "UPDATE checkpoint_writes SET blob = '\\x00ff13'::bytea "
            "WHERE thread_id = 'damaged-interrupt-bytes' AND channel = '__interrupt__'")


def test_damaged_threads_never_change_the_good_threads_rows(five_threads, checkpoint_db, capsys):
    from analytics.models import AnalyticsEvent

    def good_events():
        return sorted(
            AnalyticsEvent.objects.filter(conversation__thread_id__in=good).values_list(
                "conversation__thread_id", "dedup_key", "event_type", "status", "cost_usd", "occurred_at", "payload"
            )
        )

    good = {plan.thread_id for plan in five_threads}
    call_command("backfill_events", verbosity=0)
    clean, clean_events = snapshot(), good_events()
    Conversation.objects.all().delete()

    _damage(checkpoint_db)
    call_command("backfill_events", batch_size=3)

    conversations, _ = snapshot()
    assert [row for row in conversations if row[0] in good] == clean[0]
    assert good_events() == clean_events
    assert len(conversations) == 11 and not FailedThread.objects.exists()
    assert "DONE backfill_events: 11 threads" in capsys.readouterr().out
    damaged = Conversation.objects.exclude(thread_id__in=good)
    assert all(conversation.step_count > 0 for conversation in damaged)
    reused = Conversation.objects.get(thread_id="damaged reused call id")
    assert reused.tool_call_count == 2


def test_a_rebuild_staged_before_a_migration_starts_again_instead_of_failing(five_threads):
    from django.db import connection

    call_command("backfill_events", verbosity=0)
    before = snapshot()
    with connection.cursor() as cursor:  # what a rebuild killed under an older schema leaves behind
        cursor.execute("CREATE TABLE analytics_rebuild_conversations (LIKE conversations INCLUDING DEFAULTS INCLUDING IDENTITY)")
        cursor.execute("ALTER TABLE analytics_rebuild_conversations DROP COLUMN write_count")
        cursor.execute("CREATE TABLE analytics_rebuild_events (LIKE analytics_events INCLUDING DEFAULTS INCLUDING IDENTITY)")

    call_command("backfill_events", "--rebuild", verbosity=0)

    assert snapshot() == before and not rebuild_in_progress()
