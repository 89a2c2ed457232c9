"""Time zones both Python and PostgreSQL understand: the analytics API and the dashboard accept only these."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection


class UnknownTimeZone(ValueError):
    pass


@cache
def postgres_time_zone_names() -> frozenset[str]:
    """The server's zone names, read once per process (Python's zoneinfo accepts hundreds more, such
    as posixrules, localtime or right/UTC, that PostgreSQL refuses in AT TIME ZONE)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_timezone_names")
        return frozenset(name for (name,) in cursor.fetchall())


def time_zone(*, name: str) -> ZoneInfo:
    """The zone called ``name``; ``UnknownTimeZone`` unless PostgreSQL and Python both know it."""
    if name not in postgres_time_zone_names():
        raise UnknownTimeZone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(name) from None
