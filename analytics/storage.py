"""The SQL that writes analytics rows, where the ORM is measurably slower (bench/backfill.py,
bench/reprice.py): the recorder's bulk upsert and COPY, two-statement deletes, repriced costs, and the
hourly rollups' upkeep."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet

from analytics.measures import MEASURE_NAMES, MEASURES
from analytics.partitions import EVENT_TABLE
from analytics.rollup_keys import TENANT_SCOPES_SQL, day_of, hour_of, months_of, period_end, same_key, weeks_of
from analytics.usage_rollups import delete_usage_rollups, refresh_usage_rollups
from replay.models import Conversation

logger = logging.getLogger(__name__)

CONVERSATION_COLUMNS = (
    "thread_id", "metadata", "started_at", "last_activity_at", "status", "agents_used", *MEASURE_NAMES,
    "oldest_pending_interrupt_at", "newest_pending_interrupt_at", "handoffs", "unpriced_models", "first_message",
    "last_checkpoint_id", "write_count", "synced_at", "summarised", "tenant", "search_document", "masked_search_document",
)
EVENT_COLUMNS = (
    "conversation_id", "event_type", "occurred_at", "agent", "tool_name", "model", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "cache_savings_usd", "latency_ms",
    "status", "payload", "source", "dedup_key",
)
_ARRAY_COLUMNS = {"agents_used", "unpriced_models"}
# staged as the space-separated terms of replay/search_terms.py, taken as lexemes: to_tsvector would cut
# an id such as ORD-61744 its own way
_SEARCH_COLUMNS = {"search_document", "masked_search_document"}


LIVE_TABLES = ("conversations", "analytics_events")
# A --rebuild derives into these, and swaps them in at the end in one transaction: until then the
# dashboard keeps showing the previous numbers, and a rebuild killed midway leaves those intact.
REBUILD_TABLES = ("analytics_rebuild_conversations", "analytics_rebuild_events")


def _upsert_conversations_sql(*, table: str, staged: str, returning: str = " RETURNING id, thread_id") -> str:
    columns = ", ".join(CONVERSATION_COLUMNS)
    values = ", ".join(_staged_value(name, staged=staged) for name in CONVERSATION_COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in CONVERSATION_COLUMNS if name != "thread_id")
    return (
        f"INSERT INTO {table} ({columns}) "
        f"SELECT {values} FROM {staged} AS row "
        f"ON CONFLICT (thread_id) DO UPDATE SET {updates}{returning}"
    )


def _staged_value(name: str, *, staged: str) -> str:
    if staged != "staged_conversations":  # a rebuild's table, shaped like the live one
        return f"row.{name}"
    if name in _ARRAY_COLUMNS:
        return f"ARRAY(SELECT jsonb_array_elements_text(row.{name}))"
    if name in _SEARCH_COLUMNS:
        return f"array_to_tsvector(string_to_array(row.{name}, ' '))"
    return f"row.{name}"


def _stage_conversations_sql() -> str:
    return f"""
