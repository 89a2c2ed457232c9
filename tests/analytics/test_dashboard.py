"""The managers' dashboard, its drill-down links, CSV export and prices, as a manager uses them."""

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

from analytics.models import ModelPrice
from replay.models import Conversation, TenantAccess
from smart_support.agent.scenarios import plan_conversation

DAY = datetime(2026, 11, 10, 8, tzinfo=timezone.utc)
SCENARIOS = ["order_status", "escalated_after_answer", "refund_rejected", "refund_approved", "password_failed",
             "multi_turn", "cancel_order", "smalltalk"]
DASHBOARD = "/admin/analytics/dashboard/"
RANGE = {"from": "2026-11-10", "to": "2026-11-10", "tz": "UTC"}


@pytest.fixture
def written(run_reference_agent):
    """Eight real conversations on 2026-11-10, derived by the backfill."""
    for index, scenario in enumerate(SCENARIOS):
        run_reference_agent(plan_conversation(seed=61, index=index, scenario=scenario), DAY + timedelta(hours=index))
    call_command("backfill_events", verbosity=0)
    return Conversation.objects.all()


def links(response) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]*/admin/replay/conversation/\?[^"]*)"', response.content.decode())]


def listed(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    return {conversation.thread_id for conversation in response.context["cl"].queryset}


def test_dashboard_shows_the_kpis_with_definitions(admin_client, written):
    response = admin_client.get(DASHBOARD, RANGE)

    page = response.content.decode()
    assert response.status_code == 200
    cards = {card.key: card for card in response.context["cards"]}
    resolved = written.filter(resolved=True).count()
    assert cards["conversations"].value == "8"
    assert cards["resolution_rate"].value == f"{resolved / 8 * 100:.1f} %"
    assert cards["escalation_rate"].value == f"{written.filter(escalated=True).count() / 8 * 100:.1f} %"
    assert "Share with at least one escalation to a human." in page
    assert "No conversations in this range" not in page
    assert [chart.title for chart in response.context["charts"]] == [
        "Conversations per day", "Resolution and escalation rate per day", "Cost per day",
        "Conversations per agent", "Approval outcomes",
    ]


def test_every_drill_down_lands_on_exactly_the_conversations_its_number_counts(admin_client, written):
    response = admin_client.get(DASHBOARD, RANGE)
    cards = {card.key: card.links[0].url for card in response.context["cards"]}
    everyone = set(written.values_list("thread_id", flat=True))

    assert listed(admin_client, cards["conversations"]) == everyone
    assert listed(admin_client, cards["resolution_rate"]) == set(written.filter(resolved=True).values_list("thread_id", flat=True))
    assert listed(admin_client, cards["escalation_rate"]) == set(written.filter(escalated=True).values_list("thread_id", flat=True))
    charts = {chart.title: chart for chart in response.context["charts"]}
    for bar in charts["Conversations per agent"].bars:
        expected = {c.thread_id for c in written if bar.label in c.agents_used}
        assert listed(admin_client, bar.url) == expected, bar.label
    (day_bar,) = charts["Conversations per day"].bars
    assert listed(admin_client, day_bar.url) == everyone and day_bar.value == "8 conversations"


def test_approval_links_list_the_approval_requests_of_each_outcome(admin_client, written):
    response = admin_client.get(DASHBOARD, RANGE)
    outcomes = {bar.label: bar for bar in {chart.title: chart for chart in response.context["charts"]}["Approval outcomes"].bars}

    for label, status in (("Approved", "approved"), ("Rejected", "rejected")):
        requests = list(admin_client.get(outcomes[label].url).context["cl"].queryset)
        assert {(event.event_type, event.status) for event in requests} == {("interrupt_raised", status)}
        assert {event.conversation.thread_id for event in requests} == {
            c.thread_id for c in written if getattr(c, f"interrupts_{status}")
        }


def test_an_empty_range_says_so(admin_client, db):
    response = admin_client.get(DASHBOARD, {"from": "2030-01-01", "to": "2030-01-07"})
    assert "No conversations in this range" in response.content.decode()
    assert response.context["charts"] == []


def test_bad_parameters_are_shown_and_the_default_range_used(admin_client, db):
    response = admin_client.get(DASHBOARD, {"tz": "Mars/Olympus"})
    assert response.status_code == 200
    assert "tz: must be an IANA time zone" in unescape(response.content.decode())


def test_unpriced_models_show_a_warning_with_a_link_to_price_them(admin_client, written):
    ModelPrice.objects.filter(model="claude-haiku-4-5").delete()
    call_command("reprice", verbosity=0)
    page = admin_client.get(DASHBOARD, RANGE).content.decode()
    assert "Tokens of claude-haiku-4-5 have no price" in page
    assert 'href="/admin/analytics/modelprice/add/?model=claude-haiku-4-5"' in page


def test_admin_index_links_to_the_dashboard(admin_client):
    assert f'href="{DASHBOARD}"' in admin_client.get("/admin/").content.decode()


def test_dashboard_needs_the_analytics_view_permission(client, db):
    user = User.objects.create_user("agent-lead", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_analyticsevent"))
    assert client.get(DASHBOARD).status_code == 200


def test_changelist_filters_by_start_day_approval_and_metadata(admin_client, written):
    tenant = written.first().metadata["tenant"]
    by_tenant = listed(admin_client, f"/admin/replay/conversation/?metadata_tenant={tenant}")
    assert by_tenant == {c.thread_id for c in written if c.metadata["tenant"] == tenant}
    assert listed(admin_client, "/admin/replay/conversation/?started_from=2026-11-11") == set()
    assert listed(admin_client, "/admin/replay/conversation/?approval=pending") == set()


def test_csv_export_from_the_admin_and_the_api(admin_client, written):
    escalated = sorted(written.filter(escalated=True).values_list("thread_id", flat=True))
    ids = list(written.filter(escalated=True).values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/replay/conversation/", {"action": "export_csv", "_selected_action": ids}
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response["Content-Type"] == "text/csv"
    assert sorted(row["thread_id"] for row in rows) == escalated
    assert all(row["escalated"] == "True" and Decimal(row["cost_usd"]) > 0 for row in rows)

    api = admin_client.get("/api/conversations", {"format": "csv", "escalated": "true"})
    api_rows = list(csv.DictReader(io.StringIO(b"".join(api.streaming_content).decode())))
    assert sorted(row["thread_id"] for row in api_rows) == escalated
    bad = admin_client.get("/api/conversations", {"format": "csv", "status": "happy"})
    assert bad.status_code == 400 and list(bad.json()) == ["status"]


def test_prices_are_validated_in_admin(admin_client, db):
    existing = ModelPrice.objects.get(model="gpt-4o-mini")
    form = {
        "model": "gpt-4o-mini", "input_usd_per_million": "0.10", "output_usd_per_million": "0.40",
        "effective_from_0": existing.effective_from.strftime("%Y-%m-%d"),
        "effective_from_1": existing.effective_from.strftime("%H:%M:%S"),
    }
    duplicate = admin_client.post("/admin/analytics/modelprice/add/", form)
    assert "This model already has a price from that moment" in duplicate.content.decode()
    negative = admin_client.post("/admin/analytics/modelprice/add/", {**form, "effective_from_0": "2026-01-01", "input_usd_per_million": "-1"})
    assert "Ensure this value is greater than or equal to 0." in negative.content.decode()
    assert ModelPrice.objects.filter(model="gpt-4o-mini").count() == 1


def test_reprice_action_shows_the_difference_per_model(admin_client, written):
    before = sum(written.values_list("cost_usd", flat=True))
    price = ModelPrice.objects.create(
        model="gpt-4o", input_usd_per_million=Decimal("25"), output_usd_per_million=Decimal("100"),
        effective_from=DAY - timedelta(days=1),
    )
    response = admin_client.post(
        "/admin/analytics/modelprice/", {"action": "reprice_selected_models", "_selected_action": [price.pk], "post": "yes"},
        follow=True,
    )
    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 2 and messages[0].startswith("Repriced gpt-4o: ")
    assert re.fullmatch(r"Repriced \d+ LLM calls in 8 conversations; total cost change \+\d+\.\d{6} USD\.", messages[1])
    assert sum(Conversation.objects.values_list("cost_usd", flat=True)) > before


def test_unfiltered_changelist_takes_the_row_estimate(admin_client, written, monkeypatch):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations")
    monkeypatch.setattr("replay.admin.ESTIMATE_ABOVE", 0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.core.paginator.Paginator.count", property(lambda self: pytest.fail("counted")))
        response = admin_client.get("/admin/replay/conversation/")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 8


def test_a_search_matching_very_many_conversations_takes_the_planner_estimate_and_a_narrow_one_is_counted(
    admin_client, written, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from replay.queries import search_conversations

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations")
    term = "order"
    matching = search_conversations(Conversation.objects.all(), term).count()
    assert 0 < matching < Conversation.objects.count()

    with CaptureQueriesContext(connection) as queries:
        exact = admin_client.get("/admin/replay/conversation/", {"q": term})
    assert exact.context["cl"].result_count == matching
    assert any("COUNT(" in query["sql"] for query in queries.captured_queries)

    monkeypatch.setattr("replay.admin.ESTIMATE_FILTERED_ABOVE", 0)  # as if the planner expected many more
    with CaptureQueriesContext(connection) as queries:
        estimated = admin_client.get("/admin/replay/conversation/", {"q": term})
    assert estimated.status_code == 200
    assert not any("COUNT(" in query["sql"] for query in queries.captured_queries)  # nothing counted
    estimate = json.loads(
        search_conversations(Conversation.objects.all(), term).values("pk").explain(format="json")
    )[0]["Plan"]["Plan Rows"]
    assert estimated.context["cl"].result_count == estimate

    # the planner's odds of a search and a filter together, or within one tenant, are no count: counted
    filtered = admin_client.get("/admin/replay/conversation/", {"q": term, "escalated__exact": "0"})
    assert filtered.context["cl"].result_count == search_conversations(
        Conversation.objects.filter(escalated=False), term
    ).count()
    tenant = Conversation.objects.exclude(tenant="").values_list("tenant", flat=True).first()
    reader = User.objects.create_user("one-tenant-lead", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    TenantAccess.objects.create(user=reader, tenant=tenant)
    client = Client()
    client.force_login(reader)
    scoped = client.get("/admin/replay/conversation/", {"q": term})
    assert scoped.context["cl"].result_count == search_conversations(
        Conversation.objects.filter(tenant=tenant), term
    ).count()


def test_approval_filter_tells_pending_from_expired_by_the_clock(admin_client, run_reference_agent):
    waiting_long = plan_conversation(seed=61, index=0, scenario="refund_pending")
    waiting_now = plan_conversation(seed=61, index=1, scenario="refund_pending")
    run_reference_agent(waiting_long, datetime.now(timezone.utc) - timedelta(days=3))
    run_reference_agent(waiting_now, datetime.now(timezone.utc) - timedelta(hours=1))
    call_command("backfill_events", verbosity=0)

    assert listed(admin_client, "/admin/replay/conversation/?approval=expired") == {waiting_long.thread_id}
    assert listed(admin_client, "/admin/replay/conversation/?approval=pending") == {waiting_now.thread_id}


def test_dashboard_says_when_the_sync_last_ran(admin_client, run_reference_agent):
    assert "Not synced yet: run manage.py backfill_events" in admin_client.get(DASHBOARD, RANGE).content.decode()
    run_reference_agent(plan_conversation(seed=61, index=0, scenario="order_status"), DAY)
    synced = DAY + timedelta(hours=2)
    with time_machine.travel(synced, tick=False):
        call_command("backfill_events", verbosity=0)

    with time_machine.travel(synced + timedelta(seconds=12), tick=False):
        fresh = admin_client.get(DASHBOARD, RANGE).content.decode()
    with time_machine.travel(synced + timedelta(minutes=10), tick=False):
        stale = admin_client.get(DASHBOARD, RANGE).content.decode()

    assert '<p class="last-synced" title="2026-11-10T10:00:00+00:00">Last synced 12 s ago.</p>' in fresh
    assert "Last synced 10 min ago: newer conversations are not counted until backfill_events runs" in stale
