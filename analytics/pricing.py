"""Effective-dated model prices: the price of a model's tokens at the moment a call happened."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from analytics.models import AnalyticsEvent, EventType, ModelPrice
from analytics.storage import refresh_rollups_of
from replay.models import Conversation
from replay.timeline import ModelPricing, PriceLookup


def load_price_lookup() -> PriceLookup:
    """Read every ``ModelPrice`` once and return ``lookup(model, at)`` → the price in force then, or None."""
    history: dict[str, list[tuple[datetime, ModelPricing]]] = defaultdict(list)
    for price in ModelPrice.objects.order_by("model", "effective_from"):
        history[price.model].append(
            (price.effective_from, ModelPricing(price.input_usd_per_million, price.output_usd_per_million))
        )
    starts = {model: [start for start, _ in prices] for model, prices in history.items()}

    def lookup(model: str, at: datetime) -> ModelPricing | None:
        prices = history.get(model)
        if not prices:
            return None
        position = bisect.bisect_right(starts[model], at) - 1
        return prices[position][1] if position >= 0 else None

    # what the prices were: a timeline built with the same version costs every call the same
    lookup.version = hash(tuple((model, tuple(prices)) for model, prices in sorted(history.items())))
    return lookup


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
        return (
            f"{self.model or '(no model)'}: {self.calls:,} calls, ${self.before_usd:,.6f} → ${self.after_usd:,.6f} "
            f"({self.difference_usd:+,.6f}){f', {self.unpriced_calls:,} unpriced' if self.unpriced_calls else ''}"
        )


def reprice(
    *, since: datetime | None = None, models: list[str] | None = None, dry_run: bool = False, batch_size: int = 5000
) -> list[RepriceLine]:
    """Recompute the stored cost of every LLM call (since ``since``, of ``models``) at the prices now in
    the table, and the totals of the conversations concerned; return the before/after cost per model."""
    lookup = load_price_lookup()
    events = AnalyticsEvent.objects.filter(event_type=EventType.LLM_USAGE)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if models is not None:
        events = events.filter(model__in=models)
    lines: dict[str, dict] = defaultdict(lambda: {"calls": 0, "before": Decimal(0), "after": Decimal(0), "unpriced": 0})
    changed: list[AnalyticsEvent] = []
    conversations: set[int] = set()
    for event in events.only("id", "conversation_id", "model", "occurred_at", "input_tokens", "output_tokens", "cost_usd", "status").iterator(chunk_size=batch_size):
        pricing = lookup(event.model, event.occurred_at) if event.model else None
        cost = pricing.cost(input_tokens=event.input_tokens, output_tokens=event.output_tokens) if pricing else None
        line = lines[event.model]
        line["calls"] += 1
        line["before"] += event.cost_usd or 0
        line["after"] += cost or 0
        line["unpriced"] += cost is None
        if cost != event.cost_usd:
            event.cost_usd, event.status = cost, ("priced" if cost is not None else "unpriced")
            changed.append(event)
            conversations.add(event.conversation_id)
    if not dry_run and changed:
        with transaction.atomic():
            AnalyticsEvent.objects.bulk_update(changed, ["cost_usd", "status"], batch_size=batch_size)
            _refresh_conversation_costs(conversations)
    return [
        RepriceLine(model, values["calls"], values["before"], values["after"], values["unpriced"])
        for model, values in sorted(lines.items())
    ]


def _refresh_conversation_costs(conversation_ids: set[int]) -> None:
    totals = (
        AnalyticsEvent.objects.filter(conversation_id__in=conversation_ids, event_type=EventType.LLM_USAGE)
        .values("conversation_id")
        .annotate(
            cost=Coalesce(Sum("cost_usd"), Decimal(0)),
            unpriced=ArrayAgg("model", filter=Q(status="unpriced"), distinct=True, default=[]),
        )
    )
    updates = [
        Conversation(id=row["conversation_id"], cost_usd=row["cost"], unpriced_models=sorted(row["unpriced"]))
        for row in totals
    ]
    Conversation.objects.bulk_update(updates, ["cost_usd", "unpriced_models"], batch_size=2000)
    refresh_rollups_of(conversation_ids)
