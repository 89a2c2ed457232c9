"""Personal data a masked reader cannot see cannot be tested either: not through the admin's URL lookups,
the API's metadata filter, numbers stored as JSON numbers, or a configured pattern anchored to a whole value.
And the odd inputs of the new pages answer, never a 500."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from analytics.storage import rebuild_rollups
from replay.models import SavedView
from replay.redaction import MASK
from replay.saved_views import InvalidViewName, save_view
from replay.search_terms import document_terms
from tests.factories import AnalyticsEventFactory, ConversationFactory

LIST = "/admin/replay/conversation/"


def _client(*, name: str, unmasked: bool) -> Client:
    user = User.objects.create_user(name, is_staff=True)
    codenames = ["view_conversation", "view_analyticsevent", "view_all_tenants"] + (["view_unredacted"] if unmasked else [])
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ada(db):
    conversation = ConversationFactory(
        thread_id="ada-by-mail", metadata={"tenant": "acme-eu", "customer_id": "ada@example.com", "card": 4111111111111111},
        first_message="Hi, I am ada@example.com",
    )
    AnalyticsEventFactory(conversation=conversation, payload={"args": {"email": "ada@example.com"}})
    rebuild_rollups()
    return conversation


def listed(client: Client, url: str) -> set[str]:
    response = client.get(url)
    if response.status_code != 200 or "cl" not in (response.context or {}):
        return set()
    return {str(row) for row in response.context["cl"].result_list}


@pytest.mark.parametrize(
    "lookup",
    ["search_document=ada@example.com", "metadata__customer_id=ada@example.com", "metadata__customer_id__startswith=ada@",
     "first_message__icontains=ada@"],
)
def test_a_masked_reader_cannot_filter_the_list_by_personal_data(ada, lookup):
    masked, unmasked = _client(name="masked", unmasked=False), _client(name="auditor", unmasked=True)

    assert listed(masked, f"{LIST}?{lookup}") == set()
    if not lookup.startswith("search_document"):
        assert listed(unmasked, f"{LIST}?{lookup}") == {"ada-by-mail"}


def test_a_masked_reader_cannot_test_event_payloads_by_their_text(ada):
    masked = _client(name="masked", unmasked=False)
    assert listed(masked, "/admin/analytics/analyticsevent/?payload__icontains=ada@") == set()


def test_a_masked_reader_finds_nobody_by_personal_data_in_the_apis_metadata_filter(ada):
    masked, unmasked = _client(name="masked", unmasked=False), _client(name="auditor", unmasked=True)
    query = {"metadata.customer_id": "ada@example.com"}

    assert masked.get("/api/conversations", query).json()["results"] == []
    assert [row["thread_id"] for row in unmasked.get("/api/conversations", query).json()["results"]] == ["ada-by-mail"]


def test_a_card_number_stored_as_a_json_number_is_masked(ada):
    masked = _client(name="masked", unmasked=False)

    rows = masked.get("/api/conversations").json()["results"]

    assert rows[0]["metadata"]["card"] == "[card]"
    assert MASK.conversation(ada).metadata["card"] == "[card]"


def test_a_pattern_anchored_to_a_whole_value_masks_it_in_the_search_terms_too(settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "REDACT_PATTERNS": [r"^\d{3}-\d{2}-\d{4}$"]}

    terms = document_terms(texts=["my number"], values=[{"ssn": "123-45-6789"}])

    assert "123-45-6789" in terms.terms
    assert not {"123-45-6789", "45-6789", "6789", "123"} & set(terms.masked_terms)


def test_one_managers_time_zone_never_reaches_the_next_request(admin_client, client, db):
    ConversationFactory(thread_id="zoned", started_at=datetime(2026, 11, 18, 23, 30, tzinfo=timezone.utc))
    admin_client.get("/admin/analytics/dashboard/", {"tz": "Asia/Tokyo"})
    other = User.objects.create_superuser("other")
    client.force_login(other)

    page = client.get(LIST).content.decode()

    assert "Started (UTC)" in page and "2026-11-18 23:30" in page


@pytest.mark.parametrize("customer", ["9" * 5000, "007"])
def test_odd_customer_ids_answer_without_a_server_error(admin_client, customer):
    ConversationFactory(thread_id="number-seven", metadata={"customer_id": 7})

    assert admin_client.get(f"/api/customers/{customer}").status_code == 404
    assert admin_client.get(f"{LIST}customer/{customer}/").status_code == 404


@pytest.mark.parametrize("query", ["started_to=9999-12-31", "started_from=0001-01-01&tz=Asia/Tokyo"])
def test_the_first_and_last_days_of_the_calendar_are_a_list_not_a_server_error(admin_client, db, query):
    ConversationFactory(thread_id="any-day")

    assert listed(admin_client, f"{LIST}?{query}") == {"any-day"}
    assert admin_client.get(f"{LIST}replay/any-day/", {"_changelist_filters": query}).status_code in {200, 404}


def test_a_saved_view_name_with_a_nul_is_refused(admin_client, db):
    answer = admin_client.post(f"{LIST}saved-views/", {"name": "a\x00b", "query": "q=a\x00b"}, follow=True)

    assert answer.status_code == 200 and "Give the view a name" in answer.content.decode()
    with pytest.raises(InvalidViewName):
        save_view(user=User.objects.get(username="admin"), name="a\x00b", query="")
    assert not SavedView.objects.exists()
