"""Replay use cases for the web layer: one thread's timeline, paginated."""

from __future__ import annotations

from datetime import datetime

from replay.checkpoints import CheckpointSource, open_checkpoint_source
from replay.timeline import PriceLookup, ReplayPage, ReplayStep, build_timeline, paginate_steps


class ThreadNotFound(LookupError):
    pass


class PageOutOfRange(LookupError):
    def __init__(self, last_page: int) -> None:
        super().__init__(f"page is past the end; the last page is {last_page}")
        self.last_page = last_page


def get_timeline(
    *, thread_id: str, price_lookup: PriceLookup | None, source: CheckpointSource | None = None, now: datetime | None = None
) -> list[ReplayStep]:
    """Given a thread id, return its whole timeline; raise ThreadNotFound when it has no checkpoints."""
    if source is None:
        with open_checkpoint_source() as opened:
            return get_timeline(thread_id=thread_id, price_lookup=price_lookup, source=opened, now=now)
    thread = source.get_thread(thread_id=thread_id)
    if thread is None:
        raise ThreadNotFound(thread_id)
    return build_timeline(thread, price_lookup=price_lookup, now=now)


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


