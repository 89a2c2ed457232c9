"""A price saved, changed or deleted in admin reprices the stored calls at once, so the replay (priced at
read time), the conversation list, the API and the dashboard never disagree; the reprice action asks first."""

from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command

from analytics.models import ModelPrice
from replay.models import Conversation
from tests.analytics.test_provider_costs import AT, MILLION, run_openai_cached_prompt

RANGE = {"from": "2026-11-10", "to": "2026-11-10", "tz": "UTC"}
# gpt-4o-2024-08-06 is priced by the seeded gpt-4o pattern; the recorded call read 1,920 of its 2,306 input tokens
# from the cache and wrote 142 output tokens
SEEDED_COST = ((2306 - 1920) * Decimal("2.50") + 1920 * Decimal("1.25") + 142 * Decimal("10.00")) / MILLION


def price_form(price: ModelPrice, **changes: str) -> dict[str, str]:
    form = {
        "model": price.model, "match_pattern": price.match_pattern,
        "effective_from_0": price.effective_from.strftime("%Y-%m-%d"),
        "effective_from_1": price.effective_from.strftime("%H:%M:%S"),
        "input_usd_per_million": str(price.input_usd_per_million),
        "cache_read_usd_per_million": str(price.cache_read_usd_per_million or ""),
        "cache_write_usd_per_million": str(price.cache_write_usd_per_million or ""),
        "output_usd_per_million": str(price.output_usd_per_million),
    }
    return {**form, **changes}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def costs_everywhere(api, admin_client) -> dict[str, Decimal]:
    replay = api.get("/api/replay/openai-cached").json()
    listed = api.get("/api/conversations", {"search": "openai-cached"}).json()["results"]
    analytics = api.get("/api/analytics", RANGE).json()
    dashboard = admin_client.get("/admin/analytics/dashboard/", RANGE)
    return {
        "replay steps": sum(Decimal(step["cost_usd"]) for step in replay["steps"] if step["cost_usd"]),
        "replay": Decimal(replay["conversation"]["cost_usd"]),
        "list": Decimal(listed[0]["cost_usd"]),
        "analytics": Decimal(analytics["total_cost"]),
        "analytics by model": Decimal(analytics["by_model"][0]["cost_usd"]),
        "dashboard": dashboard.context["result"].total_cost,
    }


def test_changing_a_price_in_admin_reprices_replay_list_api_and_dashboard_at_once(checkpointer, api, admin_client):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    price = ModelPrice.objects.get(model="gpt-4o", effective_from__year=2024, effective_from__month=10)
    assert set(costs_everywhere(api, admin_client).values()) == {SEEDED_COST}

    response = admin_client.post(
        f"/admin/analytics/modelprice/{price.pk}/change/",
        price_form(price, input_usd_per_million="5.00", cache_read_usd_per_million="2.50", output_usd_per_million="20.00"),
        follow=True,
    )

    new_cost = ((2306 - 1920) * Decimal("5.00") + 1920 * Decimal("2.50") + 142 * Decimal("20.00")) / MILLION
    assert new_cost == Decimal("0.00957")
    assert "Repriced 1 LLM call in 1 conversation; total cost change +0.004785 USD." in messages_of(response)
    assert costs_everywhere(api, admin_client) == dict.fromkeys(costs_everywhere(api, admin_client), new_cost)
    savings = api.get("/api/analytics", RANGE).json()["totals"]["cache_savings_usd"]
    assert Decimal(savings) == 1920 * (Decimal("5.00") - Decimal("2.50")) / MILLION


def test_a_price_added_after_the_calls_reprices_nothing_and_says_so(checkpointer, admin_client):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    later = ModelPrice(
        model="gpt-4o", match_pattern=r"gpt-4o(?:-\d{4}-\d{2}-\d{2})?", input_usd_per_million=Decimal("9"),
        output_usd_per_million=Decimal("90"), effective_from=AT + timedelta(days=1),
    )

    response = admin_client.post("/admin/analytics/modelprice/add/", price_form(later), follow=True)

    assert "Repriced 0 LLM calls in 0 conversations; total cost change +0.000000 USD." in messages_of(response)
    assert Conversation.objects.get(thread_id="openai-cached").cost_usd == SEEDED_COST


