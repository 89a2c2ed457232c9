"""Every aggregate the analytics API and the managers' dashboard show (DESIGN.md section 6).

Population: conversations whose ``started_at`` falls in the range, day boundaries in the requested
time zone. Everything is read from the ``conversations`` summary rows (one row per conversation,
indexed on ``started_at``); only the few still-pending approvals are read from their events, because
whether one has expired depends on the moment of the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from analytics.models import AnalyticsEvent, EventType
from replay.models import Conversation


@dataclass(frozen=True)
class AgentUsage:
    agent: str
    routings: int
    share: float


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
    agent_usage: tuple[AgentUsage, ...]
    interrupt_stats: InterruptStats
    series: tuple[DailyPoint, ...]
    previous_period: PeriodHeadline


def day_bounds(*, start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in ``tz``, as aware datetimes."""
    return datetime.combine(start, time.min, tzinfo=tz), datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)


def population(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> QuerySet[Conversation]:
    """The conversations a metric over this range counts: started in it (and joined by ``agent``)."""
    lower, upper = day_bounds(start=start, end=end, tz=tz)
    conversations = Conversation.objects.filter(started_at__gte=lower, started_at__lt=upper)
    return conversations.filter(agents_used__contains=[agent]) if agent else conversations


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def per_conversation(total: Decimal, whole: int) -> Decimal | None:
    return (total / whole).quantize(Decimal("0.00000001")) if whole else None


def headline_totals(conversations: QuerySet[Conversation]) -> dict:
    totals = conversations.aggregate(
        conversations=Count("id"),
        resolved=Count("id", filter=Q(resolved=True)),
        escalated=Count("id", filter=Q(escalated=True)),
        cost=Sum("cost_usd"),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        interrupts=Sum("interrupt_count"),
        approved=Sum("interrupts_approved"),
        rejected=Sum("interrupts_rejected"),
        other=Sum("interrupts_other"),
        pending=Sum("interrupts_pending"),
    )
    return {key: (value if value is not None else (Decimal(0) if key == "cost" else 0)) for key, value in totals.items()}


def resolution_rate(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> float | None:
    totals = headline_totals(population(start=start, end=end, tz=tz, agent=agent))
    return rate(totals["resolved"], totals["conversations"])


def escalation_rate(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> float | None:
    totals = headline_totals(population(start=start, end=end, tz=tz, agent=agent))
    return rate(totals["escalated"], totals["conversations"])


def cost_per_conversation(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> Decimal | None:
    totals = headline_totals(population(start=start, end=end, tz=tz, agent=agent))
    return per_conversation(totals["cost"], totals["conversations"])


_AGENT_USAGE_SQL = """
SELECT handoff.key AS agent, sum(handoff.value::int) AS routings
FROM conversations, jsonb_each_text(conversations.handoffs) AS handoff
WHERE conversations.started_at >= %(lower)s AND conversations.started_at < %(upper)s
  AND (%(agent)s::text IS NULL OR conversations.agents_used @> ARRAY[%(agent)s::varchar])
GROUP BY handoff.key
ORDER BY routings DESC, agent
"""


def agent_usage(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> tuple[AgentUsage, ...]:
    """Handoffs to each agent ÷ all handoffs, over the population's conversations."""
    lower, upper = day_bounds(start=start, end=end, tz=tz)
    with connection.cursor() as cursor:
        cursor.execute(_AGENT_USAGE_SQL, {"lower": lower, "upper": upper, "agent": agent})
        rows = cursor.fetchall()
    total = sum(routings for _, routings in rows)
    return tuple(AgentUsage(agent=name, routings=routings, share=routings / total) for name, routings in rows)


_UNPRICED_MODELS_SQL = """
SELECT DISTINCT model FROM conversations, unnest(conversations.unpriced_models) AS model
WHERE conversations.started_at >= %(lower)s AND conversations.started_at < %(upper)s
  AND cardinality(conversations.unpriced_models) > 0
  AND (%(agent)s::text IS NULL OR conversations.agents_used @> ARRAY[%(agent)s::varchar])
ORDER BY model
"""


def unpriced_models(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> tuple[str, ...]:
    lower, upper = day_bounds(start=start, end=end, tz=tz)
    with connection.cursor() as cursor:
        cursor.execute(_UNPRICED_MODELS_SQL, {"lower": lower, "upper": upper, "agent": agent})
        return tuple(model for (model,) in cursor.fetchall())


def interrupt_stats(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None, now: datetime | None = None) -> InterruptStats:
    """The population's interrupts by outcome; an unresolved one older than INTERRUPT_TTL is expired."""
    totals = headline_totals(population(start=start, end=end, tz=tz, agent=agent))
    return _interrupt_stats(totals, start=start, end=end, tz=tz, agent=agent, now=now)


def _interrupt_stats(totals: dict, *, start: date, end: date, tz: ZoneInfo, agent: str | None, now: datetime | None) -> InterruptStats:
    expired = 0
    if totals["pending"]:
        cutoff = (now or datetime.now(dt_timezone.utc)) - settings.SMART_SUPPORT["INTERRUPT_TTL"]
        expired = AnalyticsEvent.objects.filter(
            conversation__in=population(start=start, end=end, tz=tz, agent=agent).filter(interrupts_pending__gt=0),
            event_type=EventType.INTERRUPT_RAISED,
            status="pending",
            occurred_at__lt=cutoff,
        ).count()
    return InterruptStats(
        total=totals["interrupts"],
        approved=totals["approved"],
        rejected=totals["rejected"],
        other=totals["other"],
        expired=expired,
        pending=totals["pending"] - expired,
    )


def daily_series(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> tuple[DailyPoint, ...]:
    """One point per day of the range (days with no conversations included, at zero)."""
    rows = {
        row["day"]: row
        for row in population(start=start, end=end, tz=tz, agent=agent)
        .annotate(day=TruncDate("started_at", tzinfo=tz))
        .values("day")
        .annotate(
            conversations=Count("id"),
            resolved=Count("id", filter=Q(resolved=True)),
            escalated=Count("id", filter=Q(escalated=True)),
            cost=Sum("cost_usd"),
        )
    }
    points = []
    day = start
    while day <= end:
        row = rows.get(day, {})
        points.append(
            DailyPoint(
                date=day,
                conversations=row.get("conversations", 0),
                resolved=row.get("resolved", 0),
                escalated=row.get("escalated", 0),
                cost=row.get("cost") or Decimal(0),
            )
        )
        day += timedelta(days=1)
    return tuple(points)


def previous_period(*, start: date, end: date, tz: ZoneInfo, agent: str | None = None) -> PeriodHeadline:
    """The headline figures of the period of equal length just before this one."""
    length = end - start + timedelta(days=1)
    totals = headline_totals(population(start=start - length, end=end - length, tz=tz, agent=agent))
    return PeriodHeadline(
        conversations=totals["conversations"],
        resolution_rate=rate(totals["resolved"], totals["conversations"]),
        escalation_rate=rate(totals["escalated"], totals["conversations"]),
        cost_per_conversation=per_conversation(totals["cost"], totals["conversations"]),
    )


def get_analytics(
    *, start: date, end: date, tz: ZoneInfo, agent: str | None = None, now: datetime | None = None
) -> AnalyticsResult:
    """Given a date range (inclusive, in ``tz``), return every figure of the analytics page."""
    totals = headline_totals(population(start=start, end=end, tz=tz, agent=agent))
    return AnalyticsResult(
        start=start,
        end=end,
        tz=str(tz),
        agent=agent,
        conversations=totals["conversations"],
        resolved=totals["resolved"],
        escalated=totals["escalated"],
        resolution_rate=rate(totals["resolved"], totals["conversations"]),
        escalation_rate=rate(totals["escalated"], totals["conversations"]),
        cost_per_conversation=per_conversation(totals["cost"], totals["conversations"]),
        total_cost=totals["cost"],
        input_tokens=totals["input_tokens"],
        output_tokens=totals["output_tokens"],
        unpriced_models=unpriced_models(start=start, end=end, tz=tz, agent=agent),
        agent_usage=agent_usage(start=start, end=end, tz=tz, agent=agent),
        interrupt_stats=_interrupt_stats(totals, start=start, end=end, tz=tz, agent=agent, now=now),
        series=daily_series(start=start, end=end, tz=tz, agent=agent),
        previous_period=previous_period(start=start, end=end, tz=tz, agent=agent),
    )


# -- writes the ORM makes slow: the recorder's bulk upsert and COPY (bench/backfill.py) ------------------

CONVERSATION_COLUMNS = (
    "thread_id", "metadata", "started_at", "last_activity_at", "status", "agents_used", "message_count",
    "step_count", "tool_call_count", "tool_error_count", "interrupt_count", "interrupts_approved",
    "interrupts_rejected", "interrupts_other", "interrupts_pending", "handoffs", "input_tokens", "output_tokens",
    "cost_usd", "unpriced_models", "escalated", "resolved", "first_message", "last_checkpoint_id", "write_count",
    "synced_at",
)
EVENT_COLUMNS = (
    "conversation_id", "event_type", "occurred_at", "agent", "tool_name", "model", "input_tokens", "output_tokens",
    "cost_usd", "status", "payload", "source", "dedup_key",
)
_ARRAY_COLUMNS = {"agents_used", "unpriced_models"}


def _upsert_conversations_sql() -> str:
    columns = ", ".join(CONVERSATION_COLUMNS)
    values = ", ".join(
        f"ARRAY(SELECT jsonb_array_elements_text(row.{name}))" if name in _ARRAY_COLUMNS else f"row.{name}"
        for name in CONVERSATION_COLUMNS
    )
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in CONVERSATION_COLUMNS if name != "thread_id")
    return (
        f"INSERT INTO conversations ({columns}) "
        f"SELECT {values} FROM staged_conversations AS row "
        f"ON CONFLICT (thread_id) DO UPDATE SET {updates} RETURNING id, thread_id"
    )


UPSERT_CONVERSATIONS_SQL = _upsert_conversations_sql()
STAGE_CONVERSATIONS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS staged_conversations (
    thread_id varchar(255), metadata jsonb, started_at timestamptz, last_activity_at timestamptz, status varchar(32),
    agents_used jsonb, message_count integer, step_count integer, tool_call_count integer, tool_error_count integer,
    interrupt_count integer, interrupts_approved integer, interrupts_rejected integer, interrupts_other integer,
    interrupts_pending integer, handoffs jsonb, input_tokens bigint, output_tokens bigint, cost_usd numeric,
    unpriced_models jsonb, escalated boolean, resolved boolean, first_message text, last_checkpoint_id varchar(64),
    write_count integer, synced_at timestamptz
) ON COMMIT DELETE ROWS
"""


def replace_conversations_and_events(*, cursor, conversations: list[tuple], events_of: dict[str, list[tuple]]) -> int:
    """In the caller's transaction: upsert the conversation rows (``CONVERSATION_COLUMNS`` order), delete
    their events and COPY in the new ones (``EVENT_COLUMNS`` order, without ``conversation_id``).
    Returns the number of events written."""
    cursor.execute(STAGE_CONVERSATIONS_SQL)
    cursor.execute("DELETE FROM staged_conversations")  # an enclosing transaction may have staged rows already
    with cursor.copy(f"COPY staged_conversations ({', '.join(CONVERSATION_COLUMNS)}) FROM STDIN") as copy:
        for row in conversations:
            copy.write_row(row)
    ids = dict((thread_id, pk) for pk, thread_id in cursor.execute(UPSERT_CONVERSATIONS_SQL).fetchall())
    cursor.execute("DELETE FROM analytics_events WHERE conversation_id = ANY(%s)", (list(ids.values()),))
    written = 0
    with cursor.copy(f"COPY analytics_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        for thread_id, rows in events_of.items():
            conversation_id = ids[thread_id]
            for row in rows:
                copy.write_row((conversation_id, *row))
                written += 1
    return written


def delete_conversations(conversations: QuerySet[Conversation]) -> None:
    """Delete conversations and their events in two statements (Django's cascade would load every event)."""
    ids_sql, params = conversations.values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM analytics_events WHERE conversation_id IN ({ids_sql})", params)  # noqa: S608
        cursor.execute(f"DELETE FROM conversations WHERE id IN ({ids_sql})", params)  # noqa: S608
