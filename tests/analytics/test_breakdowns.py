"""Cost and tokens by model and by agent, and latency p50 / p95 by agent, over conversations written by
real graphs (tests/apps/timed_app.py on a stopped clock, and the reference agent), read from the rollups
and directly from the events, in UTC, Asia/Kolkata (+05:30) and America/New_York across the end of DST."""

import math
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analytics.breakdowns import LatencyBreakdown, UsageBreakdown, get_breakdowns
from analytics.models import AnalyticsEvent, EventType, UsageRollup
from analytics.queries import day_bounds, get_analytics
from analytics.rollup_keys import RollupCover, rollup_cover
from analytics.usage_rollups import LATENCY_BOUNDS, LATENCY_BOUNDS_SQL, RELATIVE_ERROR, bucket_latency, latency_bucket
from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation
from tests.apps.timed_app import run_timed_conversation

UTC, KOLKATA, NEW_YORK = ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 5, 12, tzinfo=timezone.utc)


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


# thread: start (UTC), how much slower than tests/apps/timed_app.py's durations, billing's model
TIMED = {
    "timed-oct31-2300": (utc(31, 23, month=10), 1.0, "gpt-4o"),
    "timed-nov1-0330": (utc(1, 3, 30), 1.5, "gpt-4o"),  # New York: Oct 31, 23:30 EDT
    "timed-nov1-0415": (utc(1, 4, 15), 2.0, "gpt-4o"),  # New York: Nov 1, 00:15 EDT
    "timed-nov1-1820": (utc(1, 18, 20), 0.5, "gpt-4o"),  # Kolkata: Nov 1, 23:50
    "timed-nov1-1840": (utc(1, 18, 40), 3.0, "acme-large"),  # Kolkata: Nov 2, 00:10; a model with no price
    "timed-nov2-0430": (utc(2, 4, 30), 1.25, "gpt-4o"),  # New York: Nov 1, 23:30 EST (the day had 25 hours)
    "timed-nov2-0510": (utc(2, 5, 10), 0.75, "gpt-4o"),  # New York: Nov 2, 00:10 EST
}
REFERENCE = {  # the reference agent: supervisor, billing, orders, tech_support
    (31, "multi_turn"): utc(31, 15, month=10),
    (1, "escalated_after_answer"): utc(1, 10),
    (2, "multi_turn"): utc(2, 12),
}


@pytest.fixture
def conversations(checkpointer, run_reference_agent):
    for thread_id, (started_at, scale, billing_model) in TIMED.items():
        run_timed_conversation(
            checkpointer=checkpointer, thread_id=thread_id, started_at=started_at, scale=scale, billing_model=billing_model
        )
    for (index, scenario), started_at in REFERENCE.items():
        run_reference_agent(plan_conversation(seed=12, index=index, scenario=scenario), started_at)
    with time_machine.travel(NOW, tick=True):
        call_command("backfill_events", verbosity=0)


def nearest_rank(values: list[int], fraction: float) -> int | None:
    return sorted(values)[math.ceil(fraction * len(values)) - 1] if values else None


def computed_from_events(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None):
    """The breakdowns worked out in Python from the population's events, percentiles exact."""
    lower, upper = day_bounds(start=start, end=end, tz=tz)
    population = Conversation.objects.filter(started_at__gte=lower, started_at__lt=upper)
    if agent:
        population = population.filter(agents_used__contains=[agent])
    events = list(AnalyticsEvent.objects.filter(conversation__in=population))
    usage = {"model": defaultdict(list), "agent": defaultdict(list)}
    latencies = defaultdict(lambda: {"llm": [], "tool": []})
    for event in events:
        if event.event_type == EventType.LLM_USAGE:
            usage["model"][event.model].append(event)
            usage["agent"][event.agent].append(event)
        if event.event_type in {EventType.LLM_USAGE, EventType.TOOL_RESULT} and event.latency_ms is not None:
            latencies[event.agent]["llm" if event.event_type == EventType.LLM_USAGE else "tool"].append(event.latency_ms)

    def breakdown(name, calls) -> UsageBreakdown:
        return UsageBreakdown(
            name=name, calls=len(calls), input_tokens=sum(c.input_tokens for c in calls),
            output_tokens=sum(c.output_tokens for c in calls), cache_read_tokens=sum(c.cache_read_tokens for c in calls),
            cache_write_tokens=sum(c.cache_write_tokens for c in calls), reasoning_tokens=sum(c.reasoning_tokens for c in calls),
            cost_usd=sum((c.cost_usd for c in calls if c.cost_usd is not None), Decimal(0)),
            cache_savings_usd=sum((c.cache_savings_usd for c in calls if c.cache_savings_usd is not None), Decimal(0)),
            unpriced_calls=sum(c.status == "unpriced" for c in calls),
        )

    def ordered(groups) -> tuple:
        rows = [breakdown(name, calls) for name, calls in groups.items()]
        return tuple(sorted(rows, key=lambda row: (-row.cost_usd, -row.calls, row.name)))

    exact = {
        name: {kind: (nearest_rank(values, 0.5), nearest_rank(values, 0.95), len(values)) for kind, values in kinds.items()}
        for name, kinds in latencies.items()
    }
    return ordered(usage["model"]), ordered(usage["agent"]), exact


