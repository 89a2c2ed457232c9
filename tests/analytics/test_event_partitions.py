"""analytics_events partitioned by month: where events land, months made ahead, idempotency across months,
the rebuild, retention by detaching, and the migration that partitions an existing table."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from analytics.breakdowns import get_breakdowns
from analytics.models import AnalyticsEvent, DetachedEventMonth, EventType, ModelPrice, SyncState
from analytics.partitions import Month, attached_months, detach_expired_partitions, ensure_event_partitions
from analytics.pricing import reprice
from analytics.storage import delete_conversations
from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation
from tests.factories import AnalyticsEventFactory, ConversationFactory, ModelPriceFactory

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
SEPTEMBER = datetime(2026, 9, 20, 14, 0, tzinfo=timezone.utc)
SCENARIOS = ["order_status", "refund_approved", "escalated_directly", "refund_pending", "multi_turn"]
AFTER_RETENTION = datetime(2027, 1, 15, tzinfo=timezone.utc)  # keeping 0 months: November and December go


@pytest.fixture
def threads_in_two_months(run_reference_agent):
    for offset, name in enumerate(SCENARIOS):
        run_reference_agent(plan_conversation(seed=31, index=offset, scenario=name), STARTED_AT + timedelta(hours=offset))
    run_reference_agent(plan_conversation(seed=31, index=9, scenario="refund_approved"), SEPTEMBER)


def partition_of_each_event() -> list[tuple[str, str]]:
    """(partition holding the event, the partition its UTC month names) for every event."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, 'analytics_events_' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY_MM') "
            "FROM analytics_events"
        )
        return cursor.fetchall()


def partitions() -> set[Month]:
    with connection.cursor() as cursor:
        return attached_months(cursor=cursor)


def snapshot():
    events = sorted(
        AnalyticsEvent.objects.values_list("conversation__thread_id", "dedup_key", "event_type", "status", "cost_usd", "occurred_at")
    )
    return events, sorted(partition_of_each_event())


def test_events_land_in_their_months_partition(threads_in_two_months):
    call_command("backfill_events", verbosity=0)

    placed = partition_of_each_event()
    assert {partition for partition, _ in placed} == {"analytics_events_2026_09", "analytics_events_2026_11"}
    assert all(partition == month for partition, month in placed)


def test_partitions_are_created_ahead_for_the_next_months(db):
    assert ensure_event_partitions(moments=[], now=datetime(2031, 5, 31, 23, 0, tzinfo=timezone.utc)) == set()

    assert {Month(2031, 5), Month(2031, 6), Month(2031, 7), Month(2031, 8)} <= partitions()
    assert Month(2031, 9) not in partitions()


def test_far_past_and_far_future_events_are_written(db):
    conversation = ConversationFactory()
    far_past, far_future = datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc)

    # written around the sync, with no partition of their months: the default partition takes them
    AnalyticsEventFactory(conversation=conversation, occurred_at=far_past, dedup_key="past")
    AnalyticsEventFactory(conversation=conversation, occurred_at=far_future, dedup_key="future")
    assert sorted(partition for partition, _ in partition_of_each_event()) == ["analytics_events_default"] * 2

    # the sync making their months moves them out of the default partition
    ensure_event_partitions(moments=[far_past, far_future])
    assert sorted(partition_of_each_event()) == [
        ("analytics_events_1900_01", "analytics_events_1900_01"), ("analytics_events_9999_12", "analytics_events_9999_12"),
    ]
    assert AnalyticsEvent.objects.count() == 2


def test_backfill_twice_and_a_rederived_thread_never_duplicate_an_event(threads_in_two_months):
    call_command("backfill_events", verbosity=0)
    first = snapshot()
    call_command("backfill_events", verbosity=0)
    thread_id = Conversation.objects.get(started_at__month=9).thread_id
    call_command("backfill_events", "--thread", thread_id, verbosity=0)

    assert snapshot() == first
    keys = list(AnalyticsEvent.objects.values_list("conversation_id", "dedup_key"))
    assert len(keys) == len(set(keys)) > 0


