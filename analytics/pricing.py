"""Effective-dated model prices: the price of a model's tokens at the moment a call happened."""

from __future__ import annotations

import bisect
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext, ngettext

from analytics.models import AnalyticsEvent, EventType, ModelPrice, PendingReprice
from analytics.storage import refresh_conversation_costs, refresh_rollups_of, update_event_costs
from replay.steps import ModelPricing, PriceLookup, TokenUsage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _PriceHistory:
    """One model name's prices, oldest first, each with the pattern it was entered with."""

    model: str
    starts: tuple[datetime, ...]
    prices: tuple[ModelPricing, ...]
    patterns: tuple[re.Pattern[str] | None, ...]

    def matches(self, reported: str) -> tuple[bool, ...]:
        """For each price in turn: does it apply to calls reported as ``reported``?"""
        if reported == self.model:
            return (True,) * len(self.prices)
        return tuple(pattern is not None and pattern.fullmatch(reported) is not None for pattern in self.patterns)

    def in_force(self, at: datetime) -> int | None:
        position = bisect.bisect_right(self.starts, at) - 1
        return position if position >= 0 else None


def load_price_lookup() -> PriceLookup:
    """Read every ``ModelPrice`` once and return ``lookup(reported model name, at)`` → the price in force
    then, or None. Which price applies is ``ModelPrice``'s rule: the exact name, else the most specific
    matching pattern, among the prices in force at ``at``."""
    rows: dict[str, list[ModelPrice]] = defaultdict(list)
    for price in ModelPrice.objects.order_by("model", "effective_from"):
        rows[price.model].append(price)
    histories = [
        _PriceHistory(
            model=model,
            starts=tuple(price.effective_from for price in prices),
            prices=tuple(_pricing_of(price) for price in prices),
            patterns=tuple(_pattern_of(price) for price in prices),
        )
        for model, prices in rows.items()
    ]
    # a reported name's candidates, most specific first, each with which of its prices match the name
    candidates_of: dict[str, list[tuple[_PriceHistory, tuple[bool, ...]]]] = {}

    def candidates(reported: str) -> list[tuple[_PriceHistory, tuple[bool, ...]]]:
        found = candidates_of.get(reported)
        if found is None:
            found = sorted(
                ((history, matches) for history in histories if any(matches := history.matches(reported))),
                key=lambda candidate: _specificity(candidate[0].model, reported),
            )
            candidates_of[reported] = found
        return found

    def lookup(model: str, at: datetime) -> ModelPricing | None:
        for history, matches in candidates(model):
            position = history.in_force(at)
            if position is not None and matches[position]:
                return history.prices[position]
        return None

    # what the prices were: a timeline built with the same version costs every call the same
    lookup.version = hash(tuple(histories))
    return lookup


def _pricing_of(price: ModelPrice) -> ModelPricing:
    return ModelPricing(
        input_usd_per_million=price.input_usd_per_million,
        output_usd_per_million=price.output_usd_per_million,
        cache_read_usd_per_million=price.cache_read_usd_per_million,
        cache_write_usd_per_million=price.cache_write_usd_per_million,
    )


def _pattern_of(price: ModelPrice) -> re.Pattern[str] | None:
    if not price.match_pattern:
        return None
    try:
        return re.compile(price.match_pattern)
    except re.error as error:
        # admin refuses such a pattern, but a row written another way must not stop every replay
        logger.warning("model price %s: pattern %r ignored (%s)", price, price.match_pattern, error)
        return None


def _specificity(model: str, reported: str) -> tuple[bool, bool, int, str]:
    """Sort key, most specific first: the exact name; then a price whose model name is part of the
    reported name, the longest first (``gpt-4o-mini`` before ``gpt-4o`` for ``gpt-4o-mini-2024-07-18``);
    then any other (a catch-all pattern); alphabetical on a tie."""
    return (model != reported, model not in reported, -len(model), model)


@dataclass(frozen=True)
class RepriceLine:
    model: str
    calls: int
    before_usd: Decimal
    after_usd: Decimal
    unpriced_calls: int

    @property
    def difference_usd(self) -> Decimal:
        return self.after_usd - self.before_usd

    def describe(self) -> str:
        """"gpt-4o: 2 calls, $0.001000 → $0.002000 (+0.001000), 1 unpriced" in the reader's language."""
        text = gettext("%(model)s: %(calls)s, %(before)s → %(after)s (%(difference)s)") % {
            "model": self.model or gettext("(no model)"),
            "calls": ngettext("%(count)s call", "%(count)s calls", self.calls) % {"count": f"{self.calls:,}"},
            "before": f"${self.before_usd:,.6f}", "after": f"${self.after_usd:,.6f}",
            "difference": f"{self.difference_usd:+,.6f}",
        }
        if self.unpriced_calls:
            text += gettext(", %(count)s unpriced") % {"count": f"{self.unpriced_calls:,}"}
        return text


