"""Two tenants' conversations written by the real reference agent, and the five kinds of reader the
access tests ask about."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

from analytics.failed_threads import ThreadFailure, record_failures
from replay.models import TenantAccess
from smart_support.agent.scenarios import plan_conversation

ACME, GLOBEX = "acme-eu", "globex-us"
ACME_THREAD, GLOBEX_THREAD, BROKEN_THREAD = "acme-thread-1", "globex-thread-1", "broken-thread"
ACME_DAY, GLOBEX_DAY = "2026-11-10", "2026-11-11"
CUSTOMER_TEXT = (
    "Hi, I am ada@example.com, call me on +44 20 7946 0958; I paid with 4111 1111 1111 1111 "
    "for order ORD-4111111111111111. Where is my order?"
)
READERS = ("anonymous", "staff without permission", "viewer of tenant A", "viewer of all tenants", "superuser")
VIEW_PERMISSIONS = ("view_conversation", "view_analyticsevent", "view_failedthread")


@dataclass(frozen=True)
class TenantWorld:
    clients: dict[str, Client]
    users: dict[str, User]


def _plan(*, thread_id: str, tenant: str, scenario: str, index: int, text: str | None = None):
    plan = plan_conversation(seed=13, index=index, scenario=scenario)
    turns = plan.turns
    if text is not None:
        turns = (dataclasses.replace(turns[0], user_text=text), *turns[1:])
    return dataclasses.replace(plan, thread_id=thread_id, metadata={"tenant": tenant, "channel": "web"}, turns=turns)


def _user(name: str, *, staff: bool = True, permissions: tuple[str, ...] = (), tenants: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    for tenant in tenants:
        TenantAccess.objects.create(user=user, tenant=tenant)
    return user


@pytest.fixture
def tenant_world(run_reference_agent) -> TenantWorld:
    run_reference_agent(
        _plan(thread_id=ACME_THREAD, tenant=ACME, scenario="order_status", index=0, text=CUSTOMER_TEXT),
        datetime(2026, 11, 10, 9, tzinfo=timezone.utc),
    )
    run_reference_agent(
        _plan(thread_id=GLOBEX_THREAD, tenant=GLOBEX, scenario="escalated_directly", index=1),
        datetime(2026, 11, 11, 9, tzinfo=timezone.utc),
    )
    call_command("backfill_events", verbosity=0)
    record_failures(failures=[ThreadFailure.of(thread_id=BROKEN_THREAD, error=ValueError("unreadable blob"))])
    users = {
        "staff without permission": _user("staff"),
        "viewer of tenant A": _user("acme-viewer", permissions=VIEW_PERMISSIONS, tenants=(ACME,)),
        "viewer of all tenants": _user("all-viewer", permissions=(*VIEW_PERMISSIONS, "view_all_tenants")),
        "superuser": User.objects.create_superuser("root", password="pw"),
    }
    clients = {"anonymous": Client()}
    for name, user in users.items():
        clients[name] = Client()
        clients[name].force_login(user)
    return TenantWorld(clients=clients, users=users)
