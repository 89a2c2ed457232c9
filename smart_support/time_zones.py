"""Time zones both Python and PostgreSQL understand: the analytics API and the dashboard accept only these.

The zone a user picks on the dashboard is kept in their session and made Django's current zone on every
request, so the dashboard, the conversation list and the replay pages show times in the same zone.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext as _

SESSION_KEY = "time_zone"


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


def session_time_zone(*, session) -> ZoneInfo:
    """The zone this session chose on the dashboard, else ``settings.TIME_ZONE``."""
    try:
        return ZoneInfo(session.get(SESSION_KEY) or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def remember_time_zone(*, session, zone: ZoneInfo) -> None:
    """Make ``zone`` (validated by ``time_zone``) the zone of this session's pages from now on."""
    if session.get(SESSION_KEY) != str(zone):
        session[SESSION_KEY] = str(zone)
    timezone.activate(zone)


def _with_current_zone(label: str) -> str:
    return _("%(label)s (%(zone)s)") % {"label": label, "zone": timezone.get_current_timezone_name()}


_lazy_with_current_zone = lazy(_with_current_zone, str)


def in_current_zone(label: str | Promise) -> Promise:
    """A column header naming the zone its times are shown in, read when the page is drawn: "Started (Asia/Tokyo)"."""
    return _lazy_with_current_zone(label)
