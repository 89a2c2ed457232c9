"""Seed the list prices (USD per million tokens) of common OpenAI, Anthropic and Google models, with
their cache prices and a pattern that also finds their dated names and provider prefixes.

Prices as the providers list them (standard tier; Anthropic's cache write is the 5-minute one;
Gemini's the prompt tier up to 200k tokens), each from the day the model or price came out:
- OpenAI: https://platform.openai.com/docs/pricing (cache writes cost the input price)
- Anthropic: https://docs.claude.com/en/docs/about-claude/pricing
- Google: https://ai.google.dev/gemini-api/docs/pricing (cache writes cost the input price; storage
  per hour is not a token price and is left out)

Each pattern is a full match: ``gpt-4o`` matches ``gpt-4o-2024-08-06`` and ``openai/gpt-4o`` but not
``gpt-4o-mini``; ``claude-sonnet-4-5`` matches ``claude-sonnet-4-5-20250929`` but not
``claude-sonnet-4-20250514``. Rows seeded before (same model and start) keep their prices and gain
the pattern and cache prices; a row someone already gave a pattern or cache price keeps it.
"""

import re
from datetime import datetime, timezone
from decimal import Decimal

from django.db import migrations

OPENAI = r"(?:openai/)?{name}(?:-\d{{4}}-\d{{2}}-\d{{2}}{more})?"
ANTHROPIC = r"(?:anthropic/)?{name}(?:[-@]\d{{8}}{more})?"
GOOGLE = r"(?:models/|google/)?{name}(?:-\d{{3}}|-latest)?"


def openai(name: str, *, more: str = "") -> str:
    """``name``, optionally after ``openai/`` and before a date such as ``-2024-08-06``."""
    return OPENAI.format(name=name.replace(".", r"\."), more=more)


def anthropic(name: str, *, more: str = "-latest") -> str:
    """``name``, optionally after ``anthropic/`` and before a date such as ``-20250929`` (``@`` on Vertex);
    a version may be written with a dot (``claude-sonnet-4.5``, as OpenRouter does)."""
    return ANTHROPIC.format(name=re.sub(r"(?<=\d)-(?=\d)", "[-.]", name), more=f"|{more}")


def google(name: str) -> str:
    """``name``, optionally after ``models/`` or ``google/`` and before a version such as ``-001``."""
    return GOOGLE.format(name=name.replace(".", r"\."))


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


