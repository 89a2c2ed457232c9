"""backfill_events as staff run it: idempotent, resumable, one at a time, and live sync."""

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from langgraph.types import Command

from analytics.models import AnalyticsEvent, SyncState
from analytics.recorder import PostgresAnalyticsRecorder
from analytics.sync import backfill, sync_recent
from analytics.sync_lock import LOCK_KEY
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation
from smart_support.agent.graph import build_support_graph
from smart_support.agent.scenarios import plan_conversation
from smart_support.agent.simulate import ScriptBook, connect_checkpointer

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
SCENARIOS = ["order_status", "refund_approved", "escalated_directly", "refund_pending", "multi_turn"]


@pytest.fixture
def five_threads(run_reference_agent):
    plans = [plan_conversation(seed=31, index=index, scenario=name) for index, name in enumerate(SCENARIOS)]
    for offset, plan in enumerate(plans):
        run_reference_agent(plan, STARTED_AT + timedelta(hours=offset))
    return plans


def assert_rollups_match_conversations():
    from datetime import date
    from zoneinfo import ZoneInfo

    from analytics.queries import CONVERSATIONS, ROLLUPS, get_analytics

    scope = {"start": date(2026, 11, 9), "end": date(2026, 11, 11), "tz": ZoneInfo("Europe/Berlin"), "now": STARTED_AT}
    assert get_analytics(**scope, source=ROLLUPS) == get_analytics(**scope, source=CONVERSATIONS)
    assert get_analytics(**scope).conversations == Conversation.objects.count()


def snapshot():
    """Every derived row, as a manager would compare two runs."""
    conversations = sorted(
        Conversation.objects.values_list("thread_id", "status", "step_count", "cost_usd", "input_tokens", "last_checkpoint_id")
    )
    events = sorted(AnalyticsEvent.objects.values_list("dedup_key", "event_type", "status", "cost_usd", "occurred_at"))
    return conversations, events


def test_a_large_backfill_rebuilds_the_rollups_once_at_the_end(five_threads, monkeypatch):
    import analytics.storage

    refreshes = []
    refresh = analytics.storage._refresh_rollups

    def counted(*, cursor, hours):
        refreshes.append(len(set(hours)))
        refresh(cursor=cursor, hours=hours)

    monkeypatch.setattr("analytics.storage._refresh_rollups", counted)
    monkeypatch.setattr("analytics.sync.ROLLUPS_PER_BATCH_UP_TO", 2)
    call_command("backfill_events", batch_size=2, verbosity=0)

    assert refreshes == [5]  # not once per batch of two: the five threads' hours, together, at the end
    assert_rollups_match_conversations()


def pending_gin_pages() -> int:
    """Pages waiting in the conversations' GIN pending lists (merging them now: what the first searches would
    otherwise scan, each)."""
    from django.db import connection

    from analytics.storage import _CLEAN_GIN_PENDING_LISTS_SQL

    with connection.cursor() as cursor:
        cursor.execute(_CLEAN_GIN_PENDING_LISTS_SQL)
        return sum(pages for (pages,) in cursor.fetchall())


def planned_conversations() -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'conversations'")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("run", [["--rebuild"], []], ids=["rebuild", "large backfill"])
def test_a_bulk_write_leaves_fresh_statistics_and_no_pending_search_index_entries(five_threads, monkeypatch, run):
    monkeypatch.setattr("analytics.sync.ROLLUPS_PER_BATCH_UP_TO", 2)

    call_command("backfill_events", *run, verbosity=0)

    assert planned_conversations() == 5
    assert pending_gin_pages() == 0


def test_backfill_twice_writes_the_same_rows(five_threads, capsys):
    call_command("backfill_events", verbosity=0)
    first = snapshot()
    call_command("backfill_events", "--rebuild", verbosity=0)
    assert snapshot() == first
    call_command("backfill_events", verbosity=0)  # nothing new: nothing rewritten
    assert snapshot() == first
    assert len(first[0]) == 5
    assert "DONE backfill_events: 0 threads" in capsys.readouterr().out


class CrashOnSecondBatch(PostgresAnalyticsRecorder):
    """A backfill killed while its second batch is being written."""

    calls = 0

    def record(self, *, threads, source, refresh_rollups=True):
        CrashOnSecondBatch.calls += 1
        if CrashOnSecondBatch.calls == 2:
            raise KeyboardInterrupt("killed")
        return super().record(threads=threads, source=source, refresh_rollups=refresh_rollups)


