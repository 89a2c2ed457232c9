"""Cost and tokens by model and by agent, and LLM and tool latency percentiles by agent, over a range's
population (definitions in README.md, "What the numbers mean").

Read from the usage rollups when the hourly rollups serve the range (``queries.source_for``), else
from the population's events; both paths bucket latencies the same way, so a range reads the same
numbers whichever path serves it. Percentiles are nearest-rank (PostgreSQL's ``percentile_disc``)
read from a histogram whose buckets are at most 1 % wide around their middle
(``usage_rollups.LATENCY_BOUNDS``): within 1 % of the exact value, exact up to 100 ms.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connections

from analytics import queries
from analytics.rollup_keys import ROLLUP_TENANT_WHERE
from analytics.usage_rollups import LATENCY_BOUNDS_SQL, bucket_latency
from replay.tenants import EVERY_TENANT, TenantScope
from smart_support.db_router import reading_alias


@dataclass(frozen=True)
class UsageBreakdown:
    """The LLM calls of one model, or of one agent, and what they used and cost."""

    name: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal
    cache_savings_usd: Decimal
    unpriced_calls: int


@dataclass(frozen=True)
class LatencyBreakdown:
    """How long one agent's LLM calls and tools took: nearest-rank p50 / p95 in ms over ``*_calls``
    measured calls (None when it has none)."""

    agent: str
    llm_p50_ms: int | None
    llm_p95_ms: int | None
    llm_calls: int
    tool_p50_ms: int | None
    tool_p95_ms: int | None
    tool_calls: int


@dataclass(frozen=True)
class Breakdowns:
    by_model: tuple[UsageBreakdown, ...]
    by_agent: tuple[UsageBreakdown, ...]
    latency: tuple[LatencyBreakdown, ...]


_SUMS = """coalesce(sum({calls}), 0), coalesce(sum({of}input_tokens), 0), coalesce(sum({of}output_tokens), 0),
    coalesce(sum({of}cache_read_tokens), 0), coalesce(sum({of}cache_write_tokens), 0),
    coalesce(sum({of}reasoning_tokens), 0), coalesce(sum({of}cost_usd), 0), coalesce(sum({of}cache_savings_usd), 0),
    coalesce(sum({unpriced}), 0)"""

# The population's rollup rows: the periods of ``rollup_keys.rollup_cover``.
_ROLLUP_WHERE = f"""scope = coalesce(%(agent)s::text, '') AND {ROLLUP_TENANT_WHERE} AND (
    (span = 'month' AND hour = ANY(%(months)s::timestamptz[])) OR (span = 'week' AND hour = ANY(%(weeks)s::timestamptz[]))
    OR (span = 'day' AND hour = ANY(%(days)s::timestamptz[])) OR (span = 'hour' AND hour = ANY(%(hours)s::timestamptz[])))"""
_ROLLUP_USAGE_SQL = f"""
SELECT grouping(model) = 0, coalesce(model, agent), {_SUMS.format(calls="calls", unpriced="unpriced_calls", of="")}
FROM analytics_usage_rollups WHERE {_ROLLUP_WHERE} AND calls > 0
GROUP BY GROUPING SETS ((model), (agent))
"""
# Entries by position rather than by unnest: the planner expects a handful of entries per row from unnest
# (most hour rows hold a few) and sorts them to group them, where a range's rows hold dozens to hundreds
# each; for a generated series it expects many and groups them by hash, in half the time.
_ROLLUP_HISTOGRAM_SQL = f"""
SELECT agent, kind, buckets[entry], sum(counts[entry])
FROM analytics_usage_rollups
CROSS JOIN LATERAL (VALUES ('llm', llm_latency_buckets, llm_latency_counts),
                           ('tool', tool_latency_buckets, tool_latency_counts)) AS histogram(kind, buckets, counts)
CROSS JOIN LATERAL generate_series(1, cardinality(buckets)) AS entry
WHERE {_ROLLUP_WHERE} GROUP BY agent, kind, buckets[entry]
"""

_EVENT_USAGE_SQL = f"""
SELECT grouping(event.model) = 0, coalesce(event.model, event.agent),
       {_SUMS.format(calls="1", unpriced="(event.status = 'unpriced')::int", of="event.")}