SEED_PRICES = [
    # model, pattern, input, cache read, cache write, output, effective from
    ("gpt-4o", openai("gpt-4o"), "5.00", None, None, "15.00", utc(2024, 5, 13)),
    ("gpt-4o", openai("gpt-4o"), "2.50", "1.25", None, "10.00", utc(2024, 10, 2)),
    # the first gpt-4o kept its launch price when the name gpt-4o moved on: an exact name beats the pattern
    ("gpt-4o-2024-05-13", "", "5.00", None, None, "15.00", utc(2024, 5, 13)),
    ("gpt-4o-mini", openai("gpt-4o-mini"), "0.15", "0.075", None, "0.60", utc(2024, 7, 18)),
    ("gpt-4.1", openai("gpt-4.1"), "2.00", "0.50", None, "8.00", utc(2025, 4, 14)),
    ("gpt-4.1-mini", openai("gpt-4.1-mini"), "0.40", "0.10", None, "1.60", utc(2025, 4, 14)),
    ("gpt-4.1-nano", openai("gpt-4.1-nano"), "0.10", "0.025", None, "0.40", utc(2025, 4, 14)),
    ("o1", openai("o1"), "15.00", "7.50", None, "60.00", utc(2024, 12, 17)),
    ("o3-mini", openai("o3-mini"), "1.10", "0.55", None, "4.40", utc(2025, 1, 31)),
    ("o3", openai("o3"), "10.00", "2.50", None, "40.00", utc(2025, 4, 16)),
    ("o3", openai("o3"), "2.00", "0.50", None, "8.00", utc(2025, 6, 10)),
    ("o4-mini", openai("o4-mini"), "1.10", "0.275", None, "4.40", utc(2025, 4, 16)),
    ("gpt-5", openai("gpt-5", more="|-chat-latest"), "1.25", "0.125", None, "10.00", utc(2025, 8, 7)),
    ("gpt-5-mini", openai("gpt-5-mini"), "0.25", "0.025", None, "2.00", utc(2025, 8, 7)),
    ("gpt-5-nano", openai("gpt-5-nano"), "0.05", "0.005", None, "0.40", utc(2025, 8, 7)),
    ("gpt-5.1", openai("gpt-5.1", more="|-chat-latest"), "1.25", "0.125", None, "10.00", utc(2025, 11, 13)),
    ("claude-opus-4-5", anthropic("claude-opus-4-5"), "5.00", "0.50", "6.25", "25.00", utc(2025, 11, 24)),
    ("claude-opus-4-1", anthropic("claude-opus-4-1"), "15.00", "1.50", "18.75", "75.00", utc(2025, 8, 5)),
    ("claude-opus-4", anthropic("claude-opus-4", more="-0"), "15.00", "1.50", "18.75", "75.00", utc(2025, 5, 22)),
    ("claude-sonnet-4-5", anthropic("claude-sonnet-4-5"), "3.00", "0.30", "3.75", "15.00", utc(2025, 9, 29)),
    ("claude-sonnet-4", anthropic("claude-sonnet-4", more="-0"), "3.00", "0.30", "3.75", "15.00", utc(2025, 5, 22)),
    ("claude-3-7-sonnet", anthropic("claude-3-7-sonnet"), "3.00", "0.30", "3.75", "15.00", utc(2025, 2, 24)),
    ("claude-3-5-sonnet", anthropic("claude-3-5-sonnet"), "3.00", "0.30", "3.75", "15.00", utc(2024, 6, 20)),
    ("claude-haiku-4-5", anthropic("claude-haiku-4-5"), "1.00", "0.10", "1.25", "5.00", utc(2025, 10, 15)),
    ("claude-3-5-haiku", anthropic("claude-3-5-haiku"), "0.80", "0.08", "1.00", "4.00", utc(2024, 11, 4)),
    ("claude-3-haiku", anthropic("claude-3-haiku"), "0.25", "0.03", "0.30", "1.25", utc(2024, 3, 13)),
    ("gemini-2.5-pro", google("gemini-2.5-pro"), "1.25", "0.125", None, "10.00", utc(2025, 6, 17)),
    ("gemini-2.5-flash", google("gemini-2.5-flash"), "0.30", "0.03", None, "2.50", utc(2025, 6, 17)),
    ("gemini-2.5-flash-lite", google("gemini-2.5-flash-lite"), "0.10", "0.01", None, "0.40", utc(2025, 7, 22)),
    ("gemini-2.0-flash", google("gemini-2.0-flash"), "0.10", "0.025", None, "0.40", utc(2025, 2, 5)),
    ("gemini-2.0-flash-lite", google("gemini-2.0-flash-lite"), "0.075", None, None, "0.30", utc(2025, 2, 25)),
]


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def seed_prices(apps, schema_editor):
    ModelPrice = apps.get_model("analytics", "ModelPrice")
    for model, pattern, input_price, read_price, write_price, output_price, effective_from in SEED_PRICES:
        price, created = ModelPrice.objects.get_or_create(
            model=model,
            effective_from=effective_from,
            defaults={
                "match_pattern": pattern,
                "input_usd_per_million": Decimal(input_price),
                "cache_read_usd_per_million": _decimal(read_price),
                "cache_write_usd_per_million": _decimal(write_price),
                "output_usd_per_million": Decimal(output_price),
            },
        )
        if created:
            continue
        price.match_pattern = price.match_pattern or pattern
        if price.cache_read_usd_per_million is None:
            price.cache_read_usd_per_million = _decimal(read_price)
        if price.cache_write_usd_per_million is None:
            price.cache_write_usd_per_million = _decimal(write_price)
        price.save(update_fields=["match_pattern", "cache_read_usd_per_million", "cache_write_usd_per_million"])


# what 0002 seeded: unseeding leaves those rows to 0002
EARLIER_SEEDS = {
    ("gpt-4o", utc(2024, 5, 13)), ("gpt-4o", utc(2024, 10, 2)), ("gpt-4o-mini", utc(2024, 7, 18)),
    ("claude-sonnet-4-5", utc(2025, 9, 29)), ("claude-haiku-4-5", utc(2025, 10, 15)),
}


def unseed_prices(apps, schema_editor):
    ModelPrice = apps.get_model("analytics", "ModelPrice")
    for model, *_prices, effective_from in SEED_PRICES:
        if (model, effective_from) not in EARLIER_SEEDS:
            ModelPrice.objects.filter(model=model, effective_from=effective_from).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0008_model_price_patterns_and_cache_prices")]
    operations = [migrations.RunPython(seed_prices, unseed_prices)]