@dataclass(frozen=True)
class RepriceResult:
    """What a reprice did (or, dry, would do): the cost per reported model name, and how many stored
    calls and conversations got a new cost."""

    lines: tuple[RepriceLine, ...]
    changed_calls: int
    changed_conversations: int

    @property
    def difference_usd(self) -> Decimal:
        return sum((line.difference_usd for line in self.lines), start=Decimal(0))


def reprice(
    *, since: datetime | None = None, until: datetime | None = None, models: list[str] | None = None,
    reported_names: list[str] | None = None, dry_run: bool = False, batch_size: int = 5000,
) -> RepriceResult:
    """Recompute the stored cost and cache savings of every LLM call (in ``[since, until)``; of the calls
    the prices named ``models`` apply to, by name or pattern; or of the calls reported as ``reported_names``)
    at the prices now in the table, and the totals and rollups of the conversations concerned."""
    lookup = load_price_lookup()
    events = AnalyticsEvent.objects.filter(event_type=EventType.LLM_USAGE)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    if models is not None:
        events = events.filter(model__in=_reported_names_priced_by(ModelPrice.objects.filter(model__in=models), events))
    if reported_names is not None:
        events = events.filter(model__in=reported_names)
    lines: dict[str, dict] = defaultdict(lambda: {"calls": 0, "before": Decimal(0), "after": Decimal(0), "unpriced": 0})
    changed: list[AnalyticsEvent] = []
    conversations: dict[int, tuple[Decimal, Decimal]] = defaultdict(lambda: (Decimal(0), Decimal(0)))
    fields = ("id", "conversation_id", "model", "occurred_at", *_USAGE_FIELDS, "cost_usd", "cache_savings_usd", "status")
    for event in events.only(*fields).iterator(chunk_size=batch_size):
        pricing = lookup(event.model, event.occurred_at) if event.model else None
        usage = TokenUsage(**{name: getattr(event, name) for name in _USAGE_FIELDS})
        cost = pricing.cost_of(usage=usage) if pricing else None
        line = lines[event.model]
        line["calls"] += 1
        line["before"] += event.cost_usd or 0
        line["after"] += cost.cost_usd if cost else 0
        line["unpriced"] += cost is None
        after = (cost.cost_usd, cost.cache_savings_usd) if cost else (None, None)
        if after != (event.cost_usd, event.cache_savings_usd):
            cost_change, savings_change = conversations[event.conversation_id]
            conversations[event.conversation_id] = (
                cost_change + (after[0] or 0) - (event.cost_usd or 0),
                savings_change + (after[1] or 0) - (event.cache_savings_usd or 0),
            )
            event.cost_usd, event.cache_savings_usd = after
            event.status = "priced" if cost is not None else "unpriced"
            changed.append(event)
    if not dry_run and changed:
        with transaction.atomic():
            update_event_costs(
                costs=[(event.id, event.cost_usd, event.cache_savings_usd, event.status) for event in changed]
            )
            refresh_conversation_costs(changes=conversations)
            refresh_rollups_of(conversations)
    return RepriceResult(
        lines=tuple(
            RepriceLine(model, values["calls"], values["before"], values["after"], values["unpriced"])
            for model, values in sorted(lines.items())
        ),
        changed_calls=len(changed),
        changed_conversations=len(conversations),
    )


# Up to this many calls, a price saved in admin reprices them within the request; more are left to
# ``backfill_events --follow``. bench/reprice.py, 100k conversations: 409 calls in 0.5 s, 5,643 in 7.7 s
# (mostly the rollups of the hours they fall in), every gpt-4o call (112,800) in minutes.
REPRICE_IN_REQUEST_UP_TO = 2_000


