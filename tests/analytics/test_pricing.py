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


CALL_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
GPT_4O = ModelPricing(Decimal("2.50"), Decimal("10.00"), cache_read_usd_per_million=Decimal("1.25"))
GPT_4O_MINI = ModelPricing(Decimal("0.15"), Decimal("0.60"), cache_read_usd_per_million=Decimal("0.075"))
SONNET_4_5 = ModelPricing(Decimal("3.00"), Decimal("15.00"), Decimal("0.30"), Decimal("3.75"))
GEMINI_2_5_FLASH = ModelPricing(Decimal("0.30"), Decimal("2.50"), cache_read_usd_per_million=Decimal("0.03"))


def test_dated_names_and_provider_prefixes_find_the_seeded_price(db):
    lookup = load_price_lookup()

    assert {name: lookup(name, CALL_AT) for name in (
        "gpt-4o", "gpt-4o-2024-08-06", "openai/gpt-4o", "gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini",
        "claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4.5", "gemini-2.5-flash-001", "models/gemini-2.5-flash",
    )} == {
        "gpt-4o": GPT_4O, "gpt-4o-2024-08-06": GPT_4O, "openai/gpt-4o": GPT_4O,
        "gpt-4o-mini-2024-07-18": GPT_4O_MINI, "openai/gpt-4o-mini": GPT_4O_MINI,
        "claude-sonnet-4-5-20250929": SONNET_4_5, "anthropic/claude-sonnet-4.5": SONNET_4_5,
        "gemini-2.5-flash-001": GEMINI_2_5_FLASH, "models/gemini-2.5-flash": GEMINI_2_5_FLASH,
    }
    # the first gpt-4o snapshot kept its launch price: its exact name beats the gpt-4o pattern
    assert lookup("gpt-4o-2024-05-13", CALL_AT) == ModelPricing(Decimal("5.00"), Decimal("15.00"))


def test_a_pattern_never_prices_a_different_model(db):
    ModelPrice.objects.filter(model__in=["gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash-lite"]).delete()
    lookup = load_price_lookup()

    for other_model in ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "claude-sonnet-4-20250514", "claude-sonnet-4-0",
                        "gemini-2.5-flash-lite", "gpt-4o-audio-preview-2024-12-17", "gpt-5-mini-2025-08-07x"):
        assert lookup(other_model, CALL_AT) is None, other_model


def test_an_exact_name_beats_a_pattern_and_a_catch_all_comes_last(db):
    ModelPriceFactory(model="gpt-4o-2024-08-06", input_usd_per_million=Decimal("2"), output_usd_per_million=Decimal("8"))
    ModelPriceFactory(model="our-default-price", match_pattern=".*", input_usd_per_million=Decimal("9"),
                      output_usd_per_million=Decimal("9"))
    lookup = load_price_lookup()

    assert lookup("gpt-4o-2024-08-06", CALL_AT) == ModelPricing(Decimal("2"), Decimal("8"))
    assert lookup("gpt-4o-2024-11-20", CALL_AT) == GPT_4O
    assert lookup("mistral-large-2411", CALL_AT) == ModelPricing(Decimal("9"), Decimal("9"))


def test_among_patterns_the_longest_model_name_in_the_reported_name_wins(db):
    ModelPriceFactory(model="acme-chat", match_pattern=r"acme-chat.*", input_usd_per_million=Decimal("1"))
    ModelPriceFactory(model="acme-chat-pro", match_pattern=r"acme-chat-pro.*", input_usd_per_million=Decimal("5"))
    lookup = load_price_lookup()

    assert lookup("acme-chat-pro-v2", CALL_AT).input_usd_per_million == Decimal("5")
    assert lookup("acme-chat-v2", CALL_AT).input_usd_per_million == Decimal("1")


def test_a_dated_name_is_priced_at_the_price_in_force_at_the_call(db):
    lookup = load_price_lookup()

    assert lookup("o3-2025-04-16", datetime(2025, 4, 15, tzinfo=timezone.utc)) is None
    assert lookup("o3-2025-04-16", datetime(2025, 5, 1, tzinfo=timezone.utc)).output_usd_per_million == Decimal("40.00")
    assert lookup("o3-2025-04-16", datetime(2025, 7, 1, tzinfo=timezone.utc)).output_usd_per_million == Decimal("8.00")


def test_an_invalid_pattern_written_outside_admin_prices_its_exact_name_only(db, caplog):
    ModelPriceFactory(model="acme-chat", match_pattern="acme-chat(", input_usd_per_million=Decimal("1"))
    lookup = load_price_lookup()

    assert lookup("acme-chat", CALL_AT).input_usd_per_million == Decimal("1")
    assert lookup("acme-chat-v2", CALL_AT) is None
    assert "pattern 'acme-chat(' ignored" in caplog.text
