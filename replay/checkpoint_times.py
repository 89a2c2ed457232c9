"""When a checkpoint was made: its ``ts`` as stored, or else the time inside its uuid6 id.

LangGraph gives checkpoints uuid6 ids, which sort by the time they were made: ``checkpoint_id_floor``
turns a date into a bound on ids, ``uuid6_time`` reads the date back out of an id.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

logger = logging.getLogger(__name__)


class CheckpointTimes:
    """Reads checkpoint ``ts`` values for one thread and says, once per thread, which could not be
    read as stored: naive ones are read as UTC, missing or garbled ones come from the uuid6 id."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.naive: list[str] = []
        self.from_id: list[str] = []
        self.unknown: list[str] = []

    def read(self, *, checkpoint_id: str, raw: str | None) -> datetime | None:
        try:
            ts = datetime.fromisoformat(raw) if raw else None
        except ValueError:
            ts = None
        if ts is not None and ts.utcoffset() is None:
            self.naive.append(checkpoint_id)
            return ts.replace(tzinfo=timezone.utc)
        if ts is not None:
            return ts
        ts = uuid6_time(checkpoint_id)
        (self.from_id if ts is not None else self.unknown).append(checkpoint_id)
        return ts

    def warn(self) -> None:
        for ids, what in (
            (self.naive, "has a ts without a time zone, read as UTC"),
            (self.from_id, "has no readable ts, dated by its uuid6 checkpoint id"),
            (self.unknown, "has no readable ts nor a uuid6 id: its steps' times are unknown"),
        ):
            if ids:
                more = f" (and {len(ids) - 3} more)" if len(ids) > 3 else ""
                logger.warning("thread %s: checkpoint %s%s %s", self.thread_id, ", ".join(ids[:3]), more, what)


_UUID_EPOCH_OFFSET = 0x01B21DD213814000  # 100-ns intervals from 1582-10-15 to 1970-01-01
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def checkpoint_id_floor(moment: datetime) -> str:
    """The smallest uuid6 checkpoint id LangGraph could give a checkpoint made at ``moment``: ids sort
    by time, so this turns a date into a bound on ``checkpoint_id``."""
    timestamp = int(moment.timestamp() * 10_000_000) + _UUID_EPOCH_OFFSET
    high = f"{(timestamp >> 12) & 0xFFFFFFFFFFFF:012x}"
    return f"{high[:8]}-{high[8:]}-6{timestamp & 0x0FFF:03x}-0000-000000000000"


def uuid6_time(checkpoint_id: str) -> datetime | None:
    """When LangGraph made a uuid6 checkpoint id (the inverse of ``checkpoint_id_floor``, to the
    microsecond); None when the id is not a uuid6."""
    try:
        value = uuid.UUID(checkpoint_id)
    except (ValueError, TypeError, AttributeError):
        return None
    if (value.int >> 76) & 0xF != 6:
        return None
    timestamp = ((value.int >> 80) << 12) | ((value.int >> 64) & 0x0FFF)
    return _UNIX_EPOCH + timedelta(microseconds=(timestamp - _UUID_EPOCH_OFFSET) // 10)
