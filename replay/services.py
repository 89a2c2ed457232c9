"""Replay use cases for the web layer: one thread's timeline, paginated."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timezone

from replay.checkpoints import CheckpointSource, open_checkpoint_source
from replay.timeline import (
    PriceLookup,
    ReplayPage,
    ReplayStep,
    build_timeline,
    paginate_steps,
    refresh_interrupt_statuses,
)


class ThreadNotFound(LookupError):
    pass


class PageOutOfRange(LookupError):
    def __init__(self, last_page: int) -> None:
        super().__init__(f"page is past the end; the last page is {last_page}")
        self.last_page = last_page


class TimelineCache:
    """The last timelines built, per process, each valid while its thread's signature (newest
    checkpoint id, number of writes) and the price version are what they were. Only the interrupt
    statuses depend on the clock: they are worked out again on every read."""

    size = 256

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[tuple, list[ReplayStep]]] = OrderedDict()

    def get(self, thread_id: str, key: tuple) -> list[ReplayStep] | None:
        entry = self._entries.get(thread_id)
        if entry is None or entry[0] != key:
            return None
        self._entries.move_to_end(thread_id)
        return entry[1]

    def clear(self) -> None:
        self._entries.clear()

    def put(self, thread_id: str, key: tuple, steps: list[ReplayStep]) -> None:
        self._entries[thread_id] = (key, steps)
        self._entries.move_to_end(thread_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


timeline_cache = TimelineCache()


def get_timeline(
    *, thread_id: str, price_lookup: PriceLookup | None, source: CheckpointSource | None = None, now: datetime | None = None
) -> list[ReplayStep]:
    """Given a thread id, return its whole timeline; raise ThreadNotFound when it has no checkpoints."""
    if source is None:
        with open_checkpoint_source() as opened:
            return get_timeline(thread_id=thread_id, price_lookup=price_lookup, source=opened, now=now)
    now = now or datetime.now(timezone.utc)
    price_version = getattr(price_lookup, "version", None)
    signature = source.thread_signature(thread_id=thread_id) if price_version is not None else None
    if signature is not None:
        cached = timeline_cache.get(thread_id, (signature, price_version))
        if cached is not None:
            return refresh_interrupt_statuses(cached, now=now)
    thread = source.get_thread(thread_id=thread_id)
    if thread is None:
        raise ThreadNotFound(thread_id)
    steps = build_timeline(thread, price_lookup=price_lookup, now=now)
    if signature is not None:
        timeline_cache.put(thread_id, (signature, price_version), steps)
    return steps


def get_replay_page(
    *,
    thread_id: str,
    page: int,
    page_size: int,
    price_lookup: PriceLookup | None,
    source: CheckpointSource | None = None,
    now: datetime | None = None,
) -> ReplayPage:
    """Given a thread id and a page, return that page of its timeline; raise ThreadNotFound / PageOutOfRange."""
    steps = get_timeline(thread_id=thread_id, price_lookup=price_lookup, source=source, now=now)
    replay_page = paginate_steps(thread_id=thread_id, steps=steps, page=page, page_size=page_size)
    if page > replay_page.last_page:
        raise PageOutOfRange(replay_page.last_page)
    return replay_page