def test_deleting_a_price_reprices_its_calls_at_the_price_before_it(checkpointer, api, admin_client):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    price = ModelPrice.objects.get(model="gpt-4o", effective_from__year=2024, effective_from__month=10)

    response = admin_client.post(f"/admin/analytics/modelprice/{price.pk}/delete/", {"post": "yes"}, follow=True)

    # the launch price, $5 input and $15 output with no cache price: cached tokens cost as input
    launch_cost = (2306 * Decimal("5.00") + 142 * Decimal("15.00")) / MILLION
    assert "Repriced 1 LLM call in 1 conversation; total cost change +0.008875 USD." in messages_of(response)
    assert set(costs_everywhere(api, admin_client).values()) == {launch_cost}


def test_the_reprice_action_shows_the_counts_and_changes_nothing_until_confirmed(checkpointer, admin_client):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    price = ModelPrice.objects.create(  # written outside admin, so nothing repriced it yet
        model="gpt-4o", match_pattern=r"(?:openai/)?gpt-4o(?:-\d{4}-\d{2}-\d{2})?", input_usd_per_million=Decimal("5"),
        cache_read_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("20"), effective_from=AT - timedelta(days=1),
    )
    action = {"action": "reprice_selected_models", "_selected_action": [price.pk]}

    confirmation = admin_client.post("/admin/analytics/modelprice/", action)

    page = confirmation.content.decode()
    assert confirmation.status_code == 200
    assert "would change the cost of 1 stored LLM call in 1 conversation" in page
    assert "the total cost would change by 0.004785 USD" in page
    assert '<input type="hidden" name="post" value="yes">' in page
    assert Conversation.objects.get(thread_id="openai-cached").cost_usd == SEEDED_COST

    done = admin_client.post("/admin/analytics/modelprice/", {**action, "post": "yes"}, follow=True)

    assert messages_of(done) == [
        "Repriced gpt-4o-2024-08-06: 1 call, $0.004785 → $0.009570 (+0.004785)",
        "Repriced 1 LLM call in 1 conversation; total cost change +0.004785 USD.",
    ]
    assert Conversation.objects.get(thread_id="openai-cached").cost_usd == Decimal("0.00957000")


def test_a_price_change_of_more_calls_than_a_request_reprices_is_left_to_the_sync_and_shown_as_repricing(
    checkpointer, api, admin_client, monkeypatch, capsys
):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    monkeypatch.setattr("analytics.pricing.REPRICE_IN_REQUEST_UP_TO", 0)
    price = ModelPrice.objects.get(model="gpt-4o", effective_from__year=2024, effective_from__month=10)

    response = admin_client.post(
        f"/admin/analytics/modelprice/{price.pk}/change/",
        price_form(price, input_usd_per_million="5.00", cache_read_usd_per_million="2.50", output_usd_per_million="20.00"),
        follow=True,
    )

    assert "1 LLM call is being repriced in the background by backfill_events --follow" in messages_of(response)[0]
    dashboard = admin_client.get("/admin/analytics/dashboard/", RANGE).content.decode()
    assert "Repricing… 1 LLM call is being costed at new prices" in dashboard
    assert Conversation.objects.get(thread_id="openai-cached").cost_usd == SEEDED_COST

    call_command("backfill_events")  # what the sync worker does on its next pass

    assert "REPRICE gpt-4o from 2024-10-02 saved: 1 calls in 1 conversations, +0.004785 USD" in capsys.readouterr().out
    assert set(costs_everywhere(api, admin_client).values()) == {Decimal("0.00957")}
    assert "Repricing…" not in admin_client.get("/admin/analytics/dashboard/", RANGE).content.decode()


def test_the_confirmed_reprice_action_of_many_calls_is_left_to_the_sync(checkpointer, admin_client, monkeypatch):
    run_openai_cached_prompt(checkpointer)
    call_command("backfill_events", verbosity=0)
    monkeypatch.setattr("analytics.pricing.REPRICE_IN_REQUEST_UP_TO", 0)
    price = ModelPrice.objects.get(model="gpt-4o", effective_from__year=2024, effective_from__month=10)
    ModelPrice.objects.filter(pk=price.pk).update(input_usd_per_million=Decimal("5.00"))  # around admin: not repriced

    done = admin_client.post(
        "/admin/analytics/modelprice/",
        {"action": "reprice_selected_models", "_selected_action": [price.pk], "post": "yes"}, follow=True,
    )

    assert messages_of(done) == [
        "1 LLM call is being repriced in the background by backfill_events --follow; until it is done the "
        "dashboard says “Repricing…” and the conversation list keeps the old costs."
    ]
    assert Conversation.objects.get(thread_id="openai-cached").cost_usd == SEEDED_COST
    call_command("backfill_events", verbosity=0)
    assert Conversation.objects.get(thread_id="openai-cached").cost_usd == SEEDED_COST + 386 * Decimal("2.50") / MILLION