def test_the_same_key_twice_in_one_conversation_is_refused_in_any_month(db):
    conversation = ConversationFactory()
    AnalyticsEventFactory(conversation=conversation, occurred_at=STARTED_AT, dedup_key="tool_call:1|tool_call")
    ensure_event_partitions(moments=[SEPTEMBER])

    for occurred_at in (STARTED_AT, SEPTEMBER):
        # the same month: the month's unique index; another month: the trigger (event_unique_dedup_key)
        with pytest.raises(IntegrityError, match="duplicate key value violates unique constraint"), transaction.atomic():
            AnalyticsEventFactory(conversation=conversation, occurred_at=occurred_at, dedup_key="tool_call:1|tool_call")
    AnalyticsEventFactory(conversation=ConversationFactory(), occurred_at=SEPTEMBER, dedup_key="tool_call:1|tool_call")


def test_a_rebuild_swaps_in_the_same_rows_in_the_same_partitions(threads_in_two_months):
    call_command("backfill_events", verbosity=0)
    first = snapshot()

    call_command("backfill_events", "--rebuild", verbosity=0)

    assert snapshot() == first
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('analytics_rebuild_events')")
        assert cursor.fetchone() == (None,)


def dashboard_numbers(api, admin_client) -> dict:
    scope = {"from": "2026-09-01", "to": "2026-11-30", "tz": "UTC"}
    with time_machine.travel(datetime(2026, 12, 6, 11, 20, tzinfo=timezone.utc), tick=False):  # drill-down links name now
        answer = api.get("/api/analytics", scope)
        page = admin_client.get("/admin/analytics/dashboard/", scope)
    assert answer.status_code == page.status_code == 200
    return {
        "api": answer.json(),
        "cards": [(card.key, card.value) for card in page.context["cards"]],
        "charts": [repr(chart) for chart in page.context["charts"]],
        "breakdowns": get_breakdowns(start=date(2026, 9, 1), end=date(2026, 11, 30), tz=ZoneInfo("UTC")),
    }


def test_detaching_past_retention_keeps_the_dashboard_numbers(threads_in_two_months, api, admin_client):
    call_command("backfill_events", verbosity=0)
    before = dashboard_numbers(api, admin_client)
    events = AnalyticsEvent.objects.count()

    detached = detach_expired_partitions(retention_months=0, now=AFTER_RETENTION)

    assert [(month.month, month.table) for month in detached if month.rows] == [
        (Month(2026, 9), "analytics_events_2026_09_detached"), (Month(2026, 11), "analytics_events_2026_11_detached"),
    ]
    assert sum(month.rows for month in detached) == events
    assert AnalyticsEvent.objects.count() == 0
    assert not {month for month in partitions() if month < Month(2027, 1)}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_events_2026_09_detached")
        assert cursor.fetchone()[0] > 0
    assert dashboard_numbers(api, admin_client) == before
    # the archived events hold no key to their conversations: deleting one still works
    delete_conversations(Conversation.objects.filter(started_at__month=9))
    assert Conversation.objects.count() == 5


def test_rollups_recomputed_after_detaching_keep_the_detached_months_breakdowns(
    threads_in_two_months, run_reference_agent, monkeypatch, api, admin_client
):
    """A backfill large enough to recompute every rollup must not drop the cost and latency breakdowns of the
    months whose events were detached: their usage rollups are all that is left of them."""
    call_command("backfill_events", verbosity=0)
    before = dashboard_numbers(api, admin_client)
    detach_expired_partitions(retention_months=0, now=AFTER_RETENTION)

    monkeypatch.setattr("analytics.sync.ROLLUPS_PER_BATCH_UP_TO", 0)
    run_reference_agent(plan_conversation(seed=31, index=20, scenario="order_status"), datetime(2026, 12, 2, tzinfo=timezone.utc))
    call_command("backfill_events", verbosity=0)

    assert Conversation.objects.count() == 7
    assert dashboard_numbers(api, admin_client) == before
    listed = admin_client.get("/admin/analytics/detachedeventmonth/")
    assert b"analytics_events_2026_09_detached" in listed.content and b"analytics_events_2026_11_detached" in listed.content


