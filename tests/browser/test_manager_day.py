"""A support manager's day in a real browser: sign in, narrow the conversation list, open a replay."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation

pytestmark = pytest.mark.django_db(transaction=True)
STARTED_AT = datetime.now(timezone.utc) - timedelta(days=2)
SCENARIOS = ("order_status", "escalated_directly", "refund_approved", "password_failed", "invoice_question")


@pytest.fixture
def conversations(run_reference_agent):
    plans = [plan_conversation(seed=91, index=index, scenario=name) for index, name in enumerate(SCENARIOS)]
    for offset, plan in enumerate(plans):
        run_reference_agent(plan, STARTED_AT + timedelta(minutes=10 * offset))
    call_command("backfill_events", verbosity=0)
    return {plan.scenario: plan for plan in plans}


def result_count(page) -> int:
    """The number of rows the changelist shows."""
    return page.locator("#result_list tbody tr").count()


def test_a_manager_signs_in_filters_escalated_conversations_and_opens_a_replay(signed_in, conversations):
    page = signed_in
    page.goto("/admin/replay/conversation/")
    assert result_count(page) == len(SCENARIOS)

    page.goto("/admin/replay/conversation/?escalated__exact=1")
    escalated = Conversation.objects.filter(escalated=True)
    assert result_count(page) == escalated.count() >= 1

    page.locator("#result_list a", has_text=re.compile("Replay", re.I)).first.click()
    page.wait_for_load_state()
    assert page.get_by_text("escalated to a human").is_visible()
    assert page.get_by_text("Escalated", exact=True).is_visible()  # the status in the header
