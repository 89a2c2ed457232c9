"""A manager saves the filtered list under a name and opens it again from the list's toolbar."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from smart_support.agent.scenarios import plan_conversation
from tests.browser.conftest import result_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_manager_saves_a_filtered_list_and_opens_it_again(signed_in, run_reference_agent):
    started = datetime.now(timezone.utc) - timedelta(days=1)
    for index, scenario in enumerate(("escalated_directly", "order_status", "invoice_question")):
        run_reference_agent(plan_conversation(seed=94, index=index, scenario=scenario), started + timedelta(minutes=index))
    call_command("backfill_events", verbosity=0)
    page = signed_in
    page.goto("/admin/replay/conversation/?escalated__exact=1")
    escalated = result_rows(page).count()

    page.get_by_label("Name of the saved view").fill("Escalations")
    page.get_by_role("button", name="Save view").click()
    page.goto("/admin/replay/conversation/")
    assert result_rows(page).count() == 3
    page.get_by_role("link", name="Escalations").click()

    page.wait_for_url(re.compile(r".*escalated__exact=1.*"))
    assert result_rows(page).count() == escalated == 1
