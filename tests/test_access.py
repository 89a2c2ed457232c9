"""Who sees what: every API endpoint and admin page × every kind of reader × a conversation of tenant A
and one of tenant B — the status each reader gets and whether the conversation shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from django.test import Client

from tests.tenant_world import (
    ACME_DAY, ACME_THREAD, BROKEN_THREAD, GLOBEX_DAY, GLOBEX_THREAD, READERS, tenant_world,  # noqa: F401 - fixture
)

A, B = ACME_THREAD, GLOBEX_THREAD
DAY_OF = {A: ACME_DAY, B: GLOBEX_DAY}
RANGE = {"from": ACME_DAY, "to": GLOBEX_DAY, "tz": "UTC"}


def _in_body(client: Client, url: str, thread_id: str, **params) -> tuple[int, bool]:
    response = client.get(url, params)
    return response.status_code, response.status_code == 200 and thread_id in response.content.decode()


def api_list(client: Client, thread_id: str) -> tuple[int, bool]:
    response = client.get("/api/conversations")
    shown = response.status_code == 200 and thread_id in [row["thread_id"] for row in response.json()["results"]]
    return response.status_code, shown


def api_csv(client: Client, thread_id: str) -> tuple[int, bool]:
    response = client.get("/api/conversations", {"format": "csv"})
    body = b"".join(response.streaming_content).decode() if response.status_code == 200 else ""
    return response.status_code, thread_id in body


def api_replay(client: Client, thread_id: str) -> tuple[int, bool]:
    response = client.get(f"/api/replay/{quote(thread_id, safe='')}")
    return response.status_code, response.status_code == 200


def api_analytics(client: Client, thread_id: str) -> tuple[int, bool]:
    """Shown: the conversation counts on the day it started (each tenant's conversation has its own day)."""
    response = client.get("/api/analytics", RANGE)
    if response.status_code != 200:
        return response.status_code, False
    day = next(point for point in response.json()["series"] if point["date"] == DAY_OF[thread_id])
    return 200, day["conversations"] == 1


def admin_changelist(client: Client, thread_id: str) -> tuple[int, bool]:
    return _in_body(client, "/admin/replay/conversation/", thread_id)


def admin_replay(client: Client, thread_id: str) -> tuple[int, bool]:
    response = client.get(f"/admin/replay/conversation/replay/{thread_id}/")
    return response.status_code, response.status_code == 200


def dashboard(client: Client, thread_id: str) -> tuple[int, bool]:
    response = client.get("/admin/analytics/dashboard/", RANGE)
    if response.status_code != 200:
        return response.status_code, False
    day = next(point for point in response.context["result"].series if point.date.isoformat() == DAY_OF[thread_id])
    return 200, day.conversations == 1


def events_changelist(client: Client, thread_id: str) -> tuple[int, bool]:
    return _in_body(client, "/admin/analytics/analyticsevent/", thread_id)


def failed_threads(client: Client, thread_id: str) -> tuple[int, bool]:
    """A failed thread has no known tenant: shown to readers of every tenant only (whichever conversation)."""
    return _in_body(client, "/admin/analytics/failedthread/", BROKEN_THREAD)


# Per reader: (status, shows A, shows B). 302: to the admin login; 404 on the admin replay page for staff
# without the view permission (the page answers as if there were no such thread).
ANONYMOUS_API, ANONYMOUS_ADMIN = (401, False, False), (302, False, False)
REFUSED = (403, False, False)
ONLY_A = (200, True, False)
BOTH = (200, True, True)
EXPECTED: dict[Callable, tuple[tuple[int, bool, bool], ...]] = {
    #                   anonymous        staff, no permission  viewer of A  all tenants  superuser
    api_list:          (ANONYMOUS_API,   REFUSED,              ONLY_A,      BOTH,        BOTH),
    api_csv:           (ANONYMOUS_API,   REFUSED,              ONLY_A,      BOTH,        BOTH),
    api_analytics:     (ANONYMOUS_API,   REFUSED,              ONLY_A,      BOTH,        BOTH),
    admin_changelist:  (ANONYMOUS_ADMIN, REFUSED,              ONLY_A,      BOTH,        BOTH),
    dashboard:         (ANONYMOUS_ADMIN, REFUSED,              ONLY_A,      BOTH,        BOTH),
    events_changelist: (ANONYMOUS_ADMIN, REFUSED,              ONLY_A,      BOTH,        BOTH),
    failed_threads:    (ANONYMOUS_ADMIN, REFUSED,              REFUSED,     BOTH,        BOTH),
}
# One thread per request: another tenant's thread is 404, exactly like a thread that does not exist.
EXPECTED_PER_THREAD: dict[Callable, tuple[tuple[int, int], ...]] = {
    #                   anonymous   staff, no permission  viewer of A  all tenants  superuser
    api_replay:        ((401, 401), (403, 403),           (200, 404),  (200, 200),  (200, 200)),
    admin_replay:      ((302, 302), (404, 404),           (200, 404),  (200, 200),  (200, 200)),
}

CASES = [
    pytest.param(probe, reader, thread_id, (status, shows_a if thread_id == A else shows_b), id=f"{probe.__name__}-{reader}-{thread_id}")
    for probe, row in EXPECTED.items()
    for reader, (status, shows_a, shows_b) in zip(READERS, row)
    for thread_id in (A, B)
] + [
    pytest.param(probe, reader, thread_id, (status, status == 200), id=f"{probe.__name__}-{reader}-{thread_id}")
    for probe, row in EXPECTED_PER_THREAD.items()
    for reader, statuses in zip(READERS, row)
    for thread_id, status in zip((A, B), statuses)
]


@pytest.mark.parametrize(("probe", "reader", "thread_id", "expected"), CASES)
def test_access_matrix(tenant_world, probe, reader, thread_id, expected):
    assert probe(tenant_world.clients[reader], thread_id) == expected


def test_a_reader_given_no_tenant_sees_nothing_and_zero_analytics(tenant_world, django_user_model):
    from django.contrib.auth.models import Permission

    nobody = django_user_model.objects.create_user("no-tenant", is_staff=True)
    nobody.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "view_analyticsevent"]))
    client = Client()
    client.force_login(nobody)

    assert client.get("/api/conversations").json()["results"] == []
    analytics = client.get("/api/analytics", RANGE).json()
    assert (analytics["conversations"], analytics["total_cost"], analytics["by_model"]) == (0, "0.00000000", [])
    assert client.get(f"/api/replay/{A}").status_code == 404
    assert A not in client.get("/admin/replay/conversation/").content.decode()
    assert client.get("/admin/analytics/dashboard/", RANGE).context["agents"] == []