FROM {queries.POPULATION_EVENTS} AND event.event_type = 'llm_usage'
GROUP BY GROUPING SETS ((event.model), (event.agent))
"""
_EVENT_HISTOGRAM_SQL = f"""
SELECT event.agent, CASE WHEN event.event_type = 'llm_usage' THEN 'llm' ELSE 'tool' END AS kind,
       width_bucket(event.latency_ms::bigint, {LATENCY_BOUNDS_SQL}) AS bucket, count(*)
FROM {queries.POPULATION_EVENTS} AND event.event_type IN ('llm_usage', 'tool_result') AND event.latency_ms IS NOT NULL
GROUP BY event.agent, kind, bucket
"""


def _rows(sql: str, params: dict) -> list[tuple]:
    with connections[reading_alias()].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def nearest_rank(histogram: dict[int, int], fraction: float) -> int | None:
    """Given ``bucket → calls``, return the latency of the bucket holding the ``ceil(fraction·n)``-th
    smallest call (None for no calls)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(fraction * total)), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_latency(bucket)
    raise AssertionError("unreachable: the ranks add up to the total")


def _usage(rows: list[tuple]) -> tuple[tuple[UsageBreakdown, ...], tuple[UsageBreakdown, ...]]:
    by_model, by_agent = [], []
    for is_model, name, *sums in rows:
        calls, input_tokens, output_tokens, cache_read, cache_write, reasoning, cost, savings, unpriced = sums
        breakdown = UsageBreakdown(
            name=name, calls=int(calls), input_tokens=int(input_tokens), output_tokens=int(output_tokens),
            cache_read_tokens=int(cache_read), cache_write_tokens=int(cache_write), reasoning_tokens=int(reasoning),
            cost_usd=Decimal(cost), cache_savings_usd=Decimal(savings), unpriced_calls=int(unpriced),
        )
        (by_model if is_model else by_agent).append(breakdown)

    def costliest_first(breakdown: UsageBreakdown) -> tuple:
        return (-breakdown.cost_usd, -breakdown.calls, breakdown.name)

    return tuple(sorted(by_model, key=costliest_first)), tuple(sorted(by_agent, key=costliest_first))


def _latency(rows: list[tuple]) -> tuple[LatencyBreakdown, ...]:
    histograms: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for agent, kind, bucket, calls in rows:
        histograms[agent, kind][bucket] = int(calls)
    agents = sorted({agent for agent, _ in histograms})
    return tuple(
        LatencyBreakdown(
            agent=agent,
            llm_p50_ms=nearest_rank(histograms[agent, "llm"], 0.5),
            llm_p95_ms=nearest_rank(histograms[agent, "llm"], 0.95),
            llm_calls=sum(histograms[agent, "llm"].values()),
            tool_p50_ms=nearest_rank(histograms[agent, "tool"], 0.5),
            tool_p95_ms=nearest_rank(histograms[agent, "tool"], 0.95),
            tool_calls=sum(histograms[agent, "tool"].values()),
        )
        for agent in agents
    )


def get_breakdowns(
    *, start: date, end: date, tz: ZoneInfo, agent: str | None = None, tenants: TenantScope = EVERY_TENANT,
    from_rollups: bool | None = None,
) -> Breakdowns:
    """Given a date range (inclusive, in ``tz``) and optionally an agent the conversations had, return
    the population's cost and tokens by model and by agent and its latency percentiles by agent.
    ``from_rollups`` forces a path (tests compare the two); by default the rollups serve every range
    whose day boundaries fall on whole UTC hours."""
    if from_rollups is None:
        from_rollups = queries.source_for(start=start, end=end, tz=tz) is queries.ROLLUPS
    params = queries._params(start=start, end=end, tz=tz, agent=agent, tenants=tenants)
    if from_rollups and not params["on_whole_hours"]:
        raise ValueError("the usage rollups serve ranges whose day boundaries fall on whole UTC hours")
    usage_sql, histogram_sql = (
        (_ROLLUP_USAGE_SQL, _ROLLUP_HISTOGRAM_SQL) if from_rollups else (_EVENT_USAGE_SQL, _EVENT_HISTOGRAM_SQL)
    )
    by_model, by_agent = _usage(_rows(usage_sql, params))
    return Breakdowns(by_model=by_model, by_agent=by_agent, latency=_latency(_rows(histogram_sql, params)))
