"""Every aggregate the analytics API and the managers' dashboard show (their definitions are in README.md, "What the numbers mean").

Population: conversations whose ``started_at`` falls in the range, day boundaries in the requested
time zone. Everything is read from the ``conversations`` summary rows (one row per conversation,
indexed on ``started_at``); only the few still-pending approvals are read from their events, because
whether one has expired depends on the moment of the query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db import connections

from analytics.measures import MEASURE_NAMES, MEASURES, Measure, measure
from analytics.models import EventType, HourlyRollup
from analytics.rollup_keys import ROLLUP_TENANT_WHERE, rollup_cover
from replay.steps import approval_expiry_cutoff
from replay.tenants import EVERY_TENANT, TenantScope
from smart_support.db_router import reading_alias


@dataclass(frozen=True)
class Totals:
    """The population's size and every measure of the registry summed over it, by name."""

    conversations: int
    measures: Mapping[str, int | Decimal]

    def __getitem__(self, name: str) -> int | Decimal:
        return self.measures[name]

if TYPE_CHECKING:
    from analytics.breakdowns import LatencyBreakdown, UsageBreakdown


@dataclass(frozen=True)
class AgentUsage:
    agent: str
    routings: int
    share: float


@dataclass(frozen=True)
class AgentConversations:
    """The population's conversations an agent took part in, and the handoffs it received in them."""

    agent: str
    conversations: int
    handoffs_received: int


@dataclass(frozen=True)
class InterruptStats:
    total: int
    approved: int
    rejected: int
    other: int
    expired: int
    pending: int


@dataclass(frozen=True)
class DailyPoint:
    date: date
    conversations: int
    resolved: int
    escalated: int
    cost: Decimal


@dataclass(frozen=True)
class PeriodHeadline:
    conversations: int
    resolution_rate: float | None
    escalation_rate: float | None
    cost_per_conversation: Decimal | None


@dataclass(frozen=True)
class AnalyticsResult:
    start: date
    end: date
    tz: str
    agent: str | None
    conversations: int
    resolved: int
    escalated: int
    resolution_rate: float | None
    escalation_rate: float | None
    cost_per_conversation: Decimal | None
    total_cost: Decimal
    input_tokens: int
    output_tokens: int
    unpriced_models: tuple[str, ...]
    totals: Totals
    agent_usage: tuple[AgentUsage, ...]
    interrupt_stats: InterruptStats
    series: tuple[DailyPoint, ...]
    previous_period: PeriodHeadline
    by_model: tuple[UsageBreakdown, ...] = ()
    by_agent: tuple[UsageBreakdown, ...] = ()
    latency: tuple[LatencyBreakdown, ...] = ()
    agent_conversations: tuple[AgentConversations, ...] = ()


def agent_names(*, tenants: TenantScope = EVERY_TENANT) -> list[str]:
    """Every agent that took part in a conversation (of these tenants): the day rollups hold a handful of
    rows per day, where the conversations would need a scan."""
    rows = HourlyRollup.objects.filter(tenants.q(), span="day").exclude(agent="")
    return sorted(set(rows.values_list("agent", flat=True).distinct()))


