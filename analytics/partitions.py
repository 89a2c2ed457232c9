"""The monthly partitions of ``analytics_events`` (migration 0015): created ahead by the sync, detached for retention.

Each UTC month of ``occurred_at`` is the partition ``analytics_events_YYYY_MM``; ``analytics_events_default`` holds
what no month holds yet, so a write never fails for want of a partition. Attaching a month locks the events'
default partition and, for the foreign key, the conversations table: the sync does it in a short transaction of its
own before a batch's write (``ensure_event_partitions``), and gives up after ``LOCK_TIMEOUT`` rather than wait on
— or deadlock with — other writers; that month's rows then wait in the default partition, and the next attempt
moves them into their month.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone

from django.db import OperationalError, connection, transaction

from analytics.models import DetachedEventMonth, SyncState

logger = logging.getLogger(__name__)

EVENT_TABLE = "analytics_events"
DEFAULT_PARTITION = "analytics_events_default"
# Months after the current one kept ready, so the month's first events never wait for a partition.
MONTHS_AHEAD = 3
# Shorter than PostgreSQL's deadlock_timeout (1 s by default): in a lock cycle with a writer, attaching gives up first.
LOCK_TIMEOUT = "500ms"
PARTITION_LOCK_NAMESPACE = 0x5AA7
PARTITION_LOCK_KEY = 0x0002  # the sync lock is 0x5AA7_0001 (one bigint), the rollups hash their periods' names
_PARTITION_NAME = re.compile(r"^analytics_events_(\d{4})_(\d{2})$")

# Months known to be attached, per process: filled only when a transaction that saw them commits.
_attached_months: set[Month] = set()


@dataclass(frozen=True, order=True)
class Month:
    """One UTC calendar month: the range of one partition."""

    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        utc = moment.astimezone(timezone.utc)
        return cls(utc.year, utc.month)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def partition(self) -> str:
        return f"{EVENT_TABLE}_{self.year:04d}_{self.month:02d}"

    @property
    def start_sql(self) -> str:
        """The month's first moment as a literal (DDL takes no parameters; PostgreSQL takes the year 10000 too)."""
        return f"'{self.year:04d}-{self.month:02d}-01 00:00:00+00'"

    @property
    def bounds_sql(self) -> str:
        return f"FROM ({self.start_sql}) TO ({self.plus(1).start_sql})"


def months_ahead(*, now: datetime) -> set[Month]:
    current = Month.of(now)
    return {current.plus(offset) for offset in range(MONTHS_AHEAD + 1)}


def ensure_event_partitions(*, moments: Iterable[datetime], now: datetime | None = None) -> set[Month]:
    """Given the times of events about to be written, attach the partitions of their months and of the current
    and next ``MONTHS_AHEAD`` months, in a transaction of its own (call it before the write's). Returns the months
    that could not be attached now (their rows go to the default partition until a later call)."""
    needed = {Month.of(moment) for moment in moments} | months_ahead(now=now or datetime.now(timezone.utc))
    if needed <= _attached_months:
        return set()
    missing: set[Month] = set()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous_timeout,) = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
        try:
            if not _lock_partitions(cursor=cursor):  # another process is attaching: the next batch tries again
                return needed - _attached_months
            for month in sorted(needed - attached_months(cursor=cursor)):
                if not _attach_month(cursor=cursor, month=month):
                    missing.add(month)
        finally:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous_timeout])
        attached = needed - missing
        transaction.on_commit(lambda: _attached_months.update(attached))
    return missing


def _lock_partitions(*, cursor) -> bool:
    """Take the lock that attaching and detaching share (until the transaction ends); False if not granted in time."""
    try:
        with transaction.atomic():
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PARTITION_LOCK_NAMESPACE, PARTITION_LOCK_KEY])
    except OperationalError as error:
        logger.warning("event partitions: not attached now (%s)", error)
        return False
    return True


def attached_months(*, cursor) -> set[Month]:
    cursor.execute(
        "SELECT child.relname FROM pg_inherits JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
        "WHERE pg_inherits.inhparent = %s::regclass",
        [EVENT_TABLE],
    )
    months = set()
    for (name,) in cursor.fetchall():
        if match := _PARTITION_NAME.match(name):
            months.add(Month(int(match[1]), int(match[2])))
    return months


