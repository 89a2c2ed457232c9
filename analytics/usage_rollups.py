"""Upkeep of the usage rollups (``analytics_usage_rollups``): LLM calls, tokens, cost and latency
histograms per (hour, day, week or month the conversations started in, agent they had, agent and model of
the calls).

They are recomputed for exactly the hours and days the hourly rollups recompute, inside the same
transaction and under the same advisory locks (``analytics.storage._refresh_rollups`` calls
``refresh_usage_rollups``), so the breakdowns always equal what the events say. A range reads the
fewest rows that tile it (``rollup_keys.rollup_cover``): merging latency histograms costs per bucket
entry, and a week row holds about a quarter of the entries of its seven day rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from analytics.rollup_keys import TENANT_SCOPES_SQL, months_of, period_end, same_key, weeks_of

# Latency histogram bucket bounds in ms: bucket i (PostgreSQL's ``width_bucket``, 1-based) holds
# [LATENCY_BOUNDS[i-1], LATENCY_BOUNDS[i]). One bucket per ms up to 100 ms, then each at most 1/50 of
# its lower bound wide, so the middle of a bucket is within 1 % of any latency in it (up to 2^31 ms,
# the largest ``latency_ms`` the column holds).
LINEAR_UP_TO_MS = 100
WIDTH_DIVISOR = 50


def _latency_bounds() -> tuple[int, ...]:
    bounds = list(range(LINEAR_UP_TO_MS + 1))
    while bounds[-1] < 2**31:
        bounds.append(bounds[-1] + max(1, bounds[-1] // WIDTH_DIVISOR))
    return tuple(bounds)


LATENCY_BOUNDS = _latency_bounds()
LATENCY_BOUNDS_SQL = "'{" + ",".join(map(str, LATENCY_BOUNDS)) + "}'::bigint[]"
RELATIVE_ERROR = 0.01


def latency_bucket(latency_ms: int) -> int:
    """The bucket ``width_bucket(latency_ms, LATENCY_BOUNDS)`` gives (for tests and direct reads)."""
    low, high = 0, len(LATENCY_BOUNDS)
    while low < high:
        middle = (low + high) // 2
        if LATENCY_BOUNDS[middle] <= latency_ms:
            low = middle + 1
        else:
            high = middle
    return low


def bucket_latency(bucket: int) -> int:
    """The latency a bucket stands for: its middle, in ms."""
    lower, upper = LATENCY_BOUNDS[bucket - 1], LATENCY_BOUNDS[bucket]
    return (lower + upper - 1) // 2


def _insert_sql(*, span: str, source: str, sums: str, histogram: str) -> str:
    """Rows of one span from ``source`` (rows with period, tenant, scope, agent, model): ``sums`` over them and
    the latency ``histogram`` (rows of period, tenant, scope, agent, model, kind, bucket, n) merged per key."""
    return f"""
WITH source AS ({source}),
sums AS (SELECT period, tenant, scope, agent, model, {sums} FROM source GROUP BY period, tenant, scope, agent, model),
per_bucket AS (
    SELECT period, tenant, scope, agent, model, kind, bucket, sum(n)::int AS n FROM ({histogram}) AS histogram
    GROUP BY period, tenant, scope, agent, model, kind, bucket
), histograms AS (
    SELECT period, tenant, scope, agent, model,
           array_agg(bucket ORDER BY bucket) FILTER (WHERE kind = 'llm') AS llm_buckets,
           array_agg(n ORDER BY bucket) FILTER (WHERE kind = 'llm') AS llm_counts,
           array_agg(bucket ORDER BY bucket) FILTER (WHERE kind = 'tool') AS tool_buckets,
           array_agg(n ORDER BY bucket) FILTER (WHERE kind = 'tool') AS tool_counts
    FROM per_bucket GROUP BY period, tenant, scope, agent, model
)
INSERT INTO analytics_usage_rollups (span, hour, tenant, scope, agent, model, calls, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, cache_savings_usd, unpriced_calls,
    llm_latency_buckets, llm_latency_counts, tool_latency_buckets, tool_latency_counts)
SELECT '{span}', sums.period, sums.tenant, sums.scope, sums.agent, sums.model, calls, input_tokens, output_tokens,
       cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, cache_savings_usd, unpriced_calls,
       coalesce(llm_buckets, '{{}}'), coalesce(llm_counts, '{{}}'),
       coalesce(tool_buckets, '{{}}'), coalesce(tool_counts, '{{}}')
