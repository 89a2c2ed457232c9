"""Threads that could not be read or derived: recorded for staff, never a reason to stop a run."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from analytics.models import FailedThread

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadFailure:
    """Why one thread could not be derived, at which state of the thread."""

    thread_id: str
    error: str
    traceback: str
    last_checkpoint_id: str = ""

    @classmethod
    def of(cls, *, thread_id: str, error: BaseException, last_checkpoint_id: str = "") -> ThreadFailure:
        return cls(
            thread_id=thread_id,
            error=f"{type(error).__name__}: {error}".replace("\x00", "\\x00")[:2000],
            traceback="".join(traceback.format_exception(error)).replace("\x00", "\\x00")[-8000:],
            last_checkpoint_id=last_checkpoint_id,
        )


def record_failures(*, failures: Sequence[ThreadFailure]) -> None:
    """Store each failure (one warning line each); a thread that failed before counts one more attempt."""
    now = timezone.now()
    for failure in failures:
        logger.warning("thread %r could not be derived, skipped: %s", failure.thread_id, failure.error)
        fields = {"error": failure.error, "traceback": failure.traceback, "last_checkpoint_id": failure.last_checkpoint_id}
        updated = FailedThread.objects.filter(thread_id=failure.thread_id).update(
            **fields, attempts=F("attempts") + 1, last_failed_at=now
        )
        if not updated:
            FailedThread.objects.create(thread_id=failure.thread_id, first_failed_at=now, last_failed_at=now, **fields)


def clear_failures(*, thread_ids: Iterable[str]) -> None:
    """These threads were derived: they are failed no more."""
    FailedThread.objects.filter(thread_id__in=list(thread_ids)).delete()


def failed_heads(*, thread_ids: Sequence[str]) -> dict[str, str]:
    """Of these threads, those that failed: ``thread_id → newest checkpoint id when they failed``."""
    return dict(
        FailedThread.objects.filter(thread_id__in=list(thread_ids)).values_list("thread_id", "last_checkpoint_id")
    )


def failed_thread_ids() -> list[str]:
    return list(FailedThread.objects.order_by("thread_id").values_list("thread_id", flat=True))