def test_a_run_killed_midway_resumes_to_the_same_rows(five_threads, caplog):
    call_command("backfill_events", batch_size=2, verbosity=0)
    clean = snapshot()
    call_command("backfill_events", "--rebuild", "--dry-run", verbosity=0)
    Conversation.objects.all().delete()
    SyncState.objects.all().delete()

    CrashOnSecondBatch.calls = 0
    with PostgresCheckpointSource() as source, pytest.raises(KeyboardInterrupt):
        backfill(source=source, recorder=CrashOnSecondBatch(), batch_size=2)
    assert Conversation.objects.count() == 2  # the first batch landed, the second rolled back
    assert SyncState.objects.get().state == SyncState.State.STARTED

    with caplog.at_level("INFO", logger="analytics.sync"):
        call_command("backfill_events", batch_size=2, verbosity=0)

    assert "backfill: the last run stopped midway; its rollups are redone at the end" in caplog.messages
    assert snapshot() == clean
    assert SyncState.objects.get().state == SyncState.State.DONE
    assert_rollups_match_conversations()


def test_dry_run_writes_nothing(five_threads, capsys):
    call_command("backfill_events", "--dry-run")
    assert Conversation.objects.count() == 0 and AnalyticsEvent.objects.count() == 0
    out = capsys.readouterr().out
    assert "START backfill_events (dry run)" in out and "DONE backfill_events: 5 threads" in out


def test_one_thread_and_a_date_window(five_threads):
    call_command("backfill_events", thread=five_threads[1].thread_id, verbosity=0)
    assert list(Conversation.objects.values_list("thread_id", flat=True)) == [five_threads[1].thread_id]

    call_command("backfill_events", "--since=2026-11-10", "--until=2026-11-10", verbosity=0)
    assert Conversation.objects.count() == 5
    call_command("backfill_events", "--rebuild", "--since=2026-11-11", verbosity=0)
    assert Conversation.objects.count() == 5  # nothing active on the 11th: nothing deleted


