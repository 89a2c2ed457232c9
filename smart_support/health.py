"""Is this process up (``/healthz``), and can it serve (``/readyz``)?

``/readyz`` reaches both databases — Django's and the checkpoint database — and says how far the
analytics may be behind (how long ago the sync's newest complete pass began, as the sync records it:
one row, never a scan of the checkpoint tables) and how many threads could not be derived. A database
that cannot be reached makes it a 503, so a load balancer stops sending traffic; a sync that lags does
not (the web still serves), it is only reported. Neither needs a login nor says what went wrong beyond
"unavailable": the details go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone

import psycopg
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse

from analytics.models import FailedThread
from analytics.sync_status import SyncStatus, get_sync_status
from replay.checkpoints import open_checkpoint_source

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (DatabaseError, psycopg.Error)
OK = "ok"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Readiness:
    databases: dict[str, str]
    sync: SyncStatus | None
    failed_threads: int | None
    checked_at: datetime

    @property
    def ready(self) -> bool:
        return all(state == OK for state in self.databases.values())

    @property
    def sync_lag_seconds(self) -> float | None:
        """How long ago the sync's newest complete pass began: about the poll interval while
        ``backfill_events --follow`` runs, growing when it stops; None when unknown or never synced."""
        if self.sync is None or self.databases["checkpoints"] != OK:
            return None
        return self.sync.age_seconds(now=self.checked_at)

    def as_json(self) -> dict:
        return {
            "status": "ready" if self.ready else UNAVAILABLE,
            "databases": self.databases,
            "sync_lag_seconds": self.sync_lag_seconds,
            "last_synced_at": self.sync.synced_at if self.sync else None,
            "newest_derived_at": self.sync.newest_derived_at if self.sync else None,
            "failed_threads": self.failed_threads,
        }


def get_readiness() -> Readiness:
    """Reach Django's database and the checkpoint database; return what each said."""
    databases = {"default": OK, "checkpoints": OK}
    sync = failed_threads = None
    try:
        sync = get_sync_status()
        failed_threads = FailedThread.objects.count()
    except DATABASE_ERRORS:
        logger.warning("readyz: Django's database is unavailable", exc_info=True)
        databases["default"] = UNAVAILABLE
    try:
        with open_checkpoint_source() as source:
            source.ping()
    except DATABASE_ERRORS:
        logger.warning("readyz: the checkpoint database is unavailable", exc_info=True)
        databases["checkpoints"] = UNAVAILABLE
    return Readiness(
        databases=databases, sync=sync, failed_threads=failed_threads, checked_at=datetime.now(dt_timezone.utc)
    )


class HealthCheckMiddleware:
    """Answers ``/healthz`` and ``/readyz`` before anything else runs (host validation, the HTTPS
    redirect, sessions): probes come by IP and plain HTTP from inside the network."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"status": OK}, headers={"Cache-Control": "no-store"})
        if request.path == "/readyz":
            readiness = get_readiness()
            return JsonResponse(
                readiness.as_json(), status=200 if readiness.ready else 503, headers={"Cache-Control": "no-store"}
            )
        return self.get_response(request)