def as_read(value: int | None) -> int | None:
    """What the histogram reports for an exact latency."""
    return None if value is None else bucket_latency(latency_bucket(value))


def assert_equals_the_events(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> None:
    by_model, by_agent, exact = computed_from_events(start=start, end=end, tz=tz, agent=agent)
    result = get_analytics(start=start, end=end, tz=tz, agent=agent, now=NOW)
    assert (result.by_model, result.by_agent) == (by_model, by_agent)
    assert result.latency == tuple(
        LatencyBreakdown(
            agent=name,
            llm_p50_ms=as_read(exact[name]["llm"][0]), llm_p95_ms=as_read(exact[name]["llm"][1]), llm_calls=exact[name]["llm"][2],
            tool_p50_ms=as_read(exact[name]["tool"][0]), tool_p95_ms=as_read(exact[name]["tool"][1]), tool_calls=exact[name]["tool"][2],
        )
        for name in sorted(exact)
    )
    for row in result.latency:
        for reported, true in ((row.llm_p50_ms, exact[row.agent]["llm"][0]), (row.tool_p95_ms, exact[row.agent]["tool"][1])):
            assert (reported is None) == (true is None)
            assert true is None or abs(reported - true) <= RELATIVE_ERROR * true
    assert sum(row.cost_usd for row in result.by_model) == sum(row.cost_usd for row in result.by_agent) == result.total_cost
    assert sum(row.input_tokens for row in result.by_model) == result.input_tokens
    assert sum(row.output_tokens for row in result.by_agent) == result.output_tokens
    # and the two ways of reading agree whatever path the range takes
    assert get_breakdowns(start=start, end=end, tz=tz, agent=agent, from_rollups=False) == get_breakdowns(
        start=start, end=end, tz=tz, agent=agent, from_rollups=tz is not KOLKATA
    )


@pytest.mark.parametrize("tz", [UTC, KOLKATA, NEW_YORK], ids=["utc", "kolkata", "new_york"])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 11, 1), date(2026, 11, 1)),
        (date(2026, 10, 31), date(2026, 11, 2)),
        (date(2026, 10, 1), date(2026, 11, 30)),  # whole UTC months, read from month rows
        (date(2026, 10, 25), date(2026, 11, 9)),  # whole UTC weeks (from Monday Oct 26 and Nov 2), no whole month
        (date(2026, 10, 20), date(2026, 11, 30)),  # November whole; Oct 26's week ends in it, so Oct 26-31 are days
        (date(2026, 10, 1), date(2026, 11, 12)),  # October whole, then Nov 1 a day and the week from Nov 2
    ],
    ids=["dst_day", "three_days", "two_months", "two_weeks", "days_then_month", "month_day_week"],
)
def test_breakdowns_equal_the_events_of_the_population(conversations, tz, start, end):
    assert_equals_the_events(start=start, end=end, tz=tz)


@pytest.mark.parametrize("tz", [UTC, KOLKATA, NEW_YORK], ids=["utc", "kolkata", "new_york"])
def test_the_agent_filter_keeps_the_conversations_it_took_part_in(conversations, tz):
    assert_equals_the_events(start=date(2026, 10, 31), end=date(2026, 11, 2), tz=tz, agent="triage")
    assert_equals_the_events(start=date(2026, 10, 31), end=date(2026, 11, 2), tz=tz, agent="supervisor")


def test_breakdowns_of_a_half_hour_time_zone_are_never_read_from_the_rollups(conversations):
    with pytest.raises(ValueError, match="whole UTC hours"):
        get_breakdowns(start=date(2026, 11, 1), end=date(2026, 11, 2), tz=KOLKATA, from_rollups=True)
    assert get_breakdowns(start=date(2026, 11, 1), end=date(2026, 11, 2), tz=KOLKATA).by_model  # from the events


