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
    # the widest rows a manager sees: four agents, six-digit token counts, a long first message
    for index, scenario in enumerate(("long_session", "refund_after_failed_lookup", "escalated_directly")):
        run_reference_agent(plan_conversation(seed=93, index=index, scenario=scenario), started + timedelta(minutes=index))
    call_command("backfill_events", verbosity=0)
    page = signed_in
    page.goto("/admin/replay/conversation/")
    page.get_by_role("button", name=language).click()

    # the table scrolls inside its own box, beside the filters: a column past the box's edge is out of view
    visible = page.locator("#changelist .results").bounding_box()
    assert visible["x"] + visible["width"] <= 1400
    for column in COLUMNS:
        box = page.locator(f"#result_list th.column-{column}").bounding_box()
        assert box["x"] >= visible["x"] and box["x"] + box["width"] <= visible["x"] + visible["width"], column