FROM sums LEFT JOIN histograms ON {same_key("histograms", "sums", ("period", "scope", "agent", "model"))}
"""


# Hours from the LLM calls and tool results of the conversations that started in them, per tenant: once
# for all conversations (scope '') and once per agent the conversation had.
_REFRESH_HOURS_SQL = _insert_sql(
    span="hour",
    source=f"""
        SELECT date_trunc('hour', conversations.started_at, 'UTC') AS period, tenant_scope.tenant,
               scope.agent AS scope, event.agent,
               CASE WHEN event.event_type = 'llm_usage' THEN event.model ELSE '' END AS model,
               event.event_type = 'llm_usage' AS is_llm, event.input_tokens, event.output_tokens,
               event.cache_read_tokens, event.cache_write_tokens, event.reasoning_tokens, event.cost_usd,
               event.cache_savings_usd, event.status,
               width_bucket(event.latency_ms::bigint, {LATENCY_BOUNDS_SQL}) AS bucket
        FROM conversations
        JOIN analytics_events AS event
          ON event.conversation_id = conversations.id AND event.event_type IN ('llm_usage', 'tool_result')
        CROSS JOIN LATERAL unnest(array_prepend(''::text, conversations.agents_used)) AS scope(agent)
        {TENANT_SCOPES_SQL}
        WHERE conversations.started_at >= %(lower)s AND conversations.started_at < %(upper)s
          AND date_trunc('hour', conversations.started_at, 'UTC') = ANY(%(hours)s)""",
    sums="""count(*) FILTER (WHERE is_llm) AS calls,
        coalesce(sum(input_tokens) FILTER (WHERE is_llm), 0) AS input_tokens,
        coalesce(sum(output_tokens) FILTER (WHERE is_llm), 0) AS output_tokens,
        coalesce(sum(cache_read_tokens) FILTER (WHERE is_llm), 0) AS cache_read_tokens,
        coalesce(sum(cache_write_tokens) FILTER (WHERE is_llm), 0) AS cache_write_tokens,
        coalesce(sum(reasoning_tokens) FILTER (WHERE is_llm), 0) AS reasoning_tokens,
        coalesce(sum(cost_usd) FILTER (WHERE is_llm), 0) AS cost_usd,
        coalesce(sum(cache_savings_usd) FILTER (WHERE is_llm), 0) AS cache_savings_usd,
        count(*) FILTER (WHERE is_llm AND status = 'unpriced') AS unpriced_calls""",
    histogram="""SELECT period, tenant, scope, agent, model, CASE WHEN is_llm THEN 'llm' ELSE 'tool' END AS kind, bucket, 1 AS n
        FROM source WHERE bucket IS NOT NULL""",
)


def _merge_sql(*, span: str, of_span: str) -> str:
    """Rows of ``span`` (day, week, month) summed from the rows of the shorter ``of_span`` in them."""
    return _insert_sql(
        span=span,
        source=f"""
        SELECT date_trunc('{span}', hour, 'UTC') AS period, *
        FROM analytics_usage_rollups
        WHERE span = '{of_span}' AND hour >= %(lower)s AND hour < %(upper)s
          AND date_trunc('{span}', hour, 'UTC') = ANY(%(periods)s)""",
        sums="""sum(calls) AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
            sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
            sum(reasoning_tokens) AS reasoning_tokens, sum(cost_usd) AS cost_usd,
            sum(cache_savings_usd) AS cache_savings_usd, sum(unpriced_calls) AS unpriced_calls""",
        histogram="""
            SELECT period, tenant, scope, agent, model, 'llm' AS kind, bucket, n
            FROM source, unnest(llm_latency_buckets, llm_latency_counts) AS latency(bucket, n)
            UNION ALL
            SELECT period, tenant, scope, agent, model, 'tool', bucket, n
            FROM source, unnest(tool_latency_buckets, tool_latency_counts) AS latency(bucket, n)""",
    )


_REFRESH_DAYS_SQL = _merge_sql(span="day", of_span="hour")
_REFRESH_WEEKS_SQL = _merge_sql(span="week", of_span="day")
_REFRESH_MONTHS_SQL = _merge_sql(span="month", of_span="day")


def _refresh_span(*, cursor, span: str, sql: str, periods: list[datetime]) -> None:
    cursor.execute(f"DELETE FROM analytics_usage_rollups WHERE span = '{span}' AND hour = ANY(%s)", (periods,))  # noqa: S608
    cursor.execute(sql, {"periods": periods, "lower": periods[0], "upper": period_end(span=span, start=periods[-1])})


def refresh_usage_rollups(*, cursor, hours: Sequence[datetime], days: Sequence[datetime]) -> None:
    """Recompute the usage rollups of these UTC hours (sorted) from the events, then these days from
    their hours and their weeks and months from the days, in the caller's transaction; the caller holds
    the locks of these periods. The hours before ``events_kept_from`` keep their rows."""
    if not hours:
        return
    kept_from = events_kept_from(cursor=cursor)
    recomputed = [hour for hour in hours if kept_from is None or hour >= kept_from]
    if recomputed:
        cursor.execute("DELETE FROM analytics_usage_rollups WHERE span = 'hour' AND hour = ANY(%s)", (recomputed,))
        cursor.execute(
            _REFRESH_HOURS_SQL, {"hours": recomputed, "lower": recomputed[0], "upper": recomputed[-1] + timedelta(hours=1)}
        )
    _refresh_span(cursor=cursor, span="day", sql=_REFRESH_DAYS_SQL, periods=list(days))
    _refresh_span(cursor=cursor, span="week", sql=_REFRESH_WEEKS_SQL, periods=weeks_of(days))
    _refresh_span(cursor=cursor, span="month", sql=_REFRESH_MONTHS_SQL, periods=months_of(days))


def events_kept_from(*, cursor) -> datetime | None:
    """The end of the latest month whose events were detached for retention (None if none was). A conversation
    that started before it may have lost events, so the usage rollups of the hours before it are never
    recomputed from the events: they keep what they said when the events were all there."""
    cursor.execute(
        "SELECT (max(month) + interval '1 month')::timestamp AT TIME ZONE 'UTC' FROM analytics_detached_event_months"
    )
    (kept_from,) = cursor.fetchone()
    return kept_from


def delete_usage_rollups(*, cursor) -> list[datetime]:
    """Empty the usage rollups before they are recomputed for every hour, but for the hours before
    ``events_kept_from``; returns those hours, whose days, weeks and months the caller recomputes too."""
    kept_from = events_kept_from(cursor=cursor)
    if kept_from is None:
        cursor.execute("DELETE FROM analytics_usage_rollups")
        return []
    cursor.execute("DELETE FROM analytics_usage_rollups WHERE NOT (span = 'hour' AND hour < %s)", (kept_from,))
    cursor.execute("SELECT DISTINCT hour FROM analytics_usage_rollups")
    return [hour for (hour,) in cursor.fetchall()]