def day_bounds(*, start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in ``tz``, as aware datetimes."""
    return datetime.combine(start, time.min, tzinfo=tz), datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def per_conversation(total: Decimal, whole: int) -> Decimal | None:
    return (total / whole).quantize(Decimal("0.00000001")) if whole else None


# -- where the sums come from: hourly rollups, or the conversations themselves ---------------------

# NULL tenants: every tenant; an empty array: none.
TENANT_WHERE = "(%(tenants)s::text[] IS NULL OR tenant = ANY(%(tenants)s::text[]))"
_CONVERSATION_WHERE = f"""started_at >= %(lower)s AND started_at < %(upper)s AND {TENANT_WHERE}
    AND (%(agent)s::text IS NULL OR agents_used @> ARRAY[%(agent)s::text])"""
# The population's events, as ``event`` (raw SQL: building the ORM's query took longer than running it).
POPULATION_EVENTS = f"""analytics_events AS event JOIN conversations ON conversations.id = event.conversation_id
WHERE conversations.started_at >= %(lower)s AND conversations.started_at < %(upper)s
  AND {TENANT_WHERE.replace("tenant =", "conversations.tenant =")}
  AND (%(agent)s::text IS NULL OR conversations.agents_used @> ARRAY[%(agent)s::text])"""
_RECENT_PENDING_APPROVALS_SQL = f"""SELECT count(*) FROM {POPULATION_EVENTS}
  AND event.event_type = '{EventType.INTERRUPT_RAISED}' AND event.status = 'pending' AND event.occurred_at >= %(cutoff)s"""
# The range's rows: the fewest that tile it (``rollup_keys.rollup_cover``).
_ROLLUP_RANGE_WHERE = f"""{ROLLUP_TENANT_WHERE} AND (
    (span = 'month' AND hour = ANY(%(months)s::timestamptz[])) OR (span = 'week' AND hour = ANY(%(weeks)s::timestamptz[]))
    OR (span = 'day' AND hour = ANY(%(days)s::timestamptz[])) OR (span = 'hour' AND hour = ANY(%(hours)s::timestamptz[])))"""
_ROLLUP_WHERE = f"agent = coalesce(%(agent)s::text, '') AND {_ROLLUP_RANGE_WHERE}"
# The rows of each agent: conversations it took part in (only for a population not narrowed to an agent).
_ROLLUP_EVERY_AGENT_WHERE = f"agent <> '' AND {_ROLLUP_RANGE_WHERE}"
# A daily series groups rows that each fall on one local day: whole UTC days and the hours at the edges
# when the local days are UTC days, else every hour.
_ROLLUP_DAYS_WHERE = f"""agent = coalesce(%(agent)s::text, '') AND {ROLLUP_TENANT_WHERE} AND (
    (span = 'day' AND hour >= %(day_lower)s AND hour < %(day_upper)s)
    OR (span = 'hour' AND ((hour >= %(lower)s AND hour < %(day_lower)s) OR (hour >= %(day_upper)s AND hour < %(upper)s))))"""
_ROLLUP_HOURS_WHERE = (
    f"agent = coalesce(%(agent)s::text, '') AND {ROLLUP_TENANT_WHERE} AND span = 'hour' AND hour >= %(lower)s AND hour < %(upper)s"
)


@dataclass(frozen=True)
class _Source:
    """One table the sums can be read from, with its SQL."""

    table: str
    conversation_count: str  # SQL for the number of conversations, named ``conversations``
    sum_of: Callable[[Measure], str]  # SQL for a measure's sum, named for it
    where: str
    day_of: str  # SQL for the row's day in %(tz)s
    day_counts: str  # SQL for a day's conversations, resolved, escalated
    utc_series_where: str  # rows a daily series groups when the local days are UTC days
    series_where: str  # rows it groups otherwise (a UTC day's row falls on one local day only at UTC+0)
    every_agent_where: str | None = None  # rows holding each agent's own sums, if the table has them

    def _cursor(self, params: dict):
        if self is ROLLUPS and not params["on_whole_hours"]:
            raise ValueError("the hourly rollups serve ranges whose day boundaries fall on whole UTC hours")
        return connections[reading_alias()].cursor()

    def _run(self, sql: str, params: dict) -> list[tuple]:
        with self._cursor(params) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def totals(self, params: dict) -> Totals:
        with self._cursor(params) as cursor:
            sums = ", ".join((self.conversation_count, *(self.sum_of(measure) for measure in MEASURES)))
            cursor.execute(f"SELECT {sums} FROM {self.table} WHERE {self.where}", params)  # noqa: S608
            row = cursor.fetchone()
            sums = {column.name: value for column, value in zip(cursor.description, row)}
        return Totals(conversations=int(sums.pop("conversations")), measures=MappingProxyType(
            {name: measure(name).total(sums[name]) for name in MEASURE_NAMES}
        ))

    def series(self, params: dict) -> dict[date, tuple[int, int, int, Decimal]]:
        sql = (
            f"SELECT {self.day_of} AS day, {self.day_counts}, coalesce(sum(cost_usd), 0) "  # noqa: S608 - constant SQL
            f"FROM {self.table} WHERE {self.series_where if params['tz_offset_hours'] else self.utc_series_where} GROUP BY day"
        )
        return {day: (int(count), int(resolved), int(escalated), cost) for day, count, resolved, escalated, cost in self._run(sql, params)}

    def agent_usage(self, params: dict) -> list[tuple[str, int]]:
        sql = (
            f"SELECT handoff.key, sum(handoff.value::int) AS routings "  # noqa: S608 - constant SQL
            f"FROM {self.table}, jsonb_each_text({self.table}.handoffs) AS handoff "
            f"WHERE {self.where} AND {self.table}.handoffs <> '{{}}'::jsonb "
            f"GROUP BY handoff.key ORDER BY routings DESC, handoff.key"
        )
        return [(agent, int(routings)) for agent, routings in self._run(sql, params)]

    def agent_conversations(self, params: dict) -> list[tuple[str, int]]:
        if self.every_agent_where and params["agent"] is None:
            sql = f"SELECT agent, sum(conversations) FROM {self.table} WHERE {self.every_agent_where} GROUP BY agent"
        else:  # an agent's rows count its conversations, not those it shares with the population's agent
            sql = (
                "SELECT used.agent, count(*) FROM conversations, unnest(conversations.agents_used) AS used(agent) "
                f"WHERE {_CONVERSATION_WHERE} GROUP BY used.agent"
            )
        return [(agent, int(count)) for agent, count in self._run(sql, params)]

    def unpriced_models(self, params: dict) -> tuple[str, ...]:
        sql = (
            f"SELECT DISTINCT model FROM {self.table}, unnest({self.table}.unpriced_models) AS model "  # noqa: S608
            f"WHERE {self.where} AND cardinality({self.table}.unpriced_models) > 0 ORDER BY model"
        )
        return tuple(model for (model,) in self._run(sql, params))


CONVERSATIONS = _Source(
    table="conversations", conversation_count="count(*) AS conversations",
    sum_of=Measure.sum_of_conversations_sql, where=_CONVERSATION_WHERE,
    day_of="(started_at AT TIME ZONE %(tz)s)::date",
    day_counts="count(*), count(*) FILTER (WHERE resolved), count(*) FILTER (WHERE escalated)",
    utc_series_where=_CONVERSATION_WHERE, series_where=_CONVERSATION_WHERE,
)
ROLLUPS = _Source(
    table="analytics_hourly_rollups", conversation_count="coalesce(sum(conversations), 0) AS conversations",
    sum_of=Measure.sum_of_rollups_sql, where=_ROLLUP_WHERE,
    day_of="(hour AT TIME ZONE %(tz)s)::date",
    day_counts="sum(conversations), sum(resolved), sum(escalated)",
    utc_series_where=_ROLLUP_DAYS_WHERE, series_where=_ROLLUP_HOURS_WHERE,
    every_agent_where=_ROLLUP_EVERY_AGENT_WHERE,
)


@lru_cache(maxsize=1024)
def _day_boundary_offsets(*, start: date, end: date, tz: ZoneInfo) -> frozenset[timedelta]:
    """The UTC offsets of ``tz`` at every day boundary of the range (a page asks for them several times)."""
    return frozenset(
        datetime.combine(start + timedelta(days=n), time.min, tzinfo=tz).utcoffset() or timedelta(0)
        for n in range((end - start).days + 2)
    )


def _on_whole_hours(*, start: date, end: date, tz: ZoneInfo) -> bool:
    return not any(offset.total_seconds() % 3600 for offset in _day_boundary_offsets(start=start, end=end, tz=tz))


def source_for(*, start: date, end: date, tz: ZoneInfo) -> _Source:
    """Hourly rollups when every day boundary of the range falls on a whole UTC hour, else the conversations."""
    return ROLLUPS if _on_whole_hours(start=start, end=end, tz=tz) else CONVERSATIONS


def _params(*, start: date, end: date, tz: ZoneInfo, agent: str | None, tenants: TenantScope = EVERY_TENANT) -> dict:
    lower, upper = day_bounds(start=start, end=end, tz=tz)
    utc_lower, utc_upper = lower.astimezone(dt_timezone.utc), upper.astimezone(dt_timezone.utc)
    day_lower = utc_lower.replace(hour=0) + (timedelta(days=1) if utc_lower.hour else timedelta(0))
    day_upper = utc_upper.replace(hour=0)
    if day_lower >= day_upper:
        day_lower = day_upper = utc_upper
    # the rollup rows of the range, when it falls on whole UTC hours (else the conversations are read)
    on_whole_hours = _on_whole_hours(start=start, end=end, tz=tz)
    cover = rollup_cover(lower=lower, upper=upper) if on_whole_hours else None
    return {
        "lower": lower, "upper": upper, "day_lower": day_lower, "day_upper": day_upper, "agent": agent,
        "tenants": tenants.sql_tenants(),
        "tz": str(tz), "tz_offset_hours": any(_day_boundary_offsets(start=start, end=end, tz=tz)),
        "on_whole_hours": on_whole_hours,
        **{span: list(getattr(cover, span)) if cover else [] for span in ("months", "weeks", "days", "hours")},
    }


def headline_totals(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None, tenants: TenantScope = EVERY_TENANT, source: _Source | None = None) -> Totals:
    source = source or source_for(start=start, end=end, tz=tz)
    return source.totals(_params(start=start, end=end, tz=tz, agent=agent, tenants=tenants))


def agent_usage(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None, tenants: TenantScope = EVERY_TENANT, source: _Source | None = None) -> tuple[AgentUsage, ...]:
    """Handoffs to each agent ÷ all handoffs, over the population's conversations."""
    source = source or source_for(start=start, end=end, tz=tz)
    rows = source.agent_usage(_params(start=start, end=end, tz=tz, agent=agent, tenants=tenants))
    total = sum(routings for _, routings in rows)
    return tuple(AgentUsage(agent=name, routings=routings, share=routings / total) for name, routings in rows)


def agent_conversations(
    *, start: date, end: date, tz: ZoneInfo, agent: str | None = None, tenants: TenantScope = EVERY_TENANT,
    source: _Source | None = None, usage: tuple[AgentUsage, ...] | None = None,
) -> tuple[AgentConversations, ...]:
    """Each agent's conversations in the population (what the changelist's agent filter lists), most first,
    with the handoffs it received in them (``usage``: the population's ``agent_usage``, if already read)."""
    scope = {"start": start, "end": end, "tz": tz, "agent": agent, "tenants": tenants}
    source = source or source_for(start=start, end=end, tz=tz)
    rows = source.agent_conversations(_params(**scope))
    handoffs = {row.agent: row.routings for row in (agent_usage(**scope, source=source) if usage is None else usage)}
    return tuple(
        AgentConversations(agent=name, conversations=count, handoffs_received=handoffs.get(name, 0))
        for name, count in sorted(rows, key=lambda row: (-row[1], row[0]))
        if count
    )


def unpriced_models(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None, tenants: TenantScope = EVERY_TENANT, source: _Source | None = None) -> tuple[str, ...]:
    source = source or source_for(start=start, end=end, tz=tz)
    return source.unpriced_models(_params(start=start, end=end, tz=tz, agent=agent, tenants=tenants))


def _interrupt_stats(
    totals: Totals, *, start: date, end: date, tz: ZoneInfo, agent: str | None, tenants: TenantScope, now: datetime | None
) -> InterruptStats:
    expired = 0
    if totals["interrupts_pending"]:
        # Count the few approvals raised within the TTL (the partial index holds only pending ones);
        # every other pending approval has expired.
        cutoff = approval_expiry_cutoff(now=now or datetime.now(dt_timezone.utc))
        params = {**_params(start=start, end=end, tz=tz, agent=agent, tenants=tenants), "cutoff": cutoff}
        with connections[reading_alias()].cursor() as cursor:
            cursor.execute(_RECENT_PENDING_APPROVALS_SQL, params)
            (recent,) = cursor.fetchone()
        expired = totals["interrupts_pending"] - recent
    return InterruptStats(
        total=totals["interrupt_count"],
        approved=totals["interrupts_approved"],
        rejected=totals["interrupts_rejected"],
        other=totals["interrupts_other"],
        expired=expired,
        pending=totals["interrupts_pending"] - expired,
    )


def daily_series(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None, tenants: TenantScope = EVERY_TENANT, source: _Source | None = None) -> tuple[DailyPoint, ...]:
    """One point per day of the range (days with no conversations included, at zero)."""
    source = source or source_for(start=start, end=end, tz=tz)
    rows = source.series(_params(start=start, end=end, tz=tz, agent=agent, tenants=tenants))
    points = []
    day = start
    while day <= end:
        conversations, resolved, escalated, cost = rows.get(day, (0, 0, 0, Decimal(0)))
        points.append(DailyPoint(date=day, conversations=conversations, resolved=resolved, escalated=escalated, cost=cost))
        day += timedelta(days=1)
    return tuple(points)


def previous_period(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None, tenants: TenantScope = EVERY_TENANT) -> PeriodHeadline:
    """The headline figures of the period of equal length just before this one."""
    length = end - start + timedelta(days=1)
    totals = headline_totals(start=start - length, end=end - length, tz=tz, agent=agent, tenants=tenants)
    return PeriodHeadline(
        conversations=totals.conversations,
        resolution_rate=rate(totals["resolved"], totals.conversations),
        escalation_rate=rate(totals["escalated"], totals.conversations),
        cost_per_conversation=per_conversation(totals["cost_usd"], totals.conversations),
    )


def get_analytics(
    *, start: date, end: date, tz: ZoneInfo, agent: str | None = None, now: datetime | None = None,
    source: _Source | None = None, tenants: TenantScope = EVERY_TENANT,
) -> AnalyticsResult:
    """Given a date range (inclusive, in ``tz``) and the tenants to count, return every figure of the analytics page."""
    source = source or source_for(start=start, end=end, tz=tz)
    scope = {"start": start, "end": end, "tz": tz, "agent": agent, "tenants": tenants}
    totals = headline_totals(**scope, source=source)
    from analytics.breakdowns import get_breakdowns  # it reads the ranges and sources defined here

    breakdowns = get_breakdowns(**scope, from_rollups=source is ROLLUPS)
    usage = agent_usage(**scope, source=source)
    return AnalyticsResult(
        start=start,
        end=end,
        tz=str(tz),
        agent=agent,
        conversations=totals.conversations,
        resolved=totals["resolved"],
        escalated=totals["escalated"],
        resolution_rate=rate(totals["resolved"], totals.conversations),
        escalation_rate=rate(totals["escalated"], totals.conversations),
        cost_per_conversation=per_conversation(totals["cost_usd"], totals.conversations),
        total_cost=totals["cost_usd"],
        input_tokens=totals["input_tokens"],
        output_tokens=totals["output_tokens"],
        unpriced_models=unpriced_models(**scope, source=source),
        totals=totals,
        agent_usage=usage,
        agent_conversations=agent_conversations(**scope, source=source, usage=usage),
        interrupt_stats=_interrupt_stats(totals, **scope, now=now),
        series=daily_series(**scope, source=source),
        previous_period=previous_period(**scope),
        by_model=breakdowns.by_model,
        by_agent=breakdowns.by_agent,
        latency=breakdowns.latency,
    )
