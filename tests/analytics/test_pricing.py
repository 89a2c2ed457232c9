"""Cost = tokens × the price in force when the call happened."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.core.management import call_command

from analytics.models import ModelPrice
from analytics.pricing import load_price_lookup
from replay.models import Conversation
from replay.timeline import ModelPricing
from smart_support.agent.scenarios import plan_conversation
from tests.factories import ModelPriceFactory

CHANGE = datetime(2026, 11, 10, 12, tzinfo=timezone.utc)


def test_lookup_takes_the_price_in_force_at_the_time(db):
    ModelPriceFactory(model="m", input_usd_per_million=Decimal("2"), output_usd_per_million=Decimal("8"),
                      effective_from=CHANGE - timedelta(days=30))
    ModelPriceFactory(model="m", input_usd_per_million=Decimal("1"), output_usd_per_million=Decimal("4"), effective_from=CHANGE)
    lookup = load_price_lookup()

    assert lookup("m", CHANGE - timedelta(seconds=1)) == ModelPricing(Decimal("2"), Decimal("8"))
    assert lookup("m", CHANGE) == ModelPricing(Decimal("1"), Decimal("4"))
    assert lookup("m", CHANGE - timedelta(days=31)) is None
    assert lookup("unknown-model", CHANGE) is None


def test_a_price_change_inside_the_range_costs_each_call_at_its_own_price(run_reference_agent):
    ModelPrice.objects.filter(model="gpt-4o").delete()
    ModelPriceFactory(model="gpt-4o", input_usd_per_million=Decimal("5"), output_usd_per_million=Decimal("15"),
                      effective_from=CHANGE - timedelta(days=365))
    ModelPriceFactory(model="gpt-4o", input_usd_per_million=Decimal("2.5"), output_usd_per_million=Decimal("10"),
                      effective_from=CHANGE)
    before = plan_conversation(seed=51, index=0, scenario="smalltalk")  # one gpt-4o reply, nothing else
    after = plan_conversation(seed=51, index=1, scenario="smalltalk")
    run_reference_agent(before, CHANGE - timedelta(hours=1))
    run_reference_agent(after, CHANGE + timedelta(hours=1))

    call_command("backfill_events", verbosity=0)

    for plan, (input_price, output_price) in ((before, (5, 15)), (after, (Decimal("2.5"), 10))):
        conversation = Conversation.objects.get(thread_id=plan.thread_id)
        expected = (conversation.input_tokens * Decimal(input_price) + conversation.output_tokens * Decimal(output_price)) / 1_000_000
        assert conversation.cost_usd == expected.quantize(Decimal("0.00000001"))
        assert conversation.input_tokens > 0


def test_reprice_after_a_price_change_prints_the_difference_and_updates_totals(run_reference_agent, capsys):
    plan = plan_conversation(seed=52, index=0, scenario="smalltalk")
    run_reference_agent(plan, CHANGE)
    call_command("backfill_events", verbosity=0)
    conversation = Conversation.objects.get(thread_id=plan.thread_id)
    old_cost = conversation.cost_usd
    ModelPriceFactory(model="gpt-4o", input_usd_per_million=Decimal("25"), output_usd_per_million=Decimal("100"),
                      effective_from=CHANGE - timedelta(days=1))

    call_command("reprice", "--dry-run")
    assert Conversation.objects.get(pk=conversation.pk).cost_usd == old_cost
    call_command("reprice")

    new_cost = Conversation.objects.get(pk=conversation.pk).cost_usd
    assert new_cost == (old_cost * 10).quantize(Decimal("0.00000001"))  # the new price is ten times the seeded one
    out = capsys.readouterr().out
    assert f"{old_cost:>14.6f} {new_cost:>14.6f} {new_cost - old_cost:>+14.6f}" in out
    assert "DONE reprice (dry run, nothing changed)" in out
