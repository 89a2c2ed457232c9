"""The replay and conversation endpoints as API consumers call them."""

from base64 import b64encode
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from access.tokens import issue_api_token
from replay.models import ConversationStatus
from smart_support.agent.scenarios import plan_conversation
from tests.factories import ConversationFactory

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def api(db) -> APIClient:
    user = User.objects.create_user("analyst", password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "view_all_tenants", "view_unredacted"]))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=user).key}")
    return client


def thread_ids(response) -> list[str]:
    return [row["thread_id"] for row in response.json()["results"]]


# -- authentication and permissions ---------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/conversations", "/api/replay/any-thread"])
def test_anonymous_requests_get_401(db, url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_users_without_the_view_permission_get_403(db):
    client = APIClient()
    client.force_authenticate(User.objects.create_user("intern"))
    assert client.get("/api/conversations").status_code == 403


def test_session_login_works_for_admin_users(admin_client):
    assert admin_client.get("/api/conversations").status_code == 200


# -- conversation list ----------------------------------------------------------------------------

def test_list_is_cursor_paginated_newest_activity_first(api):
    rows = [ConversationFactory(last_activity_at=STARTED_AT + timedelta(minutes=n)) for n in range(5)]

    first = api.get("/api/conversations", {"page_size": 2})
    second = api.get(first.json()["next"])

    assert thread_ids(first) == [rows[4].thread_id, rows[3].thread_id]
    assert thread_ids(second) == [rows[2].thread_id, rows[1].thread_id]
    assert first.json()["previous"] is None and second.json()["previous"]
    result = first.json()["results"][0]
    assert result["replay_url"] == f"http://testserver/api/replay/{rows[4].thread_id}"
    assert result["cost_usd"] == "0.00120000"
    assert result["agents_used"] == ["supervisor", "orders"]


def test_ties_at_a_page_boundary_are_neither_lost_nor_repeated(api):
    same_time = STARTED_AT
    rows = [ConversationFactory(last_activity_at=same_time) for _ in range(5)]

    seen, url = [], "/api/conversations?page_size=2"
    while url:
        body = api.get(url).json()
        seen += [row["thread_id"] for row in body["results"]]
        url = body["next"]

    assert sorted(seen) == sorted(row.thread_id for row in rows)
    assert len(seen) == 5


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "escalated"}, ["escalated-1"]),
        ({"agent": "billing"}, ["billing-1"]),
        ({"escalated": "true"}, ["escalated-1"]),
        ({"resolved": "false"}, ["escalated-1"]),
        ({"has_interrupt": "true"}, ["billing-1"]),
        ({"search": "refund"}, ["billing-1"]),
        ({"search": "escalated-"}, ["escalated-1"]),
        ({"metadata.tenant": "globex"}, ["billing-1"]),
        ({"metadata.tenant": "globex", "metadata.channel": "email"}, []),
        ({"started_after": "2026-11-05T00:00:00Z"}, ["billing-1"]),
        ({"started_before": "2026-11-05T00:00:00Z"}, ["escalated-1", "orders-1"]),
    ],
)
def test_each_filter_selects_its_conversations(api, params, expected):
    ConversationFactory(thread_id="orders-1", started_at=datetime(2026, 11, 1, tzinfo=timezone.utc))
    ConversationFactory(
        thread_id="escalated-1", status=ConversationStatus.ESCALATED, escalated=True, resolved=False,
        started_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
    )
    ConversationFactory(
        thread_id="billing-1", agents_used=["supervisor", "billing"], interrupt_count=1,
        first_message="I want a REFUND", metadata={"tenant": "globex", "channel": "web"},
        started_at=datetime(2026, 11, 8, tzinfo=timezone.utc),
    )

    response = api.get("/api/conversations", {**params, "ordering": "started_at"})

    assert response.status_code == 200
    assert sorted(thread_ids(response)) == sorted(expected)


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [("cost_usd", ["cheap", "dear"]), ("-cost_usd", ["dear", "cheap"]), ("-step_count", ["cheap", "dear"])],
)
def test_orderings(api, ordering, expected):
    ConversationFactory(thread_id="cheap", cost_usd=Decimal("0.01"), step_count=30)
    ConversationFactory(thread_id="dear", cost_usd=Decimal("1.50"), step_count=3)
    assert thread_ids(api.get("/api/conversations", {"ordering": ordering})) == expected


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"status": "happy"}, "status"),
        ({"ordering": "thread_id"}, "ordering"),
        ({"started_after": "yesterday"}, "started_after"),
        ({"escalated": "maybe"}, "escalated"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"format": "xml"}, "format"),
        ({"search": "ref\x00und"}, "search"),
    ],
)
def test_bad_parameters_get_400_naming_them(api, params, parameter):
    response = api.get("/api/conversations", params)
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


