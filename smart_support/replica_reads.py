"""Which requests read from the replica, and when they fall back to the primary.

A safe request (GET, HEAD, OPTIONS) to one of ``DATABASE_REPLICA_VIEWS`` reads the derived tables from
the replica, unless
- the replica is unreachable, or further behind than ``DATABASE_REPLICA_MAX_LAG_SECONDS``;
- the browser changed something (any POST, PUT, PATCH or DELETE) less than that long ago: the response
  to a change sets a signed cookie "read from the primary until", so the change cannot vanish from
  that user's next page. The replica serves reads only while it is at most the maximum lag behind,
  so once the cookie runs out the replica holds the change too.
A request that fails on the replica because it went down is answered once more from the primary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext
from psycopg_pool import PoolTimeout

from smart_support.db_router import REPLICA, reads_from, replica_configured

logger = logging.getLogger("smart_support.replica")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRIMARY_COOKIE = "read_primary_until"
_COOKIE_SALT = "smart_support.replica_reads"
# How long one look at the replica is trusted: a healthy replica is asked again after a second, an
# unreachable one only after ten (each look at a dead server may wait for the connect timeout).
CHECK_EVERY_SECONDS = 1.0
RETRY_UNREACHABLE_SECONDS = 10.0

# How far the replica is behind the primary's WAL position read just before (%s): 0 once it has replayed
# up to there (an idle primary writes nothing, which is no lag), else the seconds since the last
# transaction it replayed. Compared with the primary, not with what the replica received: a receiver
# that fell behind has replayed all it received and is still stale. Not a replica (promoted): 0.
PRIMARY_WAL_SQL = "SELECT pg_current_wal_lsn()"
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_replay_lsn() >= %s::pg_lsn THEN 0
    ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())
END
"""


@dataclass(frozen=True)
class ReplicaStatus:
    reachable: bool
    lag_seconds: float | None  # None: unreachable, or no transaction replayed yet while behind
    checked_at: float  # time.monotonic()

    def usable(self, *, max_lag_seconds: float) -> bool:
        return self.reachable and self.lag_seconds is not None and self.lag_seconds <= max_lag_seconds


@dataclass(frozen=True)
class ReadsChoice:
    """Where one request reads from, and why: what the admin pages show above their content."""

    alias: str
    lag_seconds: float | None = None
    reason: str = ""  # "" | "unreachable" | "lag" | "recent_change"

    @property
    def from_replica(self) -> bool:
        return self.alias == REPLICA


def lag_notice(choice: ReadsChoice | None) -> str:
    """What an admin page says about where it read from: nothing while the replica is close behind."""
    if choice is None:
        return ""
    if choice.reason == "unreachable":
        return gettext("The read replica is unreachable: reading from the primary.")
    seconds = "?" if choice.lag_seconds is None else f"{choice.lag_seconds:,.0f}"
    if choice.reason == "lag":
        return gettext("The read replica is %(seconds)s s behind: reading from the primary.") % {"seconds": seconds}
    if choice.from_replica and (choice.lag_seconds or 0) > settings.DATABASE_REPLICA_LAG_NOTICE_SECONDS:
        return gettext(
            "Read from a replica %(seconds)s s behind the primary: the newest changes may not show yet."
        ) % {"seconds": seconds}
    return ""


_last_status: ReplicaStatus | None = None
_status_lock = threading.Lock()


def forget_replica_status() -> None:
    """Look at the replica again on the next request (after it came back, or in tests)."""
    global _last_status
    _last_status = None


def replica_status() -> ReplicaStatus:
    """Given the last look at the replica, return it while fresh; else ask the replica how far behind it is."""
    global _last_status
    with _status_lock:
        last = _last_status
        if last is not None:
            age = time.monotonic() - last.checked_at
            if age < (CHECK_EVERY_SECONDS if last.reachable else RETRY_UNREACHABLE_SECONDS):
                return last
        _last_status = _measure_lag()
        return _last_status


def _measure_lag() -> ReplicaStatus:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(PRIMARY_WAL_SQL)
        (primary_position,) = cursor.fetchone()
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL, [primary_position])
            (lag,) = cursor.fetchone()
    except (DatabaseError, PoolTimeout):
        logger.warning("the read replica is unreachable: reading from the primary", exc_info=True)
        connections[REPLICA].close()
        return ReplicaStatus(reachable=False, lag_seconds=None, checked_at=time.monotonic())
    return ReplicaStatus(reachable=True, lag_seconds=None if lag is None else float(lag), checked_at=time.monotonic())


def choose_reads(request: HttpRequest) -> ReadsChoice:
    """Given a request to a replica view, return where it reads from."""
    max_lag = settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    try:
        read_primary_until = float(request.get_signed_cookie(PRIMARY_COOKIE, salt=_COOKIE_SALT, max_age=max_lag))
    except (KeyError, signing.BadSignature, ValueError):
        read_primary_until = 0.0
    if time.time() < read_primary_until:
        return ReadsChoice(alias=DEFAULT_DB_ALIAS, reason="recent_change")
    status = replica_status()
    if not status.reachable:
        return ReadsChoice(alias=DEFAULT_DB_ALIAS, reason="unreachable")
    if not status.usable(max_lag_seconds=max_lag):
        return ReadsChoice(alias=DEFAULT_DB_ALIAS, lag_seconds=status.lag_seconds, reason="lag")
    return ReadsChoice(alias=REPLICA, lag_seconds=status.lag_seconds)


class ReplicaReadsMiddleware:
    """Reads the views of ``DATABASE_REPLICA_VIEWS`` from the replica, and stamps browsers that wrote."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        if request.method not in SAFE_METHODS:
            return self._stamped(request, self.get_response(request))
        if not self._reads_replica_view(request):
            return self.get_response(request)
        request.database_reads = choose_reads(request)
        with reads_from(request.database_reads.alias):
            response = self.get_response(request)
        if response.status_code == 503 and request.database_reads.from_replica:
            # the replica may have gone down under the request: look again, and ask the primary if so
            forget_replica_status()
            request.database_reads = choose_reads(request)
            if not request.database_reads.from_replica:
                response = self.get_response(request)
        return response

    @staticmethod
    def _reads_replica_view(request: HttpRequest) -> bool:
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return False
        return match.view_name in settings.DATABASE_REPLICA_VIEWS

    @staticmethod
    def _stamped(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """After a request that may have written: this browser reads from the primary while the replica may lag."""
        if response.status_code < 400:
            max_lag = settings.DATABASE_REPLICA_MAX_LAG_SECONDS
            response.set_signed_cookie(
                PRIMARY_COOKIE, str(time.time() + max_lag), salt=_COOKIE_SALT, max_age=max_lag,
                httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
