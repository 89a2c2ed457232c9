"""How long repricing takes when a model's price changes: the seeded gpt-4o price, which the supervisor's
call in every one of the benchmark's conversations is priced at, raised and then put back (each one
transaction, as the sync worker runs a queued price change).

Usage: .venv/bin/python bench/reprice.py   (after bench/dataset.py and a backfill of its database)
"""

from __future__ import annotations

import os
import time

os.environ["DATABASE_NAME"] = "smart_support_bench"
os.environ.setdefault("DATABASE_POOL", "0")

from common import setup_django  # noqa: E402


def main() -> None:
    setup_django()
    from django.db import transaction

    from analytics.models import ModelPrice
    from analytics.pricing import price_change_scope
    from replay.models import Conversation

    price = ModelPrice.objects.filter(model="gpt-4o").order_by("-effective_from").first()
    original = price.input_usd_per_million
    print(f"{Conversation.objects.count():,} conversations", flush=True)
    print("| change | calls repriced | conversations | seconds | cost change |", flush=True)
    for label, new_input in (("raise gpt-4o's input price", original * 2), ("put it back", original)):
        before = ModelPrice.objects.get(pk=price.pk)
        started = time.perf_counter()
        with transaction.atomic():
            price.input_usd_per_million = new_input
            price.save()
            result = price_change_scope(before=before, after=price).reprice()
        seconds = time.perf_counter() - started
        print(
            f"| {label} | {result.changed_calls:,} | {result.changed_conversations:,} | {seconds:.1f} | "
            f"{result.difference_usd:+,.2f} USD |", flush=True,
        )


if __name__ == "__main__":
    main()