def _cursor(querystring: str) -> str:
    return b64encode(querystring.encode()).decode()


@pytest.mark.parametrize(
    ("params", "parameter", "says"),
    [
        ({"ordering": "cost_usd,-step_count"}, "ordering", "one key, not a list"),
        ({"ordering": ","}, "ordering", "last_activity_at, started_at, cost_usd, step_count"),
        ({"ordering": "--cost_usd"}, "ordering", "optionally with a leading '-'"),
        ({"started_before": "2026-11-01T00:00:00+16:00"}, "started_before", "within ±15:59"),
        ({"started_after": "2026-11-01T00:00:00-16:00"}, "started_after", "within ±15:59"),
        ({"started_after": "2026-11-01T00:00:00+23:59"}, "started_after", "within ±15:59"),
        ({"started_after": "٢٠٢٦-١١-٠١"}, "started_after", "ASCII digits"),
        ({"escalated": "100%s"}, "escalated", "must be true or false; got '100%s'"),
        ({"page_size": "²"}, "page_size", "ASCII digits"),
        ({"page_size": "٣"}, "page_size", "ASCII digits"),
        ({"page_size": "3 "}, "page_size", "from 1 to 200"),
        ({"cursor": _cursor("p=notadate")}, "cursor", "follow the next/previous links"),
        ({"cursor": _cursor("p=2026-11-01T00:00:00+20:00")}, "cursor", "follow the next/previous links"),
        ({"cursor": _cursor("o=٣&p=2026-11-01T00:00:00Z")}, "cursor", "follow the next/previous links"),
        ({"cursor": _cursor("r=2")}, "cursor", "follow the next/previous links"),
        ({"cursor": "!!!"}, "cursor", "follow the next/previous links"),
        ({"cursor": _cursor("p=NaN"), "ordering": "cost_usd"}, "cursor", "follow the next/previous links"),
        ({"cursor": _cursor("p=1e999999"), "ordering": "cost_usd"}, "cursor", "follow the next/previous links"),
        ({"cursor": _cursor("p=99999999999999999999"), "ordering": "step_count"}, "cursor", "follow the next/previous links"),
    ],
)
def test_input_that_used_to_give_500s_is_a_400_saying_what_is_accepted(api, params, parameter, says):
    ConversationFactory()
    for export in ({}, {"format": "csv"}):  # the export has no pages, yet refuses malformed paging parameters
        response = api.get("/api/conversations", {**params, **export})
        assert response.status_code == 400, export
        assert list(response.json()) == [parameter]
        assert says in response.json()[parameter][0]


def test_offsets_up_to_15_59_and_empty_ordering_are_accepted(api):
    ConversationFactory(thread_id="early", started_at=datetime(2026, 11, 1, 0, tzinfo=timezone.utc))
    late_evening_in_kiribati = "2026-11-01T15:59:00+15:59"  # 2026-11-01 00:00 UTC

    response = api.get("/api/conversations", {"started_before": late_evening_in_kiribati, "ordering": ""})
    assert response.status_code == 200 and thread_ids(response) == []
    response = api.get("/api/conversations", {"started_after": late_evening_in_kiribati, "ordering": ""})
    assert thread_ids(response) == ["early"]


def test_cursor_pages_follow_every_ordering_key(api):
    rows = [ConversationFactory(step_count=n % 3, cost_usd=Decimal(n)) for n in range(7)]
    for ordering in ("step_count", "-step_count", "cost_usd", "-started_at"):
        seen, url = [], f"/api/conversations?page_size=2&ordering={ordering}"
        while url:
            body = api.get(url).json()
            seen += [row["thread_id"] for row in body["results"]]
            url = body["next"]
        assert sorted(seen) == sorted(row.thread_id for row in rows), ordering
        assert len(seen) == len(rows), ordering


# -- replay ---------------------------------------------------------------------------------------