CREATE TEMP TABLE IF NOT EXISTS staged_conversations (
    thread_id text, metadata jsonb, started_at timestamptz, last_activity_at timestamptz, status varchar(32),
    agents_used jsonb, {", ".join(f"{measure.name} {measure.sql_type}" for measure in MEASURES)},
    oldest_pending_interrupt_at timestamptz, newest_pending_interrupt_at timestamptz, handoffs jsonb,
    unpriced_models jsonb, first_message text, last_checkpoint_id text, write_count integer, synced_at timestamptz,
    summarised boolean, tenant text, search_document text, masked_search_document text
) ON COMMIT DELETE ROWS
"""


def replace_conversations_and_events(
    *, cursor, conversations: list[tuple], events_of: dict[str, list[tuple]], refresh_rollups: bool = True,
    tables: tuple[str, str] = LIVE_TABLES,
) -> int:
    """In the caller's transaction: upsert the conversation rows (``CONVERSATION_COLUMNS`` order), delete
    their events and COPY in the new ones (``EVENT_COLUMNS`` order, without ``conversation_id``), into the
    live tables or a rebuild's (``REBUILD_TABLES``, whose rollups are made at the swap).
    Returns the number of events written."""
    conversation_table, event_table = tables
    live = tables == LIVE_TABLES
    cursor.execute(_stage_conversations_sql())
    cursor.execute("DELETE FROM staged_conversations")  # an enclosing transaction may have staged rows already
    with cursor.copy(f"COPY staged_conversations ({', '.join(CONVERSATION_COLUMNS)}) FROM STDIN") as copy:
        for row in conversations:
            copy.write_row(row)
    # a conversation may move to another hour (its first checkpoint was not yet committed last time)
    hours = hours_of(
        cursor=cursor,
        conversation_filter_sql="thread_id IN (SELECT thread_id FROM staged_conversations)",
        params=(),
    ) if live and refresh_rollups else []
    upsert = _upsert_conversations_sql(table=conversation_table, staged="staged_conversations")
    ids = dict((thread_id, pk) for pk, thread_id in cursor.execute(upsert).fetchall())
    cursor.execute(f"DELETE FROM {event_table} WHERE conversation_id = ANY(%s)", (list(ids.values()),))  # noqa: S608
    written = 0
    with cursor.copy(f"COPY {event_table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        for thread_id, rows in events_of.items():
            conversation_id = ids[thread_id]
            for row in rows:
                copy.write_row((conversation_id, *row))
                written += 1
    if live and refresh_rollups:
        _refresh_rollups(cursor=cursor, hours=[*hours, *(hour_of(row[2]) for row in conversations)])
    return written


def prepare_rebuild_tables() -> None:
    """Create a rebuild's tables shaped like the live ones, or keep those a killed rebuild left: a
    rebuild resumes from what it staged."""
    conversations, events = REBUILD_TABLES
    with connection.cursor() as cursor:
        # staged before a migration changed the live tables: its rows cannot be swapped in, start again
        if _columns(cursor, conversations) not in ([], _columns(cursor, "conversations")) or _columns(
            cursor, events
        ) not in ([], _columns(cursor, "analytics_events")):
            cursor.execute(f"DROP TABLE IF EXISTS {events}, {conversations}")
        # unlogged: the staged rows are written once and read once by the swap, never by a replica; a server
        # crash empties them (the rebuild then derives again from the start), a killed rebuild keeps them.
        # Tables an older release staged into stay logged: only slower.
        cursor.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {conversations} (LIKE conversations INCLUDING DEFAULTS INCLUDING IDENTITY)"
        )
        cursor.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {conversations}_thread ON {conversations} (thread_id)")
        cursor.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {events} (LIKE analytics_events INCLUDING DEFAULTS INCLUDING IDENTITY)"
        )
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {events}_conversation ON {events} (conversation_id)")


def _columns(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [table],
    )
    return [tuple(row) for row in cursor.fetchall()]


def rebuild_in_progress() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [REBUILD_TABLES[0]])
        return cursor.fetchone()[0]


def staged_heads(*, thread_ids: list[str], tables: tuple[str, str] = LIVE_TABLES) -> dict[str, tuple[str, datetime | None]]:
    """Of these threads, those already derived (into the live tables or a rebuild's):
    ``thread_id → (newest checkpoint id derived, when)``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT thread_id, last_checkpoint_id, synced_at FROM {tables[0]} WHERE thread_id = ANY(%s)",  # noqa: S608
            [thread_ids],
        )
        return {thread_id: (head, synced_at) for thread_id, head, synced_at in cursor.fetchall()}


_SWAP_EVENTS_SQL = f"""
INSERT INTO analytics_events ({", ".join(EVENT_COLUMNS)})
SELECT live.id, {", ".join(f"staged_event.{name}" for name in EVENT_COLUMNS[1:])}
FROM {REBUILD_TABLES[1]} AS staged_event
JOIN {REBUILD_TABLES[0]} AS staged ON staged.id = staged_event.conversation_id
JOIN conversations AS live ON live.thread_id = staged.thread_id
"""


