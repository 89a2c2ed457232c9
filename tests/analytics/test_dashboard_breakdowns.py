"""The dashboard's breakdown tables, and where their rows lead, over real conversations of the reference agent."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from analytics.dashboard import money
from analytics.models import AnalyticsEvent
from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation

DAY = datetime(2026, 11, 10, 8, tzinfo=timezone.utc)
SCENARIOS = ["order_status", "escalated_after_answer", "refund_approved", "password_failed", "multi_turn"]
DASHBOARD = "/admin/analytics/dashboard/"
RANGE = {"from": "2026-11-10", "to": "2026-11-10", "tz": "UTC"}


@pytest.fixture
def written(run_reference_agent):
    for index, scenario in enumerate(SCENARIOS):
        run_reference_agent(plan_conversation(seed=62, index=index, scenario=scenario), DAY + timedelta(hours=index))
    call_command("backfill_events", verbosity=0)
    return Conversation.objects.all()


def test_dashboard_shows_the_three_breakdown_tables(admin_client, written):
    response = admin_client.get(DASHBOARD, RANGE)
    page = response.content.decode()
    result = response.context["result"]

    tables = {table.title: table for table in response.context["breakdown_tables"]}
    assert list(tables) == ["Cost and tokens by model", "Cost and tokens by agent", "Latency by agent (p50 / p95)"]
    for title in tables:
        assert f"<h2>{title}</h2>" in page
    by_model = tables["Cost and tokens by model"]
    assert [row.name for row in by_model.rows] == [row.name for row in result.by_model]
    assert [row.cells[6].text for row in by_model.rows] == [money(row.cost_usd) for row in result.by_model]
    latency = tables["Latency by agent (p50 / p95)"]
    assert [row.cells[0].text for row in latency.rows] == [f"{row.llm_p50_ms:,} ms" for row in result.latency]


def test_an_agent_rows_calls_list_its_llm_calls(admin_client, written):
    tables = {table.title: table for table in admin_client.get(DASHBOARD, RANGE).context["breakdown_tables"]}

    for row in tables["Cost and tokens by agent"].rows:
        calls = list(admin_client.get(row.cells[0].url).context["cl"].queryset)
        assert len(calls) == int(row.cells[0].text.replace(",", "")), row.name
        assert {(call.event_type, call.agent) for call in calls} == {("llm_usage", row.name)}, row.name


def test_a_model_row_lists_its_llm_calls(admin_client, written):
    response = admin_client.get(DASHBOARD, RANGE)
    tables = {table.title: table for table in response.context["breakdown_tables"]}

    for row, breakdown in zip(tables["Cost and tokens by model"].rows, response.context["result"].by_model, strict=True):
        listed = admin_client.get(row.cells[0].url)
        assert listed.status_code == 200 and "?e=1" not in listed.get("Location", ""), row.cells[0].url
        calls = list(listed.context["cl"].queryset)
        assert len(calls) == breakdown.calls and {call.model for call in calls} == {breakdown.name}
        assert set(calls) == set(AnalyticsEvent.objects.filter(event_type="llm_usage", model=breakdown.name))
    assert re.search(r'href="/admin/analytics/analyticsevent/\?event_type__exact=llm_usage&amp;model__exact=', response.content.decode())
