"""backfill_events --shard i/n: n workers that each derive their share of the threads, and together exactly
what one unsharded run derives."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from operator import itemgetter

import psycopg
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.test import Client

from analytics.models import AnalyticsEvent, HourlyRollup, SyncState, UsageRollup
from analytics.recorder import PostgresAnalyticsRecorder
from analytics.storage import ROLLUP_LOCK_NAMESPACE, rebuild_rollups
from analytics.sync import FollowSettings, backfill, follow, sync_recent
from analytics.sync_lock import SyncLock
from analytics.sync_status import get_sync_status
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation
from replay.thread_shards import ALL_THREADS, ThreadShard
from smart_support.agent.scenarios import plan_conversation
from tests.analytics.test_backfill import assert_rollups_match_conversations
from tests.factories import ConversationFactory
from tests.test_commands import PROJECT_DIR

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
SEED = 51  # its first twelve thread ids fall 3, 4 and 5 into the shards of 3
SCENARIOS = [
    "order_status", "refund_approved", "escalated_directly", "refund_pending", "multi_turn", "invoice_retry",
    "refund_rejected", "password_failed", "cancel_order", "refund_after_failed_lookup", "smalltalk", "escalated_after_answer",
]
SHARDS_OF_THREE = [ThreadShard(index=index, count=3) for index in range(3)]


def expected_shard(thread_id: str, count: int) -> int:
    """The definition, written out: the first 32 bits of the id's md5, modulo the number of shards."""
    return int(hashlib.md5(thread_id.encode()).hexdigest()[:8], 16) % count


@pytest.fixture
def twelve_threads(run_reference_agent) -> list[str]:
    """Twelve conversations, three or four starting in each of four hours: every hour holds threads of
    several shards."""
    thread_ids = []
    for index, scenario in enumerate(SCENARIOS):
        plan = plan_conversation(seed=SEED, index=index, scenario=scenario)
        run_reference_agent(plan, STARTED_AT + timedelta(minutes=20 * index))
        thread_ids.append(plan.thread_id)
    return thread_ids


def derived_rows() -> dict[str, list]:
    """Every derived row with every column that a run decides (ids and the moment of writing aside)."""
    conversation_columns = [
        field.attname for field in Conversation._meta.concrete_fields if field.attname not in {"id", "synced_at"}
    ]
    event_columns = [
        field.attname for field in AnalyticsEvent._meta.concrete_fields if field.attname not in {"id", "conversation_id"}
    ]
    dedup_key = 1 + event_columns.index("dedup_key")
    return {
        "conversations": sorted(Conversation.objects.values_list(*conversation_columns), key=repr),
        "events": sorted(AnalyticsEvent.objects.values_list("conversation__thread_id", *event_columns), key=itemgetter(dedup_key)),
        "hourly_rollups": sorted(HourlyRollup.objects.values_list(*_columns_but_id(HourlyRollup)), key=repr),
        "usage_rollups": sorted(UsageRollup.objects.values_list(*_columns_but_id(UsageRollup)), key=repr),
    }


def _columns_but_id(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields if field.attname != "id"]


def derived_thread_ids() -> set[str]:
    return set(Conversation.objects.values_list("thread_id", flat=True))


# -- what a shard is -------------------------------------------------------------------------------------

def test_shards_split_the_threads_by_the_md5_of_their_id_disjoint_and_complete(twelve_threads):
    with PostgresCheckpointSource() as source:
        shares = [{thread for thread, _ in source.iter_thread_heads(after="", shard=shard)} for shard in SHARDS_OF_THREE]
        counts = [source.count_thread_heads(after="", shard=shard) for shard in SHARDS_OF_THREE]

    assert shares == [{thread for thread in twelve_threads if expected_shard(thread, 3) == index} for index in range(3)]
    assert [len(share) for share in shares] == counts == [3, 4, 5]
    assert set().union(*shares) == set(twelve_threads)
    assert sum(counts) == len(twelve_threads)  # disjoint