def swap_in_rebuild(*, remove_unstaged: bool) -> int:
    """In one transaction: replace the live rows of every staged thread with the staged ones, remove
    (``remove_unstaged``, a full rebuild) conversations whose thread was neither staged nor failed nor
    pruned by retention — their checkpoints are gone unasked — recompute the rollups, and drop the rebuild's tables. Returns the
    number of conversations swapped in."""
    staged_conversations, staged_events = REBUILD_TABLES
    with transaction.atomic(), connection.cursor() as cursor:
        touched = f"thread_id IN (SELECT thread_id FROM {staged_conversations})"
        if remove_unstaged:
            touched = "true"
        hours = hours_of(cursor=cursor, conversation_filter_sql=touched, params=())
        cursor.execute(_upsert_conversations_sql(table="conversations", staged=staged_conversations, returning=""))
        swapped = cursor.rowcount
        cursor.execute(
            f"DELETE FROM analytics_events USING conversations, {staged_conversations} AS staged "  # noqa: S608
            "WHERE analytics_events.conversation_id = conversations.id AND conversations.thread_id = staged.thread_id"
        )
        cursor.execute(_SWAP_EVENTS_SQL)
        if remove_unstaged:
            vanished = (
                f"SELECT id FROM conversations WHERE thread_id NOT IN (SELECT thread_id FROM {staged_conversations}) "
                "AND thread_id NOT IN (SELECT thread_id FROM analytics_failed_threads) AND checkpoints_pruned_at IS NULL"
            )
            cursor.execute(f"DELETE FROM analytics_events WHERE conversation_id IN ({vanished})")  # noqa: S608
            cursor.execute(f"DELETE FROM conversations WHERE id IN ({vanished})")  # noqa: S608
        cursor.execute(f"SELECT date_trunc('hour', started_at, 'UTC') FROM {staged_conversations}")  # noqa: S608
        hours += [hour for (hour,) in cursor.fetchall()]
        if remove_unstaged:
            # every period's lock before the first rollup row goes, as rebuild_rollups takes it
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (ROLLUP_LOCK_NAMESPACE, _ALL_PERIODS_KEY))
            cursor.execute("DELETE FROM analytics_hourly_rollups")
            hours += delete_usage_rollups(cursor=cursor)
        _refresh_rollups(cursor=cursor, hours=hours)
        cursor.execute(f"DROP TABLE {staged_events}, {staged_conversations}")
    return swapped


def delete_conversations(conversations: QuerySet[Conversation]) -> None:
    """Delete conversations and their events in two statements (Django's cascade would load every event)."""
    ids_sql, params = conversations.values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        hours = hours_of(cursor=cursor, conversation_filter_sql=f"id IN ({ids_sql})", params=params)
        cursor.execute(f"DELETE FROM analytics_events WHERE conversation_id IN ({ids_sql})", params)  # noqa: S608
        cursor.execute(f"DELETE FROM conversations WHERE id IN ({ids_sql})", params)  # noqa: S608
        _refresh_rollups(cursor=cursor, hours=hours)


ROLLUP_LOCK_NAMESPACE = 0x5AA7


def _rollup_insert_sql(*, span: str, source_rows: str, sums: str) -> str:
    """Rollup rows of one span, summed from ``source_rows`` (rows with ``period``, ``tenant``, ``agent``, the measures,
    ``handoffs`` and ``unpriced_models``) by ``sums`` (SQL naming each sum for its column)."""
    columns = ", ".join(("conversations", *MEASURE_NAMES))
    return f"""
WITH source_rows AS ({source_rows}),
totals AS (SELECT period, tenant, agent, {sums} FROM source_rows GROUP BY period, tenant, agent),
handoffs AS (
    SELECT period, tenant, agent, jsonb_object_agg(target, routings) AS handoffs
    FROM (SELECT period, tenant, agent, handoff.key AS target, sum(handoff.value::int) AS routings
          FROM source_rows, jsonb_each_text(source_rows.handoffs) AS handoff
          GROUP BY period, tenant, agent, handoff.key) per_target
    GROUP BY period, tenant, agent
), unpriced AS (
    SELECT period, tenant, agent, array_agg(DISTINCT model ORDER BY model) AS models
    FROM source_rows, unnest(source_rows.unpriced_models) AS model GROUP BY period, tenant, agent
)
INSERT INTO analytics_hourly_rollups (span, hour, tenant, agent, {columns}, handoffs, unpriced_models)
SELECT '{span}', totals.period, totals.tenant, totals.agent, {columns}, coalesce(handoffs.handoffs, '{{}}'::jsonb),
       coalesce(unpriced.models, ARRAY[]::text[])
FROM totals
LEFT JOIN handoffs ON {same_key("handoffs", "totals", ("period", "agent"))}
LEFT JOIN unpriced ON {same_key("unpriced", "totals", ("period", "agent"))}
"""



# Hours from the conversations that started in them, per tenant and for every tenant: once for all agents
# ('') and once per agent.
def _refresh_hour_rollups_sql() -> str:
    return _rollup_insert_sql(
        span="hour",
        source_rows=f"""
            SELECT date_trunc('hour', conversations.started_at, 'UTC') AS period, scope.agent, tenant_scope.tenant,
                   {", ".join(f"conversations.{name}" for name in MEASURE_NAMES)}, conversations.handoffs,
                   conversations.unpriced_models
            FROM conversations
            CROSS JOIN LATERAL unnest(array_prepend(''::text, conversations.agents_used)) AS scope(agent)
            {TENANT_SCOPES_SQL}
            WHERE conversations.started_at >= %(lower)s AND conversations.started_at < %(upper)s
              AND date_trunc('hour', conversations.started_at, 'UTC') = ANY(%(hours)s)""",
        sums=", ".join(("count(*) AS conversations", *(measure.sum_of_conversations_sql() for measure in MEASURES))),
    )


