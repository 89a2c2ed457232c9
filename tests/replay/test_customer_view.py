"""One customer's conversations in the admin: exactly theirs, their totals, only the reader's tenants."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from replay.models import Conversation, TenantAccess
from smart_support.agent.scenarios import plan_conversation
from tests.factories import ConversationFactory

DAY = datetime(2026, 11, 12, 8, tzinfo=timezone.utc)
CUSTOMER_URL = "/admin/replay/conversation/customer/{}/"
# (thread, scenario, tenant, customer): cus_ada has two conversations at acme and one at globex
CONVERSATIONS = [
    ("ada-acme-1", "escalated_directly", "acme-eu", "cus_ada"),
    ("ada-acme-2", "refund_approved", "acme-eu", "cus_ada"),
    ("ada-globex-1", "order_status", "globex-us", "cus_ada"),
    ("bob-acme-1", "order_status", "acme-eu", "cus_bob"),
]


@pytest.fixture
def customers(run_reference_agent):
    for index, (thread_id, scenario, tenant, customer) in enumerate(CONVERSATIONS):
        plan = plan_conversation(seed=41, index=index, scenario=scenario)
        metadata = {"tenant": tenant, "channel": "web", "customer_id": customer}
        run_reference_agent(dataclasses.replace(plan, thread_id=thread_id, metadata=metadata), DAY + timedelta(hours=index))
    call_command("backfill_events", verbosity=0)


def _acme_viewer() -> Client:
    user = User.objects.create_user("acme-viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    TenantAccess.objects.create(user=user, tenant="acme-eu")
    client = Client()
    client.force_login(user)
    return client


def _listed_threads(page: str) -> list[str]:
    return re.findall(r'<tr class="conversation">\s*<td><a href="[^"]*" title="([^"]+)"', page)


def _total(page: str, name: str) -> str:
    (value,) = re.findall(rf'<strong class="{name}">([^<]+)</strong>', page)
    return value


def test_customer_page_lists_exactly_their_conversations_with_their_totals(admin_client, customers):
    response = admin_client.get(CUSTOMER_URL.format("cus_ada"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Customer cus_ada</h1>" in page
    assert sorted(_listed_threads(page)) == ["ada-acme-1", "ada-acme-2", "ada-globex-1"]
    theirs = Conversation.objects.filter(thread_id__startswith="ada-")
    sums = theirs.aggregate(input=Sum("input_tokens"), output=Sum("output_tokens"), cost=Sum("cost_usd"))
    assert _total(page, "conversations") == "3"
    assert _total(page, "resolved") == str(theirs.filter(resolved=True).count())
    assert _total(page, "escalated") == str(theirs.filter(escalated=True).count()) == "1"
    assert _total(page, "tokens") == str(sums["input"] + sums["output"])
    assert _total(page, "cost") == f"${sums['cost'].quantize(Decimal('0.0001'))}"


def test_customer_page_shows_a_tenant_viewer_only_their_tenants_conversations(customers):
    page = _acme_viewer().get(CUSTOMER_URL.format("cus_ada")).content.decode()

    assert sorted(_listed_threads(page)) == ["ada-acme-1", "ada-acme-2"]
    assert _total(page, "conversations") == "2"


def test_customer_of_another_tenant_only_is_not_found(customers):
    Conversation.objects.filter(thread_id="bob-acme-1").update(tenant="globex-us")
    assert _acme_viewer().get(CUSTOMER_URL.format("cus_bob")).status_code == 404


def test_unknown_customer_is_not_found(admin_client, customers):
    assert admin_client.get(CUSTOMER_URL.format("cus_nobody")).status_code == 404


def test_customer_page_is_linked_from_the_list_and_the_replay(admin_client, customers):
    link = 'href="/admin/replay/conversation/customer/cus_bob/"'
    assert link in admin_client.get("/admin/replay/conversation/").content.decode()
    assert link in admin_client.get("/admin/replay/conversation/replay/bob-acme-1/").content.decode()
    assert 'href="/admin/replay/conversation/replay/bob-acme-1/"' in admin_client.get(CUSTOMER_URL.format("cus_bob")).content.decode()


def test_customer_page_needs_the_view_permission(client, customers):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(CUSTOMER_URL.format("cus_ada")).status_code in {403, 404}


def test_a_customer_id_that_is_personal_data_is_masked_and_not_linked_for_readers_without_view_unredacted(
    run_reference_agent, admin_client
):
    plan = plan_conversation(seed=41, index=9, scenario="order_status")
    metadata = {"tenant": "acme-eu", "channel": "web", "customer_id": "ada@example.com"}
    run_reference_agent(dataclasses.replace(plan, thread_id="ada-by-mail", metadata=metadata), DAY)
    call_command("backfill_events", verbosity=0)
    viewer = _acme_viewer()
    link = "/admin/replay/conversation/customer/ada@example.com/"

    listed = viewer.get("/admin/replay/conversation/").content.decode()
    replay = viewer.get("/admin/replay/conversation/replay/ada-by-mail/").content.decode()
    assert "ada@example.com" not in listed and '<td class="field-customer">[email]</td>' in listed
    assert "ada@example.com" not in replay and '<strong class="customer">[email]</strong>' in replay
    assert viewer.get(link).status_code == 404
    assert f'href="{link}"' in admin_client.get("/admin/replay/conversation/").content.decode()
    assert admin_client.get(link).status_code == 200


# -- GET /api/customers/<id> ---------------------------------------------------------------------------

def _api(*codenames: str):
    from rest_framework.test import APIClient

    from access.tokens import issue_api_token

    user = User.objects.create_user("analyst", password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", *codenames]))
    if "view_all_tenants" not in codenames:
        TenantAccess.objects.create(user=user, tenant="acme-eu")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=user).key}")
    return client


def test_customer_api_gives_their_conversations_and_totals(customers):
    body = _api("view_all_tenants", "view_unredacted").get("/api/customers/cus_ada").json()

    theirs = Conversation.objects.filter(thread_id__startswith="ada-")
    sums = theirs.aggregate(input=Sum("input_tokens"), output=Sum("output_tokens"), cost=Sum("cost_usd"))
    assert body["customer_id"] == "cus_ada"
    assert body["totals"] == {
        "conversations": 3,
        "resolved": theirs.filter(resolved=True).count(),
        "escalated": 1,
        "input_tokens": sums["input"],
        "output_tokens": sums["output"],
        "tokens": sums["input"] + sums["output"],
        "cost_usd": f"{sums['cost']:.8f}",
    }
    newest_first = list(theirs.order_by("-last_activity_at").values_list("thread_id", flat=True))
    assert [row["thread_id"] for row in body["results"]] == newest_first
    assert body["next"] is None


def test_customer_api_is_scoped_to_the_readers_tenants(customers):
    api = _api()
    body = api.get("/api/customers/cus_ada").json()
    assert sorted(row["thread_id"] for row in body["results"]) == ["ada-acme-1", "ada-acme-2"]
    assert body["totals"]["conversations"] == 2
    Conversation.objects.filter(thread_id="bob-acme-1").update(tenant="globex-us")
    assert api.get("/api/customers/cus_bob").status_code == 404


def test_customer_api_pages_with_a_cursor_and_refuses_a_bad_page_size(customers):
    api = _api("view_all_tenants")
    first = api.get("/api/customers/cus_ada", {"page_size": 2}).json()
    second = api.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert first["totals"] == second["totals"]
    response = api.get("/api/customers/cus_ada", {"page_size": "0"})
    assert response.status_code == 400 and list(response.json()) == ["page_size"]
    assert api.get("/api/customers/cus_ada", {"ordering": "nonsense"}).status_code == 200


@pytest.mark.parametrize("stored", [-5, 7.5, True, 81527])
def test_a_customer_id_stored_as_a_json_number_or_boolean_opens_from_its_link(admin_client, db, stored):
    ConversationFactory(thread_id=f"customer-{stored}", metadata={"customer_id": stored})
    ConversationFactory(thread_id="someone-else", metadata={"customer_id": "cus_1"})

    listed = admin_client.get("/admin/replay/conversation/").content.decode()
    link = re.search(rf'href="(/admin/replay/conversation/customer/[^"]+/)"[^>]*>{re.escape(json.dumps(stored))}<', listed)
    page = admin_client.get(link.group(1))

    assert page.status_code == 200
    assert [row["conversation"].thread_id for row in page.context["rows"]] == [f"customer-{stored}"]