def _attach_month(*, cursor, month: Month) -> bool:
    """Create the month's table, move its rows out of the default partition and attach it, in a savepoint; False
    when a lock was not granted within ``LOCK_TIMEOUT`` (nothing changed)."""
    name, following = month.partition, month.plus(1)
    try:
        with transaction.atomic():
            cursor.execute(f"CREATE TABLE {name} (LIKE {EVENT_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            cursor.execute(
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at >= {month.start_sql} "
                f"AND occurred_at < {following.start_sql} "
                f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
            )
            cursor.execute(f"ALTER TABLE {EVENT_TABLE} ATTACH PARTITION {name} FOR VALUES {month.bounds_sql}")
    except OperationalError as error:
        logger.warning("event partitions: %s not attached now (%s); its events wait in %s", name, error, DEFAULT_PARTITION)
        return False
    return True


# -- retention ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetachedMonth:
    month: Month
    table: str  # the plain table it became
    rows: int


def expired_months(*, retention_months: int, now: datetime) -> list[Month]:
    """The attached months wholly older than the current month and the ``retention_months`` before it."""
    oldest_kept = Month.of(now).plus(-retention_months)
    with connection.cursor() as cursor:
        return sorted(month for month in attached_months(cursor=cursor) if month < oldest_kept)


class BackfillUnderWay(Exception):
    """A backfill was started and has not finished (it runs, or it was stopped): the rollups may not yet hold
    every conversation, and a detached month's usage rollups are kept as they are when it is detached."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"a backfill is under way or was stopped midway ({', '.join(names)}): its rollups are not complete yet. "
            "Let it finish (or run backfill_events again), then detach."
        )


def detach_expired_partitions(*, retention_months: int, now: datetime, dry_run: bool = False) -> list[DetachedMonth]:
    """Detach the partitions of the months past retention, each in its own transaction, and rename them
    ``analytics_events_YYYY_MM_detached`` (``_2``, ``_3`` … if that name is taken): plain tables, without the
    foreign key to conversations, for the operator to archive or drop, and record each (``DetachedEventMonth``: the
    usage rollups of its hours are kept from then on). ``dry_run`` lists them, changes nothing. Raises
    ``BackfillUnderWay`` (but for a dry run) while a backfill has not finished."""
    unfinished = list(SyncState.objects.filter(state=SyncState.State.STARTED).values_list("name", flat=True))
    if unfinished and not dry_run:
        raise BackfillUnderWay(unfinished)
    detached = []
    for month in expired_months(retention_months=retention_months, now=now):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {month.partition}")  # noqa: S608 - a name of our own
            (rows,) = cursor.fetchone()
            table = _detached_name(cursor=cursor, month=month)
            if not dry_run:
                _lock_partitions(cursor=cursor)
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER refuses a table with key checks still deferred
                cursor.execute(f"ALTER TABLE {EVENT_TABLE} DETACH PARTITION {month.partition}")
                # kept, the key would stop every delete of a conversation whose events were archived
                cursor.execute(
                    "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [month.partition]
                )
                for (constraint,) in cursor.fetchall():
                    cursor.execute(f'ALTER TABLE {month.partition} DROP CONSTRAINT "{constraint}"')
                cursor.execute(f"ALTER TABLE {month.partition} RENAME TO {table}")
                DetachedEventMonth.objects.update_or_create(
                    month=date(month.year, month.month, 1),
                    defaults={"table": table, "rows": rows, "detached_at": datetime.now(timezone.utc)},
                )
                _attached_months.clear()
        detached.append(DetachedMonth(month=month, table=table, rows=rows))
    return detached


def _detached_name(*, cursor, month: Month) -> str:
    base = f"{month.partition}_detached"
    cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE %s AND relkind = 'r'", [f"{base}%"])
    taken = {name for (name,) in cursor.fetchall()}
    if base not in taken:
        return base
    return next(f"{base}_{number}" for number in range(2, len(taken) + 3) if f"{base}_{number}" not in taken)
