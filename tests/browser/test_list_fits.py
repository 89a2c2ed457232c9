"""The conversation list on a 1400 px laptop screen: every column in view, none scrolled off."""

from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from smart_support.agent.scenarios import plan_conversation

pytestmark = pytest.mark.django_db(transaction=True)
COLUMNS = ("thread", "started", "customer", "first_message", "agents", "steps", "tokens", "cost", "escalated", "resolved", "replay")


@pytest.mark.parametrize("language", ["English", "中文"])
def test_every_column_of_the_list_is_on_a_1400_px_screen(signed_in, run_reference_agent, language):
    started = datetime.now(timezone.utc) - timedelta(days=1)
    for index, scenario in enumerate(("multi_turn", "refund_after_failed_lookup", "escalated_directly")):
        run_reference_agent(plan_conversation(seed=93, index=index, scenario=scenario), started + timedelta(minutes=index))
    call_command("backfill_events", verbosity=0)
    page = signed_in
    page.goto("/admin/replay/conversation/")
    page.get_by_role("button", name=language).click()

    page.wait_for_selector("#result_list")
    for column in COLUMNS:
        box = page.locator(f"#result_list th.column-{column}").bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 1400, column