def test_a_conversation_synced_later_counts_in_the_weeks_and_months_it_joins(conversations, checkpointer):
    run_timed_conversation(checkpointer=checkpointer, thread_id="timed-nov3-0900", started_at=utc(3, 9), scale=4.0)
    with time_machine.travel(NOW, tick=True):
        call_command("backfill_events", verbosity=0)

    assert Conversation.objects.filter(thread_id="timed-nov3-0900").exists()
    for start, end in ((date(2026, 10, 25), date(2026, 11, 9)), (date(2026, 10, 1), date(2026, 11, 30))):
        assert_equals_the_events(start=start, end=end, tz=UTC)
        assert_equals_the_events(start=start, end=end, tz=UTC, agent="billing")


def test_the_migration_to_week_rows_sums_the_stored_days_as_the_sync_does(conversations):
    def week_rows() -> list[tuple]:
        columns = [field.name for field in UsageRollup._meta.fields if field.name != "id"]
        return sorted(UsageRollup.objects.filter(span="week").values_list(*columns), key=repr)

    kept_by_the_sync = week_rows()
    MigrationExecutor(connection).migrate([("analytics", "0015_partition_events_by_month")])
    assert not UsageRollup.objects.filter(span="week").exists()
    MigrationExecutor(connection).migrate([("analytics", "0016_usage_rollups_by_week")])

    # the weeks of Oct 26 and Nov 2, for every tenant and per agent
    assert {row[1] for row in kept_by_the_sync} == {utc(26, 0, month=10), utc(2, 0)}
    assert week_rows() == kept_by_the_sync


