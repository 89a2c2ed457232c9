"""Seed list prices (USD per million tokens) of the models the reference agent reports."""

from datetime import datetime, timezone
from decimal import Decimal

from django.db import migrations

SEED_PRICES = [
    # model, input, output, effective from
    ("gpt-4o", "5.00", "15.00", datetime(2024, 5, 13, tzinfo=timezone.utc)),
    ("gpt-4o", "2.50", "10.00", datetime(2024, 10, 2, tzinfo=timezone.utc)),
    ("gpt-4o-mini", "0.15", "0.60", datetime(2024, 7, 18, tzinfo=timezone.utc)),
    ("claude-sonnet-4-5", "3.00", "15.00", datetime(2025, 9, 29, tzinfo=timezone.utc)),
    ("claude-haiku-4-5", "1.00", "5.00", datetime(2025, 10, 15, tzinfo=timezone.utc)),
]


def seed_prices(apps, schema_editor):
    ModelPrice = apps.get_model("analytics", "ModelPrice")
    for model, input_price, output_price, effective_from in SEED_PRICES:
        ModelPrice.objects.get_or_create(
            model=model,
            effective_from=effective_from,
            defaults={
                "input_usd_per_million": Decimal(input_price),
                "output_usd_per_million": Decimal(output_price),
            },
        )


def unseed_prices(apps, schema_editor):
    ModelPrice = apps.get_model("analytics", "ModelPrice")
    for model, _input, _output, effective_from in SEED_PRICES:
        ModelPrice.objects.filter(model=model, effective_from=effective_from).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]
    operations = [migrations.RunPython(seed_prices, unseed_prices)]