def _merged_rollups_sql(*, span: str, of_span: str) -> str:
    """Rows of ``span`` (day, week, month) summed from the rows of the shorter ``of_span`` in them."""
    return _rollup_insert_sql(
        span=span,
        source_rows=f"""
            SELECT date_trunc('{span}', hour, 'UTC') AS period, *
            FROM analytics_hourly_rollups
            WHERE span = '{of_span}' AND hour >= %(lower)s AND hour < %(upper)s
              AND date_trunc('{span}', hour, 'UTC') = ANY(%(periods)s)""",
        sums=", ".join(("sum(conversations) AS conversations", *(measure.sum_of_rollups_sql() for measure in MEASURES))),
    )


_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, hashtext(%s || period::text)) FROM unnest(%s::timestamptz[]) AS period"
# Refreshes of a few hours lock each of their periods (and share this key); larger ones take this key alone,
# so no refresh ever needs more locks than PostgreSQL's lock table holds.
_ALL_PERIODS_KEY = 0
MOST_HOURS_LOCKED_ONE_BY_ONE = 500
# Sort and hash memory of such a large refresh (a rebuild's, a large backfill's): at PostgreSQL's default of
# 4 MB its aggregations spilled to disk, and the hours' usage rollups of 10k conversations took 1.2-1.6x as
# long (bench/README.md, "Backfill memory, its profile, and why it is not at the floor"). Only one large
# refresh runs at a time (it holds every period's lock), and only for its transaction.
LARGE_REFRESH_WORK_MEM = "64MB"


def _lock_periods(cursor, *, periods: dict[str, list[datetime]]) -> None:
    if len(periods["hour"]) > MOST_HOURS_LOCKED_ONE_BY_ONE:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (ROLLUP_LOCK_NAMESPACE, _ALL_PERIODS_KEY))
        cursor.execute("SELECT set_config('work_mem', %s, true)", (LARGE_REFRESH_WORK_MEM,))
        return
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", (ROLLUP_LOCK_NAMESPACE, _ALL_PERIODS_KEY))
    for span, starts in periods.items():  # hours, days, weeks, months, each in order: no two refreshes deadlock
        cursor.execute(_LOCK_SQL, (ROLLUP_LOCK_NAMESPACE, span, starts))


def _refresh_rollups(*, cursor, hours: Iterable[datetime]) -> None:
    """Recompute the rollups of these UTC hours from the conversations, then their days from the
    hours and their weeks and months from the days, in the caller's transaction. The periods are
    locked first (in order, so concurrent workers cannot deadlock) and recomputed whole, so the rollups
    always equal what the conversations say."""
    ordered = sorted(set(hours))
    if not ordered:
        return
    days = sorted({day_of(hour) for hour in ordered})
    periods = {"hour": ordered, "day": days, "week": weeks_of(days), "month": months_of(days)}
    _lock_periods(cursor, periods=periods)
    cursor.execute("DELETE FROM analytics_hourly_rollups WHERE span = 'hour' AND hour = ANY(%s)", (ordered,))
    cursor.execute(_refresh_hour_rollups_sql(), {"hours": ordered, "lower": ordered[0], "upper": ordered[-1] + timedelta(hours=1)})
    for span, of_span in (("day", "hour"), ("week", "day"), ("month", "day")):
        starts = periods[span]
        cursor.execute("DELETE FROM analytics_hourly_rollups WHERE span = %s AND hour = ANY(%s)", (span, starts))
        cursor.execute(
            _merged_rollups_sql(span=span, of_span=of_span),
            {"periods": starts, "lower": starts[0], "upper": period_end(span=span, start=starts[-1])},
        )
    refresh_usage_rollups(cursor=cursor, hours=ordered, days=days)


def hours_of(*, cursor, conversation_filter_sql: str, params) -> list[datetime]:
    cursor.execute(
        f"SELECT DISTINCT date_trunc('hour', started_at, 'UTC') FROM conversations WHERE {conversation_filter_sql}",  # noqa: S608
        params,
    )
    return [hour for (hour,) in cursor.fetchall()]