def test_a_second_run_is_refused_while_one_holds_the_lock(five_threads, checkpoint_db):
    with psycopg.connect(checkpoint_db) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        with pytest.raises(CommandError, match="another backfill_events is running"):
            call_command("backfill_events", verbosity=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--batch-size=0"], "--batch-size must be from 1 to 10000"),
     (["--since=2026-11-12", "--until=2026-11-10"], "--since must be on or before --until")],
)
def test_bad_options_are_refused(checkpoint_db, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("backfill_events", *options)


def test_bad_date_exits_2_with_one_line(checkpoint_db):
    import subprocess
    import sys

    from tests.test_commands import PROJECT_DIR

    result = subprocess.run(
        [sys.executable, "manage.py", "backfill_events", "--since", "last week"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "argument --since: must be a date like 2026-11-01; got 'last week'" in result.stderr
    assert "Traceback" not in result.stderr


def test_live_sync_picks_up_new_turns_resumes_and_expiries(checkpoint_db):
    book = ScriptBook()
    checkpointer = connect_checkpointer(checkpoint_db)
    graph = build_support_graph(reply_for=book.reply_for, checkpointer=checkpointer)
    plan = plan_conversation(seed=32, index=0, scenario="refund_approved")
    book.load(plan)
    config = {"configurable": {"thread_id": plan.thread_id}}
    graph.invoke({"messages": [("user", plan.turns[0].user_text)]}, config)  # stops at the approval
    recorder = PostgresAnalyticsRecorder()

    with PostgresCheckpointSource() as source:
        watermark, first = sync_recent(source=source, recorder=recorder, watermark="")
        assert first.threads == 1
        assert Conversation.objects.get().status == "awaiting_approval"

        graph.invoke(Command(resume={"approved": True, "reviewer": "lee"}), config)
        watermark, second = sync_recent(source=source, recorder=recorder, watermark=watermark)
        conversation = Conversation.objects.get()
        assert second.threads == 1
        assert (conversation.status, conversation.interrupts_approved) == ("resolved", 1)

        watermark, idle = sync_recent(source=source, recorder=recorder, watermark=watermark)
        assert idle.threads == 0  # nothing changed: nothing re-derived

        # as it would stand had nobody answered the approval raised three days ago
        Conversation.objects.update(
            status="awaiting_approval", newest_pending_interrupt_at=STARTED_AT - timedelta(days=3),
            oldest_pending_interrupt_at=STARTED_AT - timedelta(days=3),
        )
        _, expiring = sync_recent(source=source, recorder=recorder, watermark=watermark)
        assert expiring.threads == 1
    checkpointer.conn.close()
    assert AnalyticsEvent.objects.filter(source="live").exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_workers_write_the_same_rows_as_one_process(five_threads):
    call_command("backfill_events", "--workers=1", batch_size=2, verbosity=0)
    one_process = snapshot()

    call_command("backfill_events", "--rebuild", "--workers=2", batch_size=1, verbosity=0)

    assert snapshot() == one_process
    assert_rollups_match_conversations()
    assert SyncState.objects.get().watermark == max(row[5] for row in one_process[0])


def test_progress_is_plain_lines_when_not_on_a_terminal(five_threads, capsys):
    call_command("backfill_events", batch_size=2)
    err = capsys.readouterr().err
    assert "PROGRESS 0/5 threads" in err and "PROGRESS 5/5 threads" in err


def test_the_closing_line_sums_every_batch_events_unpriced_tokens_and_unreadable_steps(five_threads, checkpointer, capsys):
    """Staff read the DONE line to judge a run: its figures are the whole run's, not the last batch's nor
    the last thread's. Three threads of unpriced models and two with an unreadable answer, sorted after the
    five, so that batches of two hold two of each."""
    from analytics.models import EventType
    from tests.replay.damaged_threads import execute, run_weather_turns

    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import START, MessagesState, StateGraph

    for letter, tokens in (("a", 12), ("b", 30), ("c", 7)):
        unpriced_reply = AIMessage(
            "Hello.", response_metadata={"model_name": f"mystery-{letter}"},
            usage_metadata={"input_tokens": tokens, "output_tokens": 5, "total_tokens": tokens + 5},
        )
        graph = StateGraph(MessagesState)
        graph.add_node("assistant", lambda state, reply=unpriced_reply: {"messages": [reply]})
        graph.add_edge(START, "assistant")
        graph.compile(checkpointer=checkpointer).invoke(
            {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": f"unpriced-model-{letter}"}}
        )
    for number in (1, 2):
        run_weather_turns(checkpointer, f"unreadable-answer-{number}")
    execute(
        checkpointer.conn.info.dsn,
        "UPDATE checkpoint_writes SET blob = substring(blob FROM 1 FOR 5) "
        "WHERE thread_id LIKE 'unreadable-answer-%%' AND channel = 'messages' AND task_path LIKE '%%tools'",
    )

    call_command("backfill_events", batch_size=2)

    out = capsys.readouterr().out
    unpriced = AnalyticsEvent.objects.filter(status="unpriced")
    unpriced_tokens = sum(event.input_tokens + event.output_tokens for event in unpriced)
    unknown_steps = AnalyticsEvent.objects.filter(event_type=EventType.UNKNOWN).count()
    assert unpriced_tokens == 17 + 35 + 12 and unknown_steps == 2
    assert f"DONE backfill_events: 10 threads, {AnalyticsEvent.objects.count()} events in " in out
    assert f"unpriced tokens {unpriced_tokens} (models: mystery-a, mystery-b, mystery-c)" in out
    assert f"warnings {unknown_steps} unreadable steps; failed threads 0" in out


def test_the_closing_line_says_how_long_the_run_took(five_threads, capsys):
    import re
    import time

    started = time.monotonic()
    call_command("backfill_events")
    took = time.monotonic() - started

    seconds = float(re.search(r"DONE backfill_events: 5 threads, \d+ events in ([\d.]+) s", capsys.readouterr().out).group(1))
    assert 0 < seconds <= took + 0.05


def test_a_window_that_ends_before_the_threads_began_derives_none_of_them(five_threads, capsys):
    call_command("backfill_events", "--until=2026-11-09")
    call_command("backfill_events", "--since=2026-11-11")

    assert not Conversation.objects.exists()
    assert capsys.readouterr().err.count("PROGRESS 0/0 threads") == 2  # the five are outside both windows


def test_long_threads_are_read_a_few_at_a_time_and_every_one_is_derived(five_threads, monkeypatch):
    """A worker's memory follows what it reads at once: the bound is in checkpoints, not only in threads."""
    call_command("backfill_events", verbosity=0)
    expected = snapshot()
    counts = PostgresCheckpointSource().checkpoint_counts(thread_ids=[plan.thread_id for plan in five_threads])
    bound = max(counts.values()) + 1  # room for the longest thread, never for it and a second long one
    monkeypatch.setattr("analytics.sync.MOST_CHECKPOINTS_AT_ONCE", bound)
    reads = []
    get_threads = PostgresCheckpointSource.get_threads

    def counted(self, *, thread_ids):
        reads.append(sum(counts[thread_id] for thread_id in thread_ids))
        return get_threads(self, thread_ids=thread_ids)

    monkeypatch.setattr(PostgresCheckpointSource, "get_threads", counted)
    call_command("backfill_events", "--rebuild", verbosity=0)

    assert len(reads) > 1 and max(reads) <= bound
    assert sum(reads) == sum(counts.values())  # each thread read once
    assert snapshot() == expected