@pytest.mark.django_db
def test_the_orm_shards_a_conversation_by_the_same_md5_as_the_checkpoint_reader():
    thread_ids = ["sim-51-000000", "über-thread", "ORD-61744", "", "a" * 300]
    for thread_id in thread_ids:
        ConversationFactory(thread_id=thread_id)
    for count in (2, 3, 7):
        for index in range(count):
            shard = ThreadShard(index=index, count=count)
            held = set(Conversation.objects.filter(shard.holds()).values_list("thread_id", flat=True))
            assert held == {thread for thread in thread_ids if expected_shard(thread, count) == index}
    assert set(Conversation.objects.filter(ALL_THREADS.holds()).values_list("thread_id", flat=True)) == set(thread_ids)
    assert ALL_THREADS.condition_sql(thread_id="thread_id") == "true"


@pytest.mark.parametrize("value", ["3/3", "0/0", "a/b", "-1/2", "1", "1/", "/3", "0/1001", " 1/3"])
def test_a_shard_must_be_i_of_n(value):
    with pytest.raises(ValueError, match=r"^must be i/n with n from 1 to 1000 and i from 0 to n-1 \(e.g. 0/3, 1/3, 2/3\); got "):
        ThreadShard.parse(value)


def test_a_shard_reads_back_as_written():
    assert (ThreadShard.parse("2/3"), str(ThreadShard.parse("2/3"))) == (ThreadShard(index=2, count=3), "2/3")
    assert ThreadShard.parse("0/1") == ALL_THREADS and ALL_THREADS.is_all
    assert not ThreadShard.parse("999/1000").is_all


# -- three shards derive what one run derives ----------------------------------------------------------------

def test_three_shards_derive_row_for_row_what_one_unsharded_run_derives(twelve_threads, monkeypatch, capsys):
    # shards of 4 and 5 threads rebuild the rollups at their end, the shard of 3 refreshes them batch by batch
    monkeypatch.setattr("analytics.sync.ROLLUPS_PER_BATCH_UP_TO", 3)
    recorder = PostgresAnalyticsRecorder()
    with PostgresCheckpointSource() as source:
        first = backfill(source=source, recorder=recorder, batch_size=2, shard=SHARDS_OF_THREE[0])
        assert derived_thread_ids() == {thread for thread in twelve_threads if expected_shard(thread, 3) == 0}
        call_command("backfill_events", "--shard", "1/3", batch_size=2)
        assert derived_thread_ids() == {thread for thread in twelve_threads if expected_shard(thread, 3) != 2}
        assert_rollups_match_conversations()  # exact after every shard, not only after the last
        last = backfill(source=source, recorder=recorder, batch_size=2, shard=SHARDS_OF_THREE[2])
    sharded = derived_rows()
    assert (first.threads, last.threads) == (3, 5)
    out, err = capsys.readouterr()
    assert "START backfill_events --shard 1/3" in out and "DONE backfill_events: 4 threads" in out
    assert "PROGRESS 0/4 threads" in err and "PROGRESS 4/4 threads" in err
    assert sorted(SyncState.objects.values_list("name", "state")) == [
        ("backfill 0/3", "done"), ("backfill 1/3", "done"), ("backfill 2/3", "done"),
    ]

    Conversation.objects.all().delete()
    HourlyRollup.objects.all().delete()
    UsageRollup.objects.all().delete()
    SyncState.objects.all().delete()
    call_command("backfill_events", batch_size=2, verbosity=0)

    assert derived_rows() == sharded
    assert len(sharded["conversations"]) == 12 and len(sharded["events"]) > 100
    every_span = {"hour", "day", "week", "month"}
    assert {row[0] for row in sharded["hourly_rollups"]} == {row[0] for row in sharded["usage_rollups"]} == every_span
    assert_rollups_match_conversations()