def rebuild_rollups() -> None:
    """Recompute every rollup from the conversations (after a large backfill, or rows written around
    the recorder)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Every period's lock before the first row is deleted: a shard refreshing an hour meanwhile holds
        # that hour's lock and waits for these rows, and would deadlock with a rebuild that waited for it.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (ROLLUP_LOCK_NAMESPACE, _ALL_PERIODS_KEY))
        # Before anything reads which months were detached: a month detached after that read, and before the
        # events are read, would be recomputed from events that are gone. Detaching waits for this lock.
        cursor.execute(f"LOCK TABLE {EVENT_TABLE} IN ACCESS SHARE MODE")
        cursor.execute("DELETE FROM analytics_hourly_rollups")
        kept_hours = delete_usage_rollups(cursor=cursor)
        hours = hours_of(cursor=cursor, conversation_filter_sql="true", params=())
        _refresh_rollups(cursor=cursor, hours=[*hours, *kept_hours])


# Tables most of whose rows a rebuild or a large backfill has just rewritten: without this the planner keeps
# the old statistics (and no frequencies of the search documents' id prefixes) and every search scans the GIN
# indexes' pending lists, until autovacuum gets there. At 100k conversations it takes 3.4-3.9 s, about 1 % of a
# rebuild.
_REWRITTEN_TABLES = ("conversations", "analytics_hourly_rollups", "analytics_usage_rollups")
_CLEAN_GIN_PENDING_LISTS_SQL = """
SELECT gin_clean_pending_list(index.indexrelid)
FROM pg_index AS index JOIN pg_class AS relation ON relation.oid = index.indexrelid
JOIN pg_am AS method ON method.oid = relation.relam
WHERE index.indrelid = 'conversations'::regclass AND method.amname = 'gin'
"""


def tidy_after_bulk_write() -> None:
    """Fresh planner statistics for the tables a bulk write rewrote, and the conversations' GIN indexes with
    their pending entries merged. Upkeep only: a role that may not do it leaves it to autovacuum."""
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(f"ANALYZE {', '.join(_REWRITTEN_TABLES)}")
                cursor.execute(_CLEAN_GIN_PENDING_LISTS_SQL)
        except DatabaseError as error:
            logger.warning("after the bulk write, statistics and GIN indexes are left to autovacuum: %s", error)


def refresh_rollups_of(conversation_ids: Iterable[int]) -> None:
    """Recompute the rollups of the hours these conversations started in."""
    with connection.cursor() as cursor:
        hours = hours_of(cursor=cursor, conversation_filter_sql="id = ANY(%s)", params=[list(conversation_ids)])
        _refresh_rollups(cursor=cursor, hours=hours)


_UPDATE_EVENT_COSTS_SQL = """
UPDATE analytics_events AS event
SET cost_usd = priced.cost_usd, cache_savings_usd = priced.cache_savings_usd, status = priced.status
FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[], %s::text[]) AS priced(id, cost_usd, cache_savings_usd, status)
WHERE event.id = priced.id
"""

# Cost and savings move by what the repriced calls changed, not by a sum over the calls: the calls of a month
# detached by retention are no longer in analytics_events, and their cost must stay in the conversation.
_REFRESH_CONVERSATION_COSTS_SQL = """
UPDATE conversations AS conversation
SET cost_usd = conversation.cost_usd + changes.cost_change,
    cache_savings_usd = conversation.cache_savings_usd + changes.savings_change,
    unpriced_models = COALESCE((
        SELECT array_agg(DISTINCT model ORDER BY model) FILTER (WHERE status = 'unpriced')
        FROM analytics_events
        WHERE conversation_id = changes.conversation_id AND event_type = 'llm_usage'
    ), '{}')
FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[]) AS changes (conversation_id, cost_change, savings_change)
WHERE conversation.id = changes.conversation_id
"""


def update_event_costs(*, costs: list[tuple[int, Decimal | None, Decimal | None, str]]) -> None:
    """Write ``(event id, cost, cache savings, status)`` of repriced LLM calls: one statement per 5,000, where
    ``bulk_update``'s CASE of a branch per row grows with the square of the batch."""
    with connection.cursor() as cursor:
        for start in range(0, len(costs), 5000):
            batch = costs[start:start + 5000]
            cursor.execute(_UPDATE_EVENT_COSTS_SQL, [list(column) for column in zip(*batch, strict=True)])


def refresh_conversation_costs(*, changes: dict[int, tuple[Decimal, Decimal]]) -> None:
    """Move each conversation's cost and cache savings by ``conversation id → (cost change, savings change)``
    of its repriced calls, and list its unpriced models again."""
    ids = list(changes)
    with connection.cursor() as cursor:
        cursor.execute(
            _REFRESH_CONVERSATION_COSTS_SQL,
            [ids, [changes[pk][0] for pk in ids], [changes[pk][1] for pk in ids]],
        )
