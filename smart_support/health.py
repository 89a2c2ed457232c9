"""Is this process up (``/healthz``), and can it serve (``/readyz``)?

``/readyz`` reaches both databases — Django's and the checkpoint database — and says how far the
analytics are behind the checkpoints and how many threads could not be derived. A database that cannot
be reached makes it a 503, so a load balancer stops sending traffic; a sync that lags does not (the
web still serves), it is only reported. Neither needs a login nor says what went wrong beyond
"unavailable": the details go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import DatabaseError
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse

from analytics.models import FailedThread
from replay.checkpoint_times import uuid6_time
from replay.checkpoints import open_checkpoint_source
from replay.models import Conversation

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (DatabaseError, psycopg.Error)
OK = "ok"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Readiness:
    databases: dict[str, str]
    newest_checkpoint_at: datetime | None
    newest_derived_at: datetime | None
    failed_threads: int | None

    @property
    def ready(self) -> bool:
        return all(state == OK for state in self.databases.values())

    @property
    def sync_lag_seconds(self) -> float | None:
        """How much older the newest derived checkpoint is than the newest checkpoint: 0 when the analytics
        are up to date (or there is nothing to derive), None when unknown or nothing was derived yet."""
        if self.databases["checkpoints"] != OK or self.databases["default"] != OK:
            return None
        if self.newest_checkpoint_at is None:
            return 0.0
        if self.newest_derived_at is None:
            return None
        return round(max(0.0, (self.newest_checkpoint_at - self.newest_derived_at).total_seconds()), 3)

    def as_json(self) -> dict:
        return {
            "status": "ready" if self.ready else UNAVAILABLE,
            "databases": self.databases,
            "sync_lag_seconds": self.sync_lag_seconds,
            "newest_checkpoint_at": self.newest_checkpoint_at,
            "newest_derived_at": self.newest_derived_at,
            "failed_threads": self.failed_threads,
        }


def get_readiness() -> Readiness:
    """Reach Django's database and the checkpoint database; return what each said."""
    databases = {"default": OK, "checkpoints": OK}
    newest_derived = failed_threads = newest_checkpoint = None
    try:
        newest_derived = Conversation.objects.aggregate(newest=Max("last_checkpoint_id"))["newest"] or None
        failed_threads = FailedThread.objects.count()
    except DATABASE_ERRORS:
        logger.warning("readyz: Django's database is unavailable", exc_info=True)
        databases["default"] = UNAVAILABLE
    try:
        with open_checkpoint_source() as source:
            newest_checkpoint = source.newest_checkpoint_id()
    except psycopg.errors.UndefinedTable:
        pass  # reachable; the agent has not created its checkpoint tables yet
    except DATABASE_ERRORS:
        logger.warning("readyz: the checkpoint database is unavailable", exc_info=True)
        databases["checkpoints"] = UNAVAILABLE
    return Readiness(
        databases=databases,
        newest_checkpoint_at=uuid6_time(newest_checkpoint) if newest_checkpoint else None,
        newest_derived_at=uuid6_time(newest_derived) if newest_derived else None,
        failed_threads=failed_threads,
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
