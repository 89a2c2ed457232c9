"""When the sync last ran, as it records it itself: what ``/readyz`` and the dashboard read instead of
scanning the checkpoint tables for their newest row (no index there is ours to add)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext, ngettext

from analytics.models import SyncState
from replay.checkpoint_times import uuid6_time

BACKFILL_STATE = "backfill"
# A follow pass runs every half second and a full comparison every minute: older than this, the sync
# worker has most likely stopped.
STALE_AFTER_SECONDS = 300


@dataclass(frozen=True)
class SyncStatus:
    """``synced_at``: when the newest complete pass began (every checkpoint committed before it is derived);
    ``newest_derived_at``: the time of the newest checkpoint derived. None: never synced."""

    synced_at: datetime | None
    newest_derived_at: datetime | None

    def age_seconds(self, *, now: datetime) -> float | None:
        """How long ago the newest complete pass began: how far the analytics may be behind."""
        if self.synced_at is None:
            return None
        return round(max(0.0, (now - self.synced_at).total_seconds()), 3)

    def describe(self, *, now: datetime) -> str:
        """"Last synced 12 s ago", in words a manager reads at a glance."""
        seconds = self.age_seconds(now=now)
        if seconds is None:
            return gettext("Not synced yet: run manage.py backfill_events (--follow keeps it current).")
        if seconds < 120:
            number, unit = int(seconds), ngettext("%(count)d s", "%(count)d s", int(seconds))
        elif seconds < 2 * 3600:
            number, unit = int(seconds // 60), ngettext("%(count)d min", "%(count)d min", int(seconds // 60))
        elif seconds < 2 * 86400:
            number, unit = int(seconds // 3600), ngettext("%(count)d h", "%(count)d h", int(seconds // 3600))
        else:
            number, unit = int(seconds // 86400), ngettext("%(count)d day", "%(count)d days", int(seconds // 86400))
        age = unit % {"count": number}
        if seconds > STALE_AFTER_SECONDS:
            return gettext(
                "Last synced %(age)s ago: newer conversations are not counted until backfill_events runs "
                "(--follow keeps it current)."
            ) % {"age": age}
        return gettext("Last synced %(age)s ago.") % {"age": age}


def get_sync_status() -> SyncStatus:
    """Read the sync's own state row (one indexed row)."""
    row = SyncState.objects.filter(name=BACKFILL_STATE).values("synced_at", "watermark").first()
    if row is None:
        return SyncStatus(synced_at=None, newest_derived_at=None)
    watermark = row["watermark"]
    return SyncStatus(synced_at=row["synced_at"], newest_derived_at=uuid6_time(watermark) if watermark else None)


def record_pass(*, started_at: datetime, watermark: str | None = None) -> None:
    """A pass that began at ``started_at`` is complete (and, given, derived up to ``watermark``)."""
    changes = {"synced_at": started_at} if watermark is None else {"synced_at": started_at, "watermark": watermark}
    SyncState.objects.filter(name=BACKFILL_STATE).update(**changes)
