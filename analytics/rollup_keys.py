"""How rollup rows are keyed by tenant and by period, for the hourly and the usage rollups alike.

Each conversation counts in its tenant's rows and in the rows of every tenant (tenant NULL), which a
reader of all tenants reads: summing ten tenants' rows instead would make the most common view ten
times slower. A reader of some tenants sums those tenants' rows.

Rows sum the conversations that started in one UTC hour, day, week (from Monday) or month. A range
reads the fewest rows that tile it (``rollup_cover``): a year is eleven month rows and a few weeks,
days and hours at its ends, not 365 day rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

# In a rollup's source rows: one row for the conversation's tenant, one for every tenant.
TENANT_SCOPES_SQL = "CROSS JOIN LATERAL (VALUES (conversations.tenant), (NULL::text)) AS tenant_scope(tenant)"

# The rollup rows a query reads for %(tenants)s (NULL: every tenant; an array: those tenants).
ROLLUP_TENANT_WHERE = "((%(tenants)s::text[] IS NULL AND tenant IS NULL) OR tenant = ANY(%(tenants)s::text[]))"


def same_key(left: str, right: str, columns: tuple[str, ...]) -> str:
    """SQL joining two rows of rollup keys: equal ``columns`` and the same tenant, NULL (every tenant) included."""
    equal = " AND ".join(f"{left}.{name} = {right}.{name}" for name in columns)
    return f"{equal} AND {left}.tenant IS NOT DISTINCT FROM {right}.tenant"


def hour_of(moment: datetime) -> datetime:
    """The UTC hour that holds ``moment``."""
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    """The UTC day that holds ``moment``."""
    return hour_of(moment).replace(hour=0)


def week_of(moment: datetime) -> datetime:
    """The UTC Monday 00:00 that starts ``moment``'s week (PostgreSQL's ``date_trunc('week', …, 'UTC')``)."""
    day = day_of(moment)
    return day - timedelta(days=day.weekday())


def month_of(moment: datetime) -> datetime:
    return day_of(moment).replace(day=1)


def weeks_of(days: Iterable[datetime]) -> list[datetime]:
    """The weeks these days fall in, in order."""
    return sorted({week_of(day) for day in days})


def months_of(days: Iterable[datetime]) -> list[datetime]:
    """The months these days fall in, in order."""
    return sorted({month_of(day) for day in days})


def next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


_NEXT_PERIOD: dict[str, Callable[[datetime], datetime]] = {
    "hour": lambda hour: hour + timedelta(hours=1),
    "day": lambda day: day + timedelta(days=1),
    "week": lambda week: week + timedelta(weeks=1),
    "month": next_month,
}


def period_end(*, span: str, start: datetime) -> datetime:
    """Where the period of ``span`` (hour, day, week, month) that begins at ``start`` ends."""
    return _NEXT_PERIOD[span](start)


@dataclass(frozen=True)
class RollupCover:
    """The starts (UTC) of the month, week, day and hour rows whose periods tile a range exactly."""

    months: tuple[datetime, ...]
    weeks: tuple[datetime, ...]
    days: tuple[datetime, ...]
    hours: tuple[datetime, ...]


def _whole_periods(
    pieces: list[tuple[datetime, datetime]], *, start_of: Callable[[datetime], datetime], after: Callable[[datetime], datetime]
) -> tuple[list[datetime], list[tuple[datetime, datetime]]]:
    """The periods lying wholly inside ``pieces`` (a period starts at ``start_of`` and the next ``after`` it),
    and the pieces left around them."""
    periods, left = [], []
    for lower, upper in pieces:
        first = start_of(lower)
        if first < lower:
            first = after(first)
        period = first
        while after(period) <= upper:
            periods.append(period)
            period = after(period)
        if period == first:
            left.append((lower, upper))
        else:
            left += [piece for piece in ((lower, first), (period, upper)) if piece[0] < piece[1]]
    return sorted(periods), left


@lru_cache(maxsize=1024)
def rollup_cover(*, lower: datetime, upper: datetime) -> RollupCover:
    """Given a range ``[lower, upper)`` whose ends fall on whole UTC hours, return the fewest rollup rows that
    tile it: its whole months, then the whole weeks and days left, then the hours at its ends."""
    pieces = [(lower.astimezone(timezone.utc), upper.astimezone(timezone.utc))]
    months, pieces = _whole_periods(pieces, start_of=month_of, after=next_month)
    weeks, pieces = _whole_periods(pieces, start_of=week_of, after=_NEXT_PERIOD["week"])
    days, pieces = _whole_periods(pieces, start_of=day_of, after=_NEXT_PERIOD["day"])
    hours, left = _whole_periods(pieces, start_of=hour_of, after=_NEXT_PERIOD["hour"])
    if left:
        raise ValueError(f"rollups hold whole UTC hours; [{lower}, {upper}) does not start and end on one")
    return RollupCover(months=tuple(months), weeks=tuple(weeks), days=tuple(days), hours=tuple(hours))
