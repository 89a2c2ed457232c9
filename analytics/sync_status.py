"""When the sync last ran, as it records it itself: what ``/readyz`` and the dashboard read instead of
scanning the checkpoint tables for their newest row (no index there is ours to add)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext, ngettext

from analytics.models import SyncState
from replay.checkpoint_times import uuid6_time
from replay.thread_shards import ALL_THREADS, ThreadShard

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


def state_name(shard: ThreadShard) -> str:
    """The name of the state row holding ``shard``'s progress: each shard resumes on its own."""
    return BACKFILL_STATE if shard.is_all else f"{BACKFILL_STATE} {shard}"


def _shard_of_state(name: str) -> ThreadShard:
    return ALL_THREADS if name == BACKFILL_STATE else ThreadShard.parse(name.removeprefix(f"{BACKFILL_STATE} "))


def get_sync_status() -> SyncStatus:
    """Read the sync's state rows (one per shard that ever ran). ``synced_at`` is the newest pass over every
    thread: an unsharded pass, or all ``n`` shards of a ``--shard i/n`` split, which together have covered
    every thread since the oldest of their passes began. A split whose shards have not all passed yet says
    nothing of the threads the missing ones hold."""
    rows = SyncState.objects.filter(name__startswith=BACKFILL_STATE).values_list("name", "synced_at", "watermark")
    passes: dict[int, list[datetime]] = defaultdict(list)
    watermarks = []
    for name, synced_at, watermark in rows:
        shard = _shard_of_state(name)
        if synced_at is not None:
            passes[shard.count].append(synced_at)
        watermarks.append(watermark)
    complete = [min(started) for count, started in passes.items() if len(started) == count]
    newest = max(watermarks, default="")
    return SyncStatus(synced_at=max(complete, default=None), newest_derived_at=uuid6_time(newest) if newest else None)


def record_pass(*, started_at: datetime, watermark: str | None = None, shard: ThreadShard = ALL_THREADS) -> None:
    """A pass of ``shard`` that began at ``started_at`` is complete (and, given, derived up to ``watermark``)."""
    changes = {"synced_at": started_at} if watermark is None else {"synced_at": started_at, "watermark": watermark}
    SyncState.objects.filter(name=state_name(shard)).update(**changes)