def test_a_range_is_read_from_the_fewest_rows_that_tile_it():
    def at(month: int, day: int, hour: int = 0) -> datetime:
        return datetime(2026, month, day, hour, tzinfo=timezone.utc)

    cover = rollup_cover(lower=at(10, 3, 20), upper=at(12, 16))
    assert cover == RollupCover(
        months=(at(11, 1),),
        # Oct 26's week ends in November, which a month row holds; Dec 14's ends after the range
        weeks=(at(10, 5), at(10, 12), at(10, 19), at(12, 7)),
        days=(at(10, 4), *(at(10, day) for day in range(26, 32)), *(at(12, day) for day in range(1, 7)), at(12, 14), at(12, 15)),
        hours=(at(10, 3, 20), at(10, 3, 21), at(10, 3, 22), at(10, 3, 23)),
    )
    # any range on whole hours is tiled exactly: no hour missing, none twice
    lengths = {"months": None, "weeks": timedelta(weeks=1), "days": timedelta(days=1), "hours": timedelta(hours=1)}
    new_york = ZoneInfo("America/New_York")
    for lower, upper in [
        (at(1, 1), at(12, 31)), (at(10, 31, 5), at(11, 2, 4)), (at(2, 27, 23), at(3, 2, 1)),
        (datetime(2026, 3, 1, tzinfo=new_york), datetime(2027, 2, 28, tzinfo=new_york)), (at(11, 5, 7), at(11, 5, 8)),
    ]:
        cover = rollup_cover(lower=lower, upper=upper)
        pieces = sorted(
            (start, start + length if length else start.replace(month=start.month % 12 + 1, year=start.year + start.month // 12))
            for span, length in lengths.items() for start in getattr(cover, span)
        )
        assert pieces[0][0] == lower and pieces[-1][1] == upper
        assert all(earlier[1] == later[0] for earlier, later in zip(pieces, pieces[1:]))
    # a Kolkata day starts at :30 UTC: no rows tile it, and the breakdowns refuse to read rollups for it
    with pytest.raises(ValueError, match="whole UTC hours"):
        rollup_cover(lower=datetime(2026, 11, 1, tzinfo=KOLKATA), upper=datetime(2026, 11, 2, tzinfo=KOLKATA))


def test_the_new_york_day_of_the_dst_change_has_25_hours_of_conversations(conversations):
    result = get_analytics(start=date(2026, 11, 1), end=date(2026, 11, 1), tz=NEW_YORK, agent="triage", now=NOW)
    # from 00:15 EDT (4:15 UTC) to 23:30 EST (4:30 UTC the next day); 23:30 EDT the day before is out
    assert sorted(Conversation.objects.filter(started_at__gte=utc(1, 4), started_at__lt=utc(2, 5), agents_used__contains=["triage"]).values_list("thread_id", flat=True)) == [
        "timed-nov1-0415", "timed-nov1-1820", "timed-nov1-1840", "timed-nov2-0430",
    ]
    assert result.conversations == 4
    assert [(row.agent, row.llm_calls, row.tool_calls) for row in result.latency] == [("billing", 8, 4), ("triage", 8, 8)]


def test_api_reads_the_breakdowns_of_two_timed_conversations(conversations, api):
    body = api.get("/api/analytics", {"from": "2026-11-02", "to": "2026-11-02", "tz": "UTC", "agent": "triage"}).json()

    # timed-nov2-0430 (durations × 1.25) and timed-nov2-0510 (× 0.75); the histogram reads within 1 %
    assert body["latency"] == [
        # billing's calls 3750, 1250, 2250, 750 ms; its refunds 5625, 3375 ms
        {"agent": "billing", "llm_p50_ms": 1245, "llm_p95_ms": 3725, "llm_calls": 4,
         "tool_p50_ms": 3376, "tool_p95_ms": 5636, "tool_calls": 2},
        # triage's calls 1500, 2500, 900, 1500 ms; its lookups 1000, 1000, 600, 600 ms
        {"agent": "triage", "llm_p50_ms": 1513, "llm_p95_ms": 2516, "llm_calls": 4,
         "tool_p50_ms": 600, "tool_p95_ms": 1007, "tool_calls": 4},
    ]
    assert [(row["model"], row["calls"], row["unpriced_calls"]) for row in body["by_model"]] == [
        ("gpt-4o", 4, 0), ("gpt-4o-mini", 4, 0),
    ]
    assert [(row["agent"], row["calls"]) for row in body["by_agent"]] == [("billing", 4), ("triage", 4)]
    assert Decimal(body["by_model"][0]["cost_usd"]) + Decimal(body["by_model"][1]["cost_usd"]) == Decimal(body["total_cost"])
    assert sum(row["input_tokens"] for row in body["by_agent"]) == body["tokens"]["input"]


def test_a_model_with_no_price_counts_its_calls_as_unpriced(conversations, api):
    body = api.get("/api/analytics", {"from": "2026-11-01", "to": "2026-11-01", "tz": "Asia/Kolkata", "agent": "triage"}).json()

    # Kolkata's Nov 1 holds timed-nov1-0330, -0415 and -1820 only: acme-large's conversation starts at 00:10 on the 2nd
    assert "acme-large" not in [row["model"] for row in body["by_model"]]
    body = api.get("/api/analytics", {"from": "2026-11-02", "to": "2026-11-02", "tz": "Asia/Kolkata", "agent": "triage"}).json()
    acme = next(row for row in body["by_model"] if row["model"] == "acme-large")
    assert (acme["calls"], acme["unpriced_calls"], acme["cost_usd"]) == (2, 2, "0.00000000")


def test_the_schema_documents_the_breakdowns(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    result = schema["components"]["schemas"]["AnalyticsResult"]["properties"]
    assert {"by_model", "by_agent", "latency"} <= set(result)
    latency = schema["components"]["schemas"]["AgentLatency"]["properties"]
    assert set(latency) == {"agent", "llm_p50_ms", "llm_p95_ms", "llm_calls", "tool_p50_ms", "tool_p95_ms", "tool_calls"}
    assert "within 1 %" in result["latency"]["description"]
    assert set(schema["components"]["schemas"]["ModelUsage"]["properties"]) == {
        "model", "calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "cost_usd", "cache_savings_usd", "unpriced_calls",
    }


def test_a_bucket_reads_within_one_percent_of_every_latency_in_it():
    every_ms_to_a_minute = range(1, 60_000)
    beyond = {min(round(60_000 * 1.0007**step), 2**31 - 1) for step in range(17_000)}  # steps finer than any bucket
    worst = max(abs(bucket_latency(latency_bucket(ms)) - ms) / ms for ms in [*every_ms_to_a_minute, *beyond])
    assert worst <= RELATIVE_ERROR
    assert [bucket_latency(latency_bucket(ms)) for ms in (0, 1, 99, 100)] == [0, 1, 99, 100]  # exact up to 100 ms
    assert latency_bucket(2**31 - 1) < len(LATENCY_BOUNDS)  # the largest latency_ms still has a bucket


def test_python_buckets_are_postgresqls(db):
    samples = [0, 1, 100, 101, 102, 997, 998, 1_000, 59_999, 3_600_000, 2**31 - 1]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT width_bucket(ms, {LATENCY_BOUNDS_SQL}) FROM unnest(%s::bigint[]) AS ms", [samples])
        assert [bucket for (bucket,) in cursor.fetchall()] == [latency_bucket(ms) for ms in samples]
