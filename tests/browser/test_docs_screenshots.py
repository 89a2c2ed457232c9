"""The README's screenshots, taken from demo-like data: run only when asked, since they rewrite files in docs/.

    SMART_SUPPORT_SCREENSHOTS=1 python -m pytest --no-cov tests/browser/test_docs_screenshots.py
"""

import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from analytics.models import ModelPrice
from smart_support.agent.scenarios import plan_conversation
from tests.browser.conftest import PROJECT_DIR

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.environ.get("SMART_SUPPORT_SCREENSHOTS") != "1", reason="set SMART_SUPPORT_SCREENSHOTS=1"),
]
SCREENSHOTS = PROJECT_DIR / "docs" / "screenshots"
CONVERSATIONS = 48
SHOWN = "refund_after_failed_lookup"  # a handoff, a failed tool call, an approval: most of what a replay shows
# the list prices the demo's migration seeds (a test before this one may have flushed them)
LIST_PRICES = {
    "gpt-4o": ("2.50", "1.25", "10.00"),
    "gpt-4o-mini": ("0.15", "0.075", "0.60"),
    "claude-haiku-4-5": ("1.00", "0.10", "5.00"),
}


@pytest.fixture
def demo_month(run_reference_agent):
    for model, (input_price, read_price, output_price) in LIST_PRICES.items():
        if not ModelPrice.objects.filter(model=model).exists():
            ModelPrice.objects.create(
                model=model, effective_from=datetime(2024, 1, 1, tzinfo=timezone.utc),
                input_usd_per_million=Decimal(input_price), cache_read_usd_per_million=Decimal(read_price),
                output_usd_per_million=Decimal(output_price),
            )
    now = datetime.now(timezone.utc)
    first = now - timedelta(days=29)
    spacing = (now - timedelta(hours=2) - first) / CONVERSATIONS
    plans = [plan_conversation(seed=2026, index=index, scenario=SHOWN if index == CONVERSATIONS - 3 else None)
             for index in range(CONVERSATIONS)]
    for index, plan in enumerate(plans):
        run_reference_agent(plan, first + spacing * index)
    call_command("backfill_events", verbosity=0)
    return plans[CONVERSATIONS - 3]


def shoot(page, name: str) -> None:
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size < 300_000, f"{name} is {path.stat().st_size:,} bytes"


def test_the_readme_screenshots(signed_in, demo_month):
    page = signed_in
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"/admin/replay/conversation/replay/{demo_month.thread_id}/")
    page.get_by_role("button", name="Expand all").click()
    page.locator("a.jump-error").click()
    page.locator("#content").evaluate("element => window.scrollTo(0, 0)")
    shoot(page, "replay-en.png")
    page.goto("/admin/analytics/dashboard/")
    expect(page.locator("#card-conversations .value")).to_have_text(str(CONVERSATIONS))
    shoot(page, "dashboard-en.png")

    page.click("#language-switch button[value=zh-hans]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shoot(page, "dashboard-zh.png")
    page.goto(f"/admin/replay/conversation/replay/{demo_month.thread_id}/")
    page.locator("[data-details=open]").click()
    shoot(page, "replay-zh.png")