def test_a_shard_resumes_from_its_own_progress(twelve_threads):
    call_command("backfill_events", "--shard", "0/3", verbosity=0)
    with PostgresCheckpointSource() as source:
        again = backfill(source=source, recorder=PostgresAnalyticsRecorder(), shard=SHARDS_OF_THREE[0])
        other = backfill(source=source, recorder=PostgresAnalyticsRecorder(), shard=SHARDS_OF_THREE[1])
    assert (again.threads, again.skipped, other.threads) == (0, 3, 4)
    watermarks = dict(SyncState.objects.values_list("name", "watermark"))
    assert watermarks.keys() == {"backfill 0/3", "backfill 1/3"}
    assert watermarks["backfill 0/3"] == max(
        Conversation.objects.filter(SHARDS_OF_THREE[0].holds()).values_list("last_checkpoint_id", flat=True)
    )


# -- live sync of a shard --------------------------------------------------------------------------------------

def run_now(run_reference_agent, *, index: int, scenario: str = "order_status") -> str:
    plan = plan_conversation(seed=SEED, index=index, scenario=scenario)
    run_reference_agent(plan, datetime.now(timezone.utc))  # live sync follows the wall clock
    return plan.thread_id


def test_follow_with_a_shard_derives_only_the_shards_new_threads(run_reference_agent):
    with time_machine.travel(STARTED_AT, tick=False):
        call_command("backfill_events", "--shard=1/3", verbosity=0)  # the catch-up, before anything was written
    new = {index: run_now(run_reference_agent, index=index) for index in (0, 1, 5)}  # shards 0, 1 and 2
    passes = []
    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            on_sync=lambda summary, seconds: passes.append(summary.threads),
            should_stop=lambda: len(passes) >= 1, shard=SHARDS_OF_THREE[1],
        )
    assert passes == [1] and derived_thread_ids() == {new[1]}
    status = SyncState.objects.get()
    assert (status.name, status.synced_at > STARTED_AT, status.watermark > "") == ("backfill 1/3", True, True)


def test_follow_with_a_shard_looks_back_from_the_shards_own_watermark(run_reference_agent):
    """Its live passes read only what changed near the shard's watermark; a thread committed late with old ids
    waits for the full comparison, as in an unsharded run."""
    run_now(run_reference_agent, index=1)  # shard 1
    call_command("backfill_events", "--shard=1/3", verbosity=0)
    late = plan_conversation(seed=SEED, index=2, scenario="order_status")  # shard 1 too
    run_reference_agent(late, datetime.now(timezone.utc) - timedelta(minutes=30))
    passes = iter(range(3))
    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=3600),
            should_stop=lambda: next(passes) >= 1, shard=SHARDS_OF_THREE[1],
        )
    assert late.thread_id not in derived_thread_ids()


def test_follow_with_a_shard_compares_only_its_share_in_full(run_reference_agent):
    old = STARTED_AT - timedelta(days=2)  # older than any live look-back: only the full comparison finds them
    for index in (0, 1, 5):
        run_reference_agent(plan_conversation(seed=SEED, index=index, scenario="order_status"), old)
    passes = []
    with PostgresCheckpointSource() as source:
        follow(
            source=source, recorder=PostgresAnalyticsRecorder(),
            follow_settings=FollowSettings(interval=0, reconcile_every=0),
            on_sync=lambda summary, seconds: passes.append(summary.threads),
            should_stop=lambda: len(passes) >= 1, shard=SHARDS_OF_THREE[2],
        )
    assert passes == [1] and derived_thread_ids() == {plan_conversation(seed=SEED, index=5).thread_id}


def test_a_live_pass_of_a_shard_expires_only_the_shards_approvals(run_reference_agent):
    pending = [plan_conversation(seed=SEED, index=index, scenario="refund_pending") for index in (0, 1)]  # shards 0 and 1
    for plan in pending:
        run_reference_agent(plan, STARTED_AT)
    call_command("backfill_events", verbosity=0)
    # as they would stand had nobody answered the approvals raised three days ago
    Conversation.objects.update(
        status="awaiting_approval", newest_pending_interrupt_at=STARTED_AT - timedelta(days=3),
        oldest_pending_interrupt_at=STARTED_AT - timedelta(days=3),
    )
    with PostgresCheckpointSource() as source:
        watermark = max(Conversation.objects.values_list("last_checkpoint_id", flat=True))
        _, summary = sync_recent(
            source=source, recorder=PostgresAnalyticsRecorder(), watermark=watermark,
            now=STARTED_AT + timedelta(days=5), shard=SHARDS_OF_THREE[1],
        )
    statuses = dict(Conversation.objects.values_list("thread_id", "status"))
    assert summary.threads == 1
    assert statuses[pending[0].thread_id] == "awaiting_approval"  # shard 0's: left to shard 0
    assert statuses[pending[1].thread_id] != "awaiting_approval"


