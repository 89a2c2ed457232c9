"""Replay use cases for the web layer: one thread's whole replay (a page of its steps, its totals and
its conversation row), the same for the API and the admin page."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from replay.checkpoints import CheckpointSource, open_checkpoint_source
from replay.models import Conversation
from replay.redaction import SHOW_ALL, Redaction
from replay.tenants import EVERY_TENANT, TenantScope, can_see_thread
from replay.timeline import (
    PriceLookup,
    ReplayPage,
    ReplayStep,
    StepType,
    TimelineTotals,
    build_timeline,
    paginate_steps,
    refresh_interrupt_statuses,
    total_of,
)


class ThreadNotFound(LookupError):
    pass


class ThreadPruned(LookupError):
    """The thread's checkpoints were deleted by retention (``prune_checkpoints``); its conversation row,
    as the reader may see it, remains."""

    def __init__(self, *, conversation: Conversation) -> None:
        super().__init__(conversation.thread_id)
        self.conversation = conversation
        self.pruned_at = conversation.checkpoints_pruned_at

    @property
    def message(self) -> str:
        return _(
            "The checkpoints of this conversation were pruned on %(date)s by retention (prune_checkpoints): its "
            "step-by-step replay is gone, its analytics (this summary, its events, the dashboard's numbers) remain."
        ) % {"date": f"{self.pruned_at.astimezone(timezone.utc):%Y-%m-%d}"}


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




@dataclass(frozen=True)
class Landmark:
    """The first step of a kind worth jumping to (the first error, approval, escalation) and its page."""

    kind: str
    step_index: int
    page: int


LANDMARKS = ("error", "approval", "escalation")


def _is_landmark(kind: str, step: ReplayStep) -> bool:
    if kind == "error":
        return step.status == "error"
    if kind == "approval":
        return step.type == StepType.INTERRUPT
    return step.type == StepType.ESCALATION


def landmarks_of(*, steps: list[ReplayStep], page_size: int) -> tuple[Landmark, ...]:
    """Given a whole timeline, return the first error, approval and escalation it holds (those it has)."""
    found = []
    for kind in LANDMARKS:
        first = next((step for step in steps if _is_landmark(kind, step)), None)
        if first is not None:
            found.append(Landmark(kind=kind, step_index=first.index, page=first.index // page_size + 1))
    return tuple(found)


# Costs are stored to 8 decimals (replay.steps); a reader needs fewer, but no fewer than the four a
# list shows, enough for the cheapest call to keep two significant digits, and never so few that the
# step costs shown stop adding up to the total shown.
FEWEST_COST_DECIMALS, MOST_COST_DECIMALS = 4, 8


def cost_decimals(*, steps: list[ReplayStep]) -> int:
    """The decimals a timeline's costs are shown with: each step's cost rounded to them adds up to
    the total rounded to them, and the cheapest priced call still shows two significant digits."""
    costs = [step.cost_usd for step in steps if step.cost_usd is not None]
    total = sum(costs, Decimal(0))
    cheapest = min((abs(cost) for cost in costs if cost), default=None)
    fewest = max(FEWEST_COST_DECIMALS, 1 - cheapest.adjusted()) if cheapest is not None else FEWEST_COST_DECIMALS
    for decimals in range(min(fewest, MOST_COST_DECIMALS), MOST_COST_DECIMALS):
        exponent = Decimal(1).scaleb(-decimals)
        shown = sum((cost.quantize(exponent, rounding=ROUND_HALF_UP) for cost in costs), Decimal(0))
        if shown == total.quantize(exponent, rounding=ROUND_HALF_UP):
            return decimals
    return MOST_COST_DECIMALS


@dataclass(frozen=True)
class Replay:
    """What a replay shows: one page of the thread's steps, the whole thread's totals, and its
    conversation row (None until the thread is derived); where its first error, approval and
    escalation are, and how many decimals its costs are shown with."""

    thread_id: str
    page: ReplayPage
    totals: TimelineTotals
    conversation: Conversation | None
    landmarks: tuple[Landmark, ...] = ()
    cost_decimals: int = FEWEST_COST_DECIMALS


# Replay knows how to apply prices and list agents, not where the analytics keep them: each comes
# from a function named in settings (a dotted path), so nothing here imports the analytics app.

def configured_price_lookup() -> PriceLookup | None:
    """The price lookup made by ``SMART_SUPPORT["PRICE_LOOKUP"]``, or None when no prices are configured."""
    path = settings.SMART_SUPPORT.get("PRICE_LOOKUP")
    return import_string(path)() if path else None


def known_agent_names(*, tenants: TenantScope = EVERY_TENANT) -> list[str]:
    """Every agent that took part in a conversation of these tenants, from ``SMART_SUPPORT["AGENT_NAMES"]``
    (a function taking ``tenants``)."""
    path = settings.SMART_SUPPORT.get("AGENT_NAMES")
    return list(import_string(path)(tenants=tenants)) if path else []


def get_replay(
    *, thread_id: str, page: int, page_size: int, source: CheckpointSource | None = None, now: datetime | None = None,
    tenants: TenantScope = EVERY_TENANT, redaction: Redaction = SHOW_ALL,
) -> Replay:
    """Given a thread id and a page, return its replay as a reader of ``tenants`` sees it (personal data
    masked by ``redaction``); raise ThreadNotFound / ThreadPruned / PageOutOfRange. Another tenant's thread
    is not found, as if it did not exist, so its id leaks nothing."""
    if not can_see_thread(scope=tenants, thread_id=thread_id):
        raise ThreadNotFound(thread_id)
    try:
        steps = get_timeline(thread_id=thread_id, price_lookup=configured_price_lookup(), source=source, now=now)
    except ThreadNotFound:
        # from the primary: a replica behind it may not have the mark yet, where the checkpoints are already gone
        pruned = (
            Conversation.objects.using(DEFAULT_DB_ALIAS)
            .filter(thread_id=thread_id, checkpoints_pruned_at__isnull=False)
            .first()
        )
        if pruned is None:
            raise
        raise ThreadPruned(conversation=redaction.conversation(pruned)) from None
    replay_page = paginate_steps(thread_id=thread_id, steps=steps, page=page, page_size=page_size)
    if page > replay_page.last_page:
        raise PageOutOfRange(replay_page.last_page)
    if redaction.masks:
        replay_page = dataclasses.replace(replay_page, steps=tuple(redaction.step(step) for step in replay_page.steps))
    return Replay(
        thread_id=thread_id,
        page=replay_page,
        totals=total_of(steps),
        conversation=redaction.conversation(Conversation.objects.filter(thread_id=thread_id).first()),
        landmarks=landmarks_of(steps=steps, page_size=page_size),
        cost_decimals=cost_decimals(steps=steps),
    )