def test_replay_of_a_real_thread_pages_through_its_steps(api, run_reference_agent):
    plan = plan_conversation(seed=4, index=0, scenario="refund_approved")
    run_reference_agent(plan, STARTED_AT)
    ConversationFactory(thread_id=plan.thread_id)

    first = api.get(f"/api/replay/{plan.thread_id}", {"page_size": 4})
    last = api.get(first.json()["next"])

    body = first.json()
    assert first.status_code == 200
    assert (body["thread_id"], body["total_steps"], body["page"], body["page_size"]) == (plan.thread_id, 7, 1, 4)
    assert body["has_next"] is True
    assert body["conversation"]["thread_id"] == plan.thread_id
    assert [step["type"] for step in body["steps"]] == ["user_message", "handoff", "tool_call", "interrupt"]
    assert [step["index"] for step in last.json()["steps"]] == [4, 5, 6]
    assert last.json()["has_next"] is False and last.json()["next"] is None
    handoff = body["steps"][1]
    assert handoff["agent"] == "billing" and handoff["details"]["from_agent"] == "supervisor"
    assert handoff["model"] == "gpt-4o" and Decimal(handoff["cost_usd"]) > 0
    resolution = last.json()["steps"][0]
    assert resolution["status"] == "approved" and resolution["details"]["wait_ms"] > 0
    assert set(handoff) == {
        "index", "type", "timestamp", "checkpoint_id", "checkpoint_ns", "agent", "content", "tool_name",
        "tool_call_id", "tool_args", "status", "model", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens", "cost_usd", "cache_savings_usd", "latency_ms", "details",
    }


def test_replay_of_an_unknown_thread_is_404(api, checkpoint_db):
    response = api.get("/api/replay/no-such-thread")
    assert response.status_code == 404
    assert response.json() == {"detail": "no checkpoints for thread 'no-such-thread'"}


def test_replay_of_a_thread_id_with_a_nul_character_is_400(api, checkpoint_db):
    response = api.get("/api/replay/abc%00def")
    assert response.status_code == 400
    assert response.json() == {"thread_id": ["must not contain NUL characters"]}


def test_replay_page_past_the_end_names_the_last_page(api, run_reference_agent):
    plan = plan_conversation(seed=4, index=1, scenario="order_status")
    run_reference_agent(plan, STARTED_AT)

    response = api.get(f"/api/replay/{plan.thread_id}", {"page": 3, "page_size": 3})

    assert response.status_code == 404
    assert response.json() == {"page": ["must be at most 2, the last page; got 3"]}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"page_size": "0"}, "page_size"), ({"page_size": "-5"}, "page_size"), ({"page_size": "abc"}, "page_size"),
     ({"page_size": "501"}, "page_size"), ({"page": "0"}, "page"), ({"page": "٣"}, "page"),
     ({"page_size": "²"}, "page_size"), ({"page": "1.0"}, "page")],
)
def test_replay_bad_paging_is_400(api, checkpoint_db, params, parameter):
    response = api.get("/api/replay/some-thread", params)
    assert response.status_code == 400
    assert list(response.json()) == [parameter]
    assert "must be a whole number" in response.json()[parameter][0]


# -- schema ---------------------------------------------------------------------------------------

def test_openapi_schema_documents_both_endpoints(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert {"/api/conversations", "/api/replay/{thread_id}"} <= set(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/api/conversations"]["get"]["parameters"]}
    assert {"cursor", "page_size", "status", "agent", "search", "ordering", "has_interrupt", "metadata.<key>"} <= parameters
    step = schema["components"]["schemas"]["ReplayStep"]["properties"]
    assert step["agent"]["description"].startswith("Agent that acted")
    assert admin_client.get("/api/docs/").status_code == 200


def test_openapi_schema_tells_the_truth_about_shapes_and_errors(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    analytics = schema["paths"]["/api/analytics"]["get"]["responses"]
    conversations = schema["paths"]["/api/conversations"]["get"]["responses"]
    replay = schema["paths"]["/api/replay/{thread_id}"]["get"]

    assert analytics["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AnalyticsResult"}
    assert conversations["200"]["content"]["text/csv"]["schema"] == {"type": "string"}
    for responses in (analytics, conversations, replay["responses"]):
        assert {"400", "401", "403", "503"} <= set(responses)
        assert set(responses["400"]["content"]) == {"application/json"}  # errors are JSON, even for ?format=csv
        assert responses["400"]["content"]["application/json"]["schema"]["additionalProperties"]["type"] == "array"
        assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "404" in replay["responses"]
    (thread_id,) = [parameter for parameter in replay["parameters"] if parameter["name"] == "thread_id"]
    assert thread_id["in"] == "path" and thread_id["schema"] == {"type": "string"}
    (page_size,) = [p for p in schema["paths"]["/api/conversations"]["get"]["parameters"] if p["name"] == "page_size"]
    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 200)