def test_a_month_detached_again_gets_a_name_of_its_own(db):
    conversation = ConversationFactory()
    ensure_event_partitions(moments=[SEPTEMBER])
    AnalyticsEventFactory(conversation=conversation, occurred_at=SEPTEMBER, dedup_key="first")
    detach_expired_partitions(retention_months=0, now=AFTER_RETENTION)
    ensure_event_partitions(moments=[SEPTEMBER])  # a re-derived old thread brings the month back
    AnalyticsEventFactory(conversation=conversation, occurred_at=SEPTEMBER, dedup_key="first")

    detached = detach_expired_partitions(retention_months=0, now=AFTER_RETENTION)

    assert [month.table for month in detached if month.month == Month(2026, 9)] == ["analytics_events_2026_09_detached_2"]
    assert DetachedEventMonth.objects.get(month=date(2026, 9, 1)).table == "analytics_events_2026_09_detached_2"


def test_dry_run_detaches_nothing(threads_in_two_months, capsys):
    call_command("backfill_events", verbosity=0)
    before = snapshot()

    call_command("detach_event_partitions", "--dry-run", "--retention-months=0")

    out = capsys.readouterr().out
    assert "WOULD DETACH analytics_events_2026_09 -> analytics_events_2026_09_detached" in out
    assert snapshot() == before
    assert {Month(2026, 9), Month(2026, 11)} <= partitions()
    assert not DetachedEventMonth.objects.exists()


def test_no_retention_set_keeps_every_month(threads_in_two_months, capsys, settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "EVENT_RETENTION_MONTHS": None}
    call_command("backfill_events", verbosity=0)

    call_command("detach_event_partitions")

    assert "no retention set" in capsys.readouterr().out
    assert {Month(2026, 9), Month(2026, 11)} <= partitions()


BEFORE, AFTER = ("analytics", "0014_translatable_names"), ("analytics", "0015_partition_events_by_month")


def test_partitioning_an_existing_table_keeps_every_row(db):
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    conversation = ConversationFactory()
    times = [datetime(2019, 2, 28, 23, 59, tzinfo=timezone.utc), STARTED_AT, STARTED_AT + timedelta(days=25), SEPTEMBER]
    with connection.cursor() as cursor:
        for index, occurred_at in enumerate(times):
            cursor.execute(
                "INSERT INTO analytics_events (conversation_id, event_type, occurred_at, agent, tool_name, model, input_tokens, "
                "output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, status, payload, source, dedup_key) "
                "VALUES (%s, 'tool_call', %s, '', '', '', 0, 0, 0, 0, 0, '', '{}', 'backfill', %s)",
                [conversation.pk, occurred_at, f"key-{index}"],
            )
        cursor.execute("SELECT id, occurred_at, dedup_key FROM analytics_events ORDER BY id")
        rows = cursor.fetchall()

    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, occurred_at, dedup_key FROM analytics_events ORDER BY id")
        assert cursor.fetchall() == rows
    assert sorted(partition_of_each_event()) == sorted(
        (f"analytics_events_{moment:%Y_%m}", f"analytics_events_{moment:%Y_%m}") for moment in times
    )
    # the identity goes on after the rows kept
    assert AnalyticsEventFactory(conversation=conversation, dedup_key="new").pk > rows[-1][0]


LATE_SEPTEMBER = datetime(2026, 9, 30, 23, 55, tzinfo=timezone.utc)
EARLY_OCTOBER = datetime(2026, 10, 1, 0, 5, tzinfo=timezone.utc)
MID_NOVEMBER = datetime(2026, 11, 15, tzinfo=timezone.utc)


