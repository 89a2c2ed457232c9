"""Personal data masked at read time for readers without replay.view_unredacted, on the same
conversation both ways: API replay, admin replay page, CSV, search."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from analytics.queries import CONVERSATIONS, ROLLUPS, get_analytics
from replay.models import Conversation
from replay.redaction import redact_text
from replay.tenants import TenantScope
from tests.tenant_world import ACME, ACME_THREAD, CUSTOMER_TEXT, GLOBEX, tenant_world  # noqa: F401 - fixture

MASKED_TEXT = (
    "Hi, I am [email], call me on [phone]; I paid with [card] for order ORD-4111111111111111. Where is my order?"
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("write to ada.lovelace+support@example.co.uk", "write to [email]"),
        ("card 4111-1111-1111-1111, thanks", "card [card], thanks"),
        # fails the Luhn check: a number, not a card
        ("card 4111 1111 1111 1112", "card 4111 1111 1111 1112"),
        # glued to an order prefix it is an identifier, whatever Luhn says
        ("order ORD-4111111111111111", "order ORD-4111111111111111"),
        ("call (555) 123-4567 or +1 555 123 4567", "call [phone] or [phone]"),
        ("delivered 2026-11-10T09:00:00Z, order ORD-10023, 49.99 EUR", "delivered 2026-11-10T09:00:00Z, order ORD-10023, 49.99 EUR"),
    ],
)
def test_personal_data_is_masked_and_ids_dates_and_amounts_are_not(text, shown):
    assert redact_text(text) == shown


def test_configured_patterns_are_masked_too(settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "REDACT_PATTERNS": [r"\bcus_\d{6}\b"]}
    assert redact_text("customer cus_123456 wrote") == "customer [redacted] wrote"


def _readers(world, django_user_model) -> tuple[Client, Client]:
    """The viewer of tenant A as is (masked), and a copy allowed to see personal data."""
    unredacted = django_user_model.objects.create_user("acme-auditor", is_staff=True)
    unredacted.user_permissions.add(*world.users["viewer of tenant A"].user_permissions.all())
    unredacted.user_permissions.add(Permission.objects.get(codename="view_unredacted"))
    unredacted.tenant_accesses.create(tenant=ACME)
    auditor = Client()
    auditor.force_login(unredacted)
    return world.clients["viewer of tenant A"], auditor


def test_api_replay_masks_messages_and_first_message_unless_allowed(tenant_world, django_user_model):
    masked, auditor = _readers(tenant_world, django_user_model)

    def first_user_step(client: Client) -> tuple[str, str]:
        replay = client.get(f"/api/replay/{ACME_THREAD}").json()
        step = next(step for step in replay["steps"] if step["type"] == "user_message")
        return step["content"], replay["conversation"]["first_message"]

    assert first_user_step(masked) == (MASKED_TEXT, MASKED_TEXT)
    assert first_user_step(auditor) == (CUSTOMER_TEXT, CUSTOMER_TEXT)
    assert Conversation.objects.get(thread_id=ACME_THREAD).first_message == CUSTOMER_TEXT  # stored as it was


def test_admin_replay_page_masks_unless_allowed(tenant_world, django_user_model):
    masked, auditor = _readers(tenant_world, django_user_model)
    url = f"/admin/replay/conversation/replay/{ACME_THREAD}/"

    masked_page, auditor_page = masked.get(url).content.decode(), auditor.get(url).content.decode()

    assert "ada@example.com" not in masked_page and "[email]" in masked_page and "[card]" in masked_page
    assert "ada@example.com" in auditor_page and "[email]" not in auditor_page


def test_csv_export_and_list_mask_unless_allowed(tenant_world, django_user_model):
    masked, auditor = _readers(tenant_world, django_user_model)

    def csv_of(client: Client) -> str:
        return b"".join(client.get("/api/conversations", {"format": "csv"}).streaming_content).decode()

    assert MASKED_TEXT in csv_of(masked) and "ada@example.com" not in csv_of(masked)
    assert CUSTOMER_TEXT in csv_of(auditor)
    assert masked.get("/api/conversations").json()["results"][0]["first_message"] == MASKED_TEXT


def test_search_by_an_email_address_finds_it_only_for_readers_allowed_to_see_it(tenant_world, django_user_model):
    masked, auditor = _readers(tenant_world, django_user_model)

    def found(client: Client, text: str) -> list[str]:
        return [row["thread_id"] for row in client.get("/api/conversations", {"search": text}).json()["results"]]

    assert found(auditor, "ada@example.com") == [ACME_THREAD]
    assert found(masked, "ada@example.com") == []
    assert found(masked, "+44 20 7946 0958") == []
    assert ACME_THREAD not in masked.get("/admin/replay/conversation/", {"q": "ada@example.com"}).content.decode()
    assert found(masked, "order") == [ACME_THREAD]  # words that are not personal data still find it


def test_analytics_per_tenant_equal_a_hand_count(tenant_world):
    """Tenant A: one order-status conversation, resolved by its tool result; tenant B: one escalated at once."""
    scope = {"start": date(2026, 11, 10), "end": date(2026, 11, 11), "tz": ZoneInfo("UTC")}
    for source in (ROLLUPS, CONVERSATIONS):
        acme = get_analytics(**scope, source=source, tenants=TenantScope(tenants=frozenset({ACME})))
        globex = get_analytics(**scope, source=source, tenants=TenantScope(tenants=frozenset({GLOBEX})))
        both = get_analytics(**scope, source=source, tenants=TenantScope(tenants=frozenset({ACME, GLOBEX})))
        everyone = get_analytics(**scope, source=source)
        assert (acme.conversations, acme.resolved, acme.escalated) == (1, 1, 0)
        assert (globex.conversations, globex.resolved, globex.escalated) == (1, 0, 1)
        assert [point.conversations for point in acme.series] == [1, 0]
        assert [point.conversations for point in globex.series] == [0, 1]
        assert both.total_cost == acme.total_cost + globex.total_cost == everyone.total_cost
        assert both.totals == everyone.totals
        assert sum(row.calls for row in acme.by_model) + sum(row.calls for row in globex.by_model) == sum(
            row.calls for row in everyone.by_model
        )
    assert get_analytics(**scope, source=ROLLUPS, tenants=TenantScope(tenants=frozenset({ACME}))) == get_analytics(
        **scope, source=CONVERSATIONS, tenants=TenantScope(tenants=frozenset({ACME}))
    )