def test_the_agent_filters_list_only_the_agents_of_a_readers_tenants(tenant_world):
    from analytics.storage import rebuild_rollups
    from replay.models import Conversation
    from tests.factories import ConversationFactory
    from tests.tenant_world import GLOBEX

    ConversationFactory(thread_id="globex-desk", metadata={"tenant": GLOBEX}, tenant=GLOBEX,
                        agents_used=["supervisor", "globex_desk"], started_at=datetime(2026, 11, 10, 11, tzinfo=timezone.utc))
    rebuild_rollups()
    page = tenant_world.clients["viewer of tenant A"].get("/admin/replay/conversation/")
    everyone = tenant_world.clients["viewer of all tenants"].get("/admin/replay/conversation/")

    def agents_offered(response) -> set[str]:
        spec = next(spec for spec in response.context["cl"].filter_specs if getattr(spec, "parameter_name", "") == "agent")
        return {value for value, _ in spec.lookup_choices}

    acme_agents = set(Conversation.objects.get(thread_id=A).agents_used)
    all_agents = {agent for row in Conversation.objects.all() for agent in row.agents_used}
    assert all_agents - acme_agents, "the other tenant's conversation has an agent of its own"
    assert (agents_offered(page), agents_offered(everyone)) == (acme_agents, all_agents)