def llm_call(conversation, *, at: datetime, dedup_key: str):
    return AnalyticsEventFactory(
        conversation=conversation, event_type=EventType.LLM_USAGE, occurred_at=at, dedup_key=dedup_key,
        model="gpt-review", input_tokens=1_000_000, output_tokens=0, cost_usd=Decimal("1.00"), status="priced",
    )


def test_a_reprice_after_detaching_a_month_keeps_the_cost_of_its_calls_in_the_conversation(db):
    """A price change reprices the calls still attached; a conversation that crossed into a detached month keeps
    the cost of that month's calls."""
    price = ModelPriceFactory(model="gpt-review", input_usd_per_million=Decimal("1.00"), output_usd_per_million=Decimal("1.00"))
    ensure_event_partitions(moments=[LATE_SEPTEMBER, EARLY_OCTOBER], now=MID_NOVEMBER)
    conversation = ConversationFactory(started_at=LATE_SEPTEMBER, last_activity_at=EARLY_OCTOBER, cost_usd=Decimal("2.00"))
    llm_call(conversation, at=LATE_SEPTEMBER, dedup_key="september-call")
    llm_call(conversation, at=EARLY_OCTOBER, dedup_key="october-call")

    detached = detach_expired_partitions(retention_months=1, now=MID_NOVEMBER)  # keeps October and November
    assert [month.table for month in detached if month.rows] == ["analytics_events_2026_09_detached"]

    ModelPrice.objects.filter(pk=price.pk).update(input_usd_per_million=Decimal("2.00"))
    reprice(models=["gpt-review"])

    # October's call now costs 2.00; September's 1.00 is archived but still part of the conversation
    assert Conversation.objects.get(pk=conversation.pk).cost_usd == Decimal("3.00")


def test_months_detached_before_the_upgrade_are_known_after_it(db):
    """Their usage rollups must be kept from the first recompute after the upgrade on."""
    MigrationExecutor(connection).migrate([("analytics", "0017_hourly_rollups_by_week_and_month")])
    with connection.cursor() as cursor:
        for table in ("2026_05_detached", "2026_05_detached_2", "2026_07_detached", "2026_08"):
            cursor.execute(f"CREATE TABLE analytics_events_{table} (id bigint)")

    MigrationExecutor(connection).migrate([("analytics", "0018_detached_event_months")])

    assert list(DetachedEventMonth.objects.values_list("month", flat=True)) == [date(2026, 5, 1), date(2026, 7, 1)]


def test_a_month_whose_detached_table_was_dropped_before_the_upgrade_is_known_after_it(db):
    """Conversations older than every attached month lost their events to a detached table dropped since."""
    MigrationExecutor(connection).migrate([("analytics", "0017_hourly_rollups_by_week_and_month")])
    oldest_attached = min(partitions())
    ConversationFactory(started_at=datetime(2019, 3, 5, tzinfo=timezone.utc))

    MigrationExecutor(connection).migrate([("analytics", "0018_detached_event_months")])

    before_oldest = oldest_attached.plus(-1)
    assert list(DetachedEventMonth.objects.values_list("month", "table")) == [
        (date(before_oldest.year, before_oldest.month, 1), "(dropped before the upgrade)")
    ]


def test_nothing_is_detached_while_a_backfill_has_not_finished(threads_in_two_months):
    """Its rollups may not hold every conversation yet, and a detached month's are kept as they are."""
    call_command("backfill_events", verbosity=0)
    SyncState.objects.update(state=SyncState.State.STARTED)  # a run stopped midway
    before = snapshot()

    with pytest.raises(CommandError, match="backfill is under way or was stopped midway"):
        call_command("detach_event_partitions", "--retention-months=0")

    assert snapshot() == before
    assert not DetachedEventMonth.objects.exists()
