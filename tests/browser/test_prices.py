"""A manager changes a model's price in admin: the message says which calls were repriced, and the replay,
the conversation list, the API and the dashboard all show the cost at the new price."""

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from analytics.models import AnalyticsEvent, EventType, ModelPrice
from replay.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)
STARTED_AT = datetime.now(timezone.utc) - timedelta(days=3)
SCENARIOS = ("refund_approved", "order_status", "password_failed", "invoice_question", "refund_after_failed_lookup")
# USD per million tokens: (input, cache read, output); two decimals at most, so every call's cost is exact
# at the 8 decimals costs are kept to, whatever its tokens
PRICES = {
    "gpt-4o": (Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.08"), Decimal("0.60")),
    "claude-haiku-4-5": (Decimal("1.00"), Decimal("0.10"), Decimal("5.00")),
}
NEW_MINI = (Decimal("3.00"), Decimal("0.50"), Decimal("12.00"))


@pytest.fixture
def priced_conversations(play):
    ModelPrice.objects.filter(model__in=PRICES).delete()
    for model, (input_price, read_price, output_price) in PRICES.items():
        ModelPrice.objects.create(
            model=model, effective_from=datetime(2020, 1, 1, tzinfo=timezone.utc), input_usd_per_million=input_price,
            cache_read_usd_per_million=read_price, output_usd_per_million=output_price,
        )
    return play(SCENARIOS, seed=96, started_at=STARTED_AT)


def hand_cost(event: AnalyticsEvent, prices: dict) -> Decimal:
    input_price, read_price, output_price = prices[event.model]
    uncached = event.input_tokens - event.cache_read_tokens - event.cache_write_tokens
    cost = (uncached + event.cache_write_tokens) * input_price + event.cache_read_tokens * read_price
    return (cost + event.output_tokens * output_price) / Decimal(1_000_000)


def usd(text: str) -> Decimal:
    return Decimal(text.strip().lstrip("$").replace(",", ""))


def test_a_repriced_model_costs_the_new_figure_everywhere_a_manager_looks(signed_in, priced_conversations):
    calls = list(AnalyticsEvent.objects.filter(event_type=EventType.LLM_USAGE))
    mini_calls = [call for call in calls if call.model == "gpt-4o-mini"]
    assert {call.model for call in calls} <= set(PRICES) and mini_calls
    new_prices = {**PRICES, "gpt-4o-mini": NEW_MINI}
    expected = {}
    for call in calls:
        expected.setdefault(call.conversation_id, Decimal(0))
        expected[call.conversation_id] += hand_cost(call, new_prices)
    old_total = sum(hand_cost(call, PRICES) for call in calls)
    new_total = sum(expected.values())
    assert new_total > old_total
    refund = Conversation.objects.get(thread_id=priced_conversations[0].thread_id)  # billing's gpt-4o-mini and more
    assert refund.cost_usd == sum(hand_cost(call, PRICES) for call in calls if call.conversation_id == refund.pk)

    page = signed_in
    with page.expect_navigation():
        page.get_by_role("link", name="Model prices").first.click()
    with page.expect_navigation():
        page.locator("#result_list a", has_text=re.compile(r"^gpt-4o-mini$")).click()
    page.locator("#id_input_usd_per_million").fill(str(NEW_MINI[0]))
    page.locator("#id_cache_read_usd_per_million").fill(str(NEW_MINI[1]))
    page.locator("#id_output_usd_per_million").fill(str(NEW_MINI[2]))
    with page.expect_navigation():
        page.locator("input[name=_save]").click()

    conversations_with_mini = len({call.conversation_id for call in mini_calls})
    expect(page.locator(".messagelist .success").filter(has_text="Repriced")).to_have_text(
        f"Repriced {len(mini_calls)} LLM calls in {conversations_with_mini} conversations; "
        f"total cost change {new_total - old_total:+,.6f} USD."
    )

    # the replay's header
    page.goto("/admin/replay/conversation/")
    row = page.locator("#result_list tr", has=page.locator(f'td.field-thread a[title="{refund.thread_id}"]'))
    assert row.locator("td.field-cost").inner_text() == f"${expected[refund.pk]:.4f}"  # the list's four decimals
    with page.expect_navigation():
        row.locator("td.field-replay a").click()
    shown = page.locator(".total-cost").inner_text()
    decimals = len(shown.split(".")[1])
    assert decimals >= 4 and usd(shown) == expected[refund.pk].quantize(Decimal(1).scaleb(-decimals))

    # the API, read with the page's session
    response = page.request.get(f"/api/conversations?search={refund.thread_id}")
    assert response.ok
    (listed,) = [item for item in response.json()["results"] if item["thread_id"] == refund.thread_id]
    assert Decimal(listed["cost_usd"]) == expected[refund.pk]

    # the dashboard's total over the last 30 days (all of these conversations)
    page.goto("/admin/analytics/dashboard/")
    total = page.locator("#card-total_cost .value").inner_text()
    assert usd(total) == new_total.quantize(Decimal("0.0001") if new_total < 1 else Decimal("0.01"))
