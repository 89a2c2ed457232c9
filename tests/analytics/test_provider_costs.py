"""What real providers' calls cost: cached input at its own price, reasoning inside the output.

Each conversation is a real LangGraph graph checkpointed by PostgresSaver, its model answering with
recorded OpenAI and Anthropic responses converted by their own LangChain packages; the backfill and
the replay then price them with the seeded list prices."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.core.management import call_command

from analytics.models import AnalyticsEvent, EventType, ModelPrice
from replay.models import Conversation
from replay.money import format_usd
from tests.apps.provider_app import anthropic_result, openai_result, run_recorded_conversation
from tests.factories import ModelPriceFactory

AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
MILLION = 1_000_000
STEP_USAGE = ("model", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
              "cost_usd", "cache_savings_usd")


def usage_steps(api, thread_id: str) -> list[dict]:
    """The replay's steps that carry an LLM call's usage, as the API shows them."""
    steps = api.get(f"/api/replay/{thread_id}").json()["steps"]
    return [{name: step[name] for name in STEP_USAGE} for step in steps if step["input_tokens"] is not None]


def eight_places(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.00000001')):.8f}"


def run_openai_cached_prompt(checkpointer) -> None:
    run_recorded_conversation(
        checkpointer=checkpointer, thread_id="openai-cached", question="Where is my order ORD-10423?",
        results=[openai_result("openai_gpt-4o_cached_prompt.json")], started_at=AT,
    )


def run_anthropic_cache_write_then_read(checkpointer) -> None:
    run_recorded_conversation(
        checkpointer=checkpointer, thread_id="anthropic-cached", question="Where is my order ORD-10423?",
        results=[
            anthropic_result("anthropic_claude-sonnet-4-5_cache_write.json"),
            anthropic_result("anthropic_claude-sonnet-4-5_cache_read.json"),
        ],
        started_at=AT,
    )


def test_openai_cached_prompt_tokens_cost_the_cache_read_price(checkpointer, api):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)

    # gpt-4o-2024-08-06 is priced by the seeded gpt-4o pattern: $2.50 input, $1.25 cached input, $10 output
    cost = ((2306 - 1920) * Decimal("2.50") + 1920 * Decimal("1.25") + 142 * Decimal("10.00")) / MILLION
    savings = (1920 * Decimal("2.50") - 1920 * Decimal("1.25")) / MILLION
    assert (cost, savings) == (Decimal("0.004785"), Decimal("0.0024"))
    assert usage_steps(api, "openai-cached") == [{
        "model": "gpt-4o-2024-08-06", "input_tokens": 2306, "cache_read_tokens": 1920, "cache_write_tokens": 0,
        "output_tokens": 142, "reasoning_tokens": 0, "cost_usd": eight_places(cost), "cache_savings_usd": eight_places(savings),
    }]
    conversation = Conversation.objects.get(thread_id="openai-cached")
    assert (conversation.cost_usd, conversation.unpriced_models) == (Decimal("0.00478500"), [])


def test_openai_reasoning_tokens_are_shown_and_costed_as_output(checkpointer, api):
    run_recorded_conversation(
        checkpointer=checkpointer, thread_id="openai-reasoning", question="Can I get a refund for ORD-10423?",
        results=[openai_result("openai_o4-mini_reasoning.json")], started_at=AT,
    )
    call_command("backfill_events", verbosity=0)

    # o4-mini: $1.10 input, $4.40 output; the 1,216 reasoning tokens are part of the 1,466 output tokens
    cost = (1187 * Decimal("1.10") + 1466 * Decimal("4.40")) / MILLION
    assert cost == Decimal("0.0077561")
    assert usage_steps(api, "openai-reasoning") == [{
        "model": "o4-mini-2025-04-16", "input_tokens": 1187, "cache_read_tokens": 0, "cache_write_tokens": 0,
        "output_tokens": 1466, "reasoning_tokens": 1216, "cost_usd": eight_places(cost), "cache_savings_usd": "0.00000000",
    }]
    assert Conversation.objects.get(thread_id="openai-reasoning").cost_usd == Decimal("0.00775610")
    event = AnalyticsEvent.objects.get(conversation__thread_id="openai-reasoning", event_type=EventType.LLM_USAGE)
    assert (event.output_tokens, event.reasoning_tokens) == (1466, 1216)


def test_anthropic_cache_write_costs_more_and_the_next_read_saves(checkpointer, api):
    run_anthropic_cache_write_then_read(checkpointer)
    call_command("backfill_events", verbosity=0)

    # claude-sonnet-4-5: $3 input, $3.75 cache write, $0.30 cache read, $15 output.
    # LangChain's input_tokens = Anthropic's input_tokens + cache writes + cache reads.
    first_cost = (412 * Decimal("3.00") + 3187 * Decimal("3.75") + 87 * Decimal("15.00")) / MILLION
    first_savings = (3187 * Decimal("3.00") - 3187 * Decimal("3.75")) / MILLION
    second_cost = (563 * Decimal("3.00") + 3187 * Decimal("0.30") + 64 * Decimal("15.00")) / MILLION
    second_savings = (3187 * Decimal("3.00") - 3187 * Decimal("0.30")) / MILLION
    assert (first_cost, first_savings) == (Decimal("0.01449225"), Decimal("-0.00239025"))
    assert (second_cost, second_savings) == (Decimal("0.0036051"), Decimal("0.0086049"))
    assert usage_steps(api, "anthropic-cached") == [
        {
            "model": "claude-sonnet-4-5-20250929", "input_tokens": 412 + 3187, "cache_read_tokens": 0,
            "cache_write_tokens": 3187, "output_tokens": 87, "reasoning_tokens": 0,
            "cost_usd": eight_places(first_cost), "cache_savings_usd": eight_places(first_savings),
        },
        {
            "model": "claude-sonnet-4-5-20250929", "input_tokens": 563 + 3187, "cache_read_tokens": 3187,
            "cache_write_tokens": 0, "output_tokens": 64, "reasoning_tokens": 0,
            "cost_usd": eight_places(second_cost), "cache_savings_usd": eight_places(second_savings),
        },
    ]
    assert Conversation.objects.get(thread_id="anthropic-cached").cost_usd == Decimal("0.01809735")
    events = AnalyticsEvent.objects.filter(conversation__thread_id="anthropic-cached", event_type=EventType.LLM_USAGE)
    assert sorted(events.values_list("cost_usd", "cache_savings_usd")) == [
        (Decimal("0.00360510"), Decimal("0.00860490")), (Decimal("0.01449225"), Decimal("-0.00239025")),
    ]


def test_a_model_with_no_price_stays_flagged_with_a_link_to_price_it(checkpointer, admin_client):
    ModelPrice.objects.filter(model="claude-sonnet-4-5").delete()
    run_anthropic_cache_write_then_read(checkpointer)
    call_command("backfill_events", verbosity=0)

    conversation = Conversation.objects.get(thread_id="anthropic-cached")
    assert (conversation.cost_usd, conversation.unpriced_models) == (Decimal(0), ["claude-sonnet-4-5-20250929"])
    events = AnalyticsEvent.objects.filter(conversation=conversation, event_type=EventType.LLM_USAGE)
    assert set(events.values_list("status", "cost_usd", "cache_savings_usd")) == {("unpriced", None, None)}
    page = admin_client.get("/admin/analytics/dashboard/", {"from": "2026-11-10", "to": "2026-11-10", "tz": "UTC"})
    assert 'href="/admin/analytics/modelprice/add/?model=claude-sonnet-4-5-20250929"' in page.content.decode()


def test_reprice_after_adding_a_cache_read_price_lowers_the_cost_and_shows_the_savings(checkpointer, capsys):
    price = ModelPriceFactory(model="gpt-4o", match_pattern=r"gpt-4o(?:-\d{4}-\d{2}-\d{2})?",
                              input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"),
                              effective_from=AT - timedelta(days=30))
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    event = AnalyticsEvent.objects.get(conversation__thread_id="openai-cached", event_type=EventType.LLM_USAGE)
    before = (2306 * Decimal("2.50") + 142 * Decimal("10.00")) / MILLION
    assert (event.cost_usd, event.cache_savings_usd) == (before, Decimal(0))

    price.cache_read_usd_per_million = Decimal("1.25")
    price.save()
    call_command("reprice")

    after = ((2306 - 1920) * Decimal("2.50") + 1920 * Decimal("1.25") + 142 * Decimal("10.00")) / MILLION
    event.refresh_from_db()
    assert (event.cost_usd, event.cache_savings_usd) == (after, 1920 * (Decimal("2.50") - Decimal("1.25")) / MILLION)
    conversation = Conversation.objects.get(thread_id="openai-cached")
    assert (conversation.cost_usd, conversation.cache_savings_usd) == (after, Decimal("0.0024"))
    assert after == Decimal("0.004785")
    out = capsys.readouterr().out
    assert f"{'gpt-4o-2024-08-06':<28} {1:>8} {before:>14.6f} {after:>14.6f} {after - before:>+14.6f} 0" in out


def test_the_reprice_action_on_a_price_reprices_the_dated_names_it_matches(checkpointer, admin_client):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    price = ModelPrice.objects.create(
        model="gpt-4o", match_pattern=r"(?:openai/)?gpt-4o(?:-\d{4}-\d{2}-\d{2})?", input_usd_per_million=Decimal("5"),
        cache_read_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("20"), effective_from=AT - timedelta(days=1),
    )

    response = admin_client.post(
        "/admin/analytics/modelprice/", {"action": "reprice_selected_models", "_selected_action": [price.pk], "post": "yes"},
        follow=True,
    )

    assert [str(message) for message in response.context["messages"]] == [
        "Repriced gpt-4o-2024-08-06: 1 call, $0.004785 → $0.009570 (+0.004785)",
        "Repriced 1 LLM call in 1 conversation; total cost change +0.004785 USD.",
    ]
    assert Conversation.objects.get(thread_id="openai-cached").cost_usd == Decimal("0.00957000")


def test_a_cached_dated_model_costs_the_same_in_replay_list_api_and_dashboard(checkpointer, api, admin_client):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    cost = ((2306 - 1920) * Decimal("2.50") + 1920 * Decimal("1.25") + 142 * Decimal("10.00")) / MILLION
    savings = 1920 * (Decimal("2.50") - Decimal("1.25")) / MILLION

    replay = api.get("/api/replay/openai-cached").json()
    listed = api.get("/api/conversations", {"search": "openai-cached"}).json()["results"]
    analytics = api.get("/api/analytics", {"from": "2026-11-10", "to": "2026-11-10", "tz": "UTC"}).json()
    changelist = admin_client.get("/admin/replay/conversation/", {"q": "openai-cached"}).content.decode()
    dashboard = admin_client.get("/admin/analytics/dashboard/", {"from": "2026-11-10", "to": "2026-11-10", "tz": "UTC"})

    assert sum(Decimal(step["cost_usd"]) for step in replay["steps"] if step["cost_usd"]) == cost
    assert [Decimal(replay["conversation"]["cost_usd"]), Decimal(listed[0]["cost_usd"])] == [cost, cost]
    assert (listed[0]["cache_read_tokens"], Decimal(listed[0]["cache_savings_usd"])) == (1920, savings)
    assert (Decimal(analytics["total_cost"]), Decimal(analytics["totals"]["cache_savings_usd"])) == (cost, savings)
    assert analytics["tokens"]["cache_read"] == 1920
    assert [(row["model"], Decimal(row["cost_usd"])) for row in analytics["by_model"]] == [("gpt-4o-2024-08-06", cost)]
    assert format_usd(cost) == "$0.0048" and f"<td class=\"field-cost\">{format_usd(cost)}</td>" in changelist
    assert dashboard.context["result"].total_cost == cost
    assert "$0.0048" in dashboard.content.decode() and "$0.0024" in dashboard.content.decode()
