"""Effective-dated model prices: the price of a model's tokens at the moment a call happened."""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import datetime

from analytics.models import ModelPrice
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

    return lookup