def test_follow_command_with_a_shard_catches_up_and_follows_its_share(run_reference_agent, monkeypatch, capsys):
    new = {index: run_now(run_reference_agent, index=index) for index in (0, 1)}  # shards 0 and 1

    def stop(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("analytics.sync.time.sleep", stop)  # Ctrl-C after the first live pass
    call_command("backfill_events", "--follow", "--shard", "0/3", verbosity=0)

    assert derived_thread_ids() == {new[0]}
    assert capsys.readouterr().out.rstrip().endswith("STOP backfill_events --follow")
    assert SyncState.objects.get().name == "backfill 0/3"


# -- one process per shard --------------------------------------------------------------------------------------

def test_the_same_shard_twice_is_refused_naming_the_holder(checkpoint_db):
    with SyncLock(shard=ThreadShard(index=1, count=3)) as lock:
        with pytest.raises(CommandError) as refused:
            call_command("backfill_events", "--shard", "1/3", verbosity=0)
    message = str(refused.value)
    assert message.startswith("another backfill_events --shard 1/3 is running (held by backfill_events --shard 1/3 pid ")
    assert lock.application_name in message and message.endswith("wait for it to finish or stop it, then run again")


def test_different_shards_run_side_by_side(checkpoint_db, capsys):
    with SyncLock(shard=ThreadShard(index=0, count=3)), SyncLock(shard=ThreadShard(index=2, count=3)):
        call_command("backfill_events", "--shard", "1/3")
    assert "DONE backfill_events: 0 threads" in capsys.readouterr().out


def test_an_unsharded_run_refuses_while_a_shard_runs(checkpoint_db):
    with SyncLock(shard=ThreadShard(index=2, count=3)) as lock:
        with pytest.raises(CommandError) as refused:
            call_command("backfill_events", verbosity=0)
    assert str(refused.value).startswith(f"another backfill_events is running (held by {lock.application_name} ")


def test_a_shard_refuses_while_an_unsharded_run_runs(checkpoint_db):
    with SyncLock() as lock:
        with pytest.raises(CommandError) as refused:
            call_command("backfill_events", "--shard", "0/3", verbosity=0)
    assert str(refused.value).startswith(f"another backfill_events is running (held by {lock.application_name} ")


def test_shards_of_another_split_are_refused(checkpoint_db):
    with SyncLock(shard=ThreadShard(index=0, count=2)) as lock:
        with pytest.raises(CommandError) as refused:
            call_command("backfill_events", "--shard", "0/3", verbosity=0)
        with SyncLock(shard=ThreadShard(index=1, count=2)):  # its own split is welcome
            pass
    assert str(refused.value).startswith(
        f"backfill_events with another --shard i/n than i/3 is running (held by {lock.application_name} "
    )
    assert "every shard running at once must split by the same n" in str(refused.value)


def test_a_refused_shard_leaves_no_part_of_the_lock_behind(checkpoint_db):
    with SyncLock(shard=ThreadShard(index=0, count=2)):
        with pytest.raises(CommandError):
            call_command("backfill_events", "--shard", "0/3", verbosity=0)
    with SyncLock():  # nothing of the refused run holds the shared key
        pass


# -- options ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["3/3", "0/0", "a/b", "-1/2", "1"])
def test_a_bad_shard_is_refused_saying_what_is_accepted(checkpoint_db, value):
    with pytest.raises(CommandError) as refused:
        call_command("backfill_events", f"--shard={value}")
    assert str(refused.value) == (
        f"Error: argument --shard: must be i/n with n from 1 to 1000 and i from 0 to n-1 (e.g. 0/3, 1/3, 2/3); got {value!r}"
    )


def test_a_bad_shard_exits_2_with_one_line(checkpoint_db):
    result = subprocess.run(
        [sys.executable, "manage.py", "backfill_events", "--shard", "3/3"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "argument --shard: must be i/n with n from 1 to 1000 and i from 0 to n-1 (e.g. 0/3, 1/3, 2/3); got '3/3'"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("option", ["--rebuild", "--thread=sim-51-000000", "--retry-failed"])
def test_options_for_every_thread_are_refused_with_a_shard(checkpoint_db, option):
    with pytest.raises(CommandError) as refused:
        call_command("backfill_events", "--shard=1/3", option)
    assert refused.value.returncode == 2
    assert str(refused.value) == (
        "--shard cannot be combined with --thread, --rebuild or --retry-failed: they are for every thread, "
        "run them without --shard (after stopping the shards)"
    )


def test_one_shard_of_one_is_an_unsharded_run(twelve_threads):
    call_command("backfill_events", "--shard=0/1", "--rebuild", verbosity=0)
    assert len(derived_thread_ids()) == 12 and SyncState.objects.get().name == "backfill"


# -- what "last synced" says -----------------------------------------------------------------------------------

def test_last_synced_is_the_oldest_pass_of_the_newest_complete_split(checkpoint_db):
    def run_at(moment: datetime, *options: str) -> None:
        with time_machine.travel(moment, tick=False):
            call_command("backfill_events", *options, verbosity=0)

    run_at(STARTED_AT)
    run_at(STARTED_AT + timedelta(hours=2), "--shard=1/2")
    assert get_sync_status().synced_at == STARTED_AT  # shard 0/2 never passed: the split covers nothing yet
    run_at(STARTED_AT + timedelta(hours=1), "--shard=0/2")
    run_at(STARTED_AT + timedelta(hours=3), "--shard=2/3")  # an incomplete split, however recent
    assert get_sync_status().synced_at == STARTED_AT + timedelta(hours=1)

    with time_machine.travel(STARTED_AT + timedelta(hours=1, seconds=90), tick=False):
        body = Client(HTTP_HOST="10.0.0.7:8000").get("/readyz").json()
    assert (body["last_synced_at"], body["sync_lag_seconds"]) == ("2026-11-10T10:30:00Z", 90.0)


def test_last_synced_says_when_a_split_passed_after_an_unsharded_run_and_the_newest_checkpoint_derived(
    twelve_threads, admin_client
):
    call_command("backfill_events", verbosity=0)
    for index, shard in enumerate(SHARDS_OF_THREE):
        with time_machine.travel(STARTED_AT + timedelta(days=30, minutes=index), tick=False):
            call_command("backfill_events", f"--shard={shard}", verbosity=0)

    status = get_sync_status()
    assert status.synced_at == STARTED_AT + timedelta(days=30)
    newest = max(Conversation.objects.values_list("last_activity_at", flat=True))
    assert abs(status.newest_derived_at - newest) < timedelta(seconds=1)
    with time_machine.travel(STARTED_AT + timedelta(days=30, seconds=12), tick=False):
        page = admin_client.get("/admin/analytics/dashboard/", {"range": "7d"}).content.decode()
    assert "Last synced 12 s ago." in page


# -- rollups shared by the shards -----------------------------------------------------------------------------

def test_a_rollup_rebuild_waits_for_a_shard_refreshing_an_hour_before_deleting_anything(checkpoint_db):
    """A shard refreshing an hour holds every period's key shared, then that hour's: a rebuild that deleted
    rows before taking the key exclusively would wait for that shard's rows while the shard waits for it."""
    with psycopg.connect(checkpoint_db, autocommit=False) as shard_refreshing:
        shard_refreshing.execute("SELECT pg_advisory_xact_lock_shared(%s, 0)", (ROLLUP_LOCK_NAMESPACE,))
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
            try:
                with pytest.raises(OperationalError, match="lock timeout"):
                    rebuild_rollups()
            finally:
                cursor.execute("RESET lock_timeout")