@dataclass(frozen=True)
class RepriceScope:
    """The stored calls a price change may reprice: reported as one of ``reported_names``, in ``[since, until)``."""

    since: datetime | None
    until: datetime | None
    reported_names: tuple[str, ...]

    def count_calls(self) -> int:
        events = AnalyticsEvent.objects.filter(event_type=EventType.LLM_USAGE, model__in=self.reported_names)
        if self.since is not None:
            events = events.filter(occurred_at__gte=self.since)
        return (events if self.until is None else events.filter(occurred_at__lt=self.until)).count()

    def reprice(self) -> RepriceResult:
        return reprice(since=self.since, until=self.until, reported_names=list(self.reported_names))


@dataclass(frozen=True)
class PriceChangeOutcome:
    """Either repriced at once (``repriced``) or left to the sync (``queued_calls`` calls)."""

    repriced: RepriceResult | None
    queued_calls: int = 0


def price_change_scope(*, before: ModelPrice | None, after: ModelPrice | None) -> RepriceScope:
    """A price was added (``before`` None), changed, or deleted (``after`` None): the calls either version
    of it applies to, by name or pattern, from its start until the model's next price."""
    versions = [price for price in (before, after) if price is not None]
    ends = [_next_price_start(price) for price in versions]
    events = AnalyticsEvent.objects.filter(event_type=EventType.LLM_USAGE)
    return RepriceScope(
        since=min(price.effective_from for price in versions),
        until=None if None in ends else max(ends),
        reported_names=tuple(_reported_names_priced_by(versions, events)),
    )


def models_scope(*, models: list[str]) -> RepriceScope:
    """Every stored call the prices of ``models`` apply to, by name or pattern."""
    events = AnalyticsEvent.objects.filter(event_type=EventType.LLM_USAGE)
    names = _reported_names_priced_by(ModelPrice.objects.filter(model__in=models), events)
    return RepriceScope(since=None, until=None, reported_names=tuple(names))


def reprice_after_price_change(*, before: ModelPrice | None, after: ModelPrice | None, reason: str) -> PriceChangeOutcome:
    """Reprice the calls a price change concerns now, in the caller's transaction, when they are few; else
    queue them for the sync (``run_pending_reprices``)."""
    return reprice_or_queue(scope=price_change_scope(before=before, after=after), reason=reason)


def reprice_or_queue(*, scope: RepriceScope, reason: str) -> PriceChangeOutcome:
    """Reprice ``scope`` now when it holds few calls, else queue it for the sync worker."""
    calls = scope.count_calls()
    if calls <= REPRICE_IN_REQUEST_UP_TO:
        return PriceChangeOutcome(repriced=scope.reprice())
    PendingReprice.objects.create(
        reason=reason, since=scope.since, until=scope.until, reported_names=list(scope.reported_names), calls=calls
    )
    return PriceChangeOutcome(repriced=None, queued_calls=calls)


def pending_reprice_calls() -> int:
    """LLM calls waiting to be repriced (0: every stored cost is at the current prices)."""
    return PendingReprice.objects.aggregate(calls=Coalesce(Sum("calls"), 0))["calls"]


def run_pending_reprices() -> list[tuple[str, RepriceResult]]:
    """Reprice each queued price change, oldest first, each in one transaction with the removal of its row;
    return ``(reason, result)`` of each."""
    done = []
    for pending_id in PendingReprice.objects.values_list("id", flat=True):
        with transaction.atomic():
            pending = PendingReprice.objects.select_for_update(skip_locked=True).filter(pk=pending_id).first()
            if pending is None:
                continue
            scope = RepriceScope(since=pending.since, until=pending.until, reported_names=tuple(pending.reported_names))
            done.append((pending.reason, scope.reprice()))
            pending.delete()
    return done


def _next_price_start(price: ModelPrice) -> datetime | None:
    """When the next price of the same model takes over from this one (None: it is the newest)."""
    return (
        ModelPrice.objects.filter(model=price.model, effective_from__gt=price.effective_from)
        .exclude(pk=price.pk).order_by("effective_from").values_list("effective_from", flat=True).first()
    )


_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _reported_names_priced_by(prices: Iterable[ModelPrice], events: QuerySet[AnalyticsEvent]) -> list[str]:
    """The model names stored calls reported that one of ``prices`` applies to, by name or pattern."""
    prices = list(prices)
    names = {price.model for price in prices}
    patterns = [pattern for price in prices if (pattern := _pattern_of(price)) is not None]
    reported = events.order_by().values_list("model", flat=True).distinct()
    return [name for name in reported if name in names or any(pattern.fullmatch(name) for pattern in patterns)]
