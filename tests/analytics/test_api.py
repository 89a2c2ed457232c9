"""GET /api/analytics as API consumers call it."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from analytics.storage import rebuild_rollups
from tests.factories import ConversationFactory

ZONE_ERROR = "must be an IANA time zone PostgreSQL knows, such as UTC, Europe/Berlin or America/New_York"


@pytest.fixture
def api(db) -> APIClient:
    user = User.objects.create_user("analyst")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_analyticsevent", "view_all_tenants"]))
    client = APIClient()
    client.force_authenticate(user)
    return client


@time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=timezone.utc), tick=False)
def test_whole_response_for_a_small_range(api):
    ConversationFactory(started_at=datetime(2026, 11, 19, 9, tzinfo=timezone.utc), resolved=True,
                        cost_usd=Decimal("0.02"), input_tokens=1000, output_tokens=100, handoffs={"orders": 1},
                        interrupt_count=1, interrupts_approved=1)
    ConversationFactory(started_at=datetime(2026, 11, 20, 9, tzinfo=timezone.utc), resolved=False, escalated=True,
                        cost_usd=Decimal("0.04"), input_tokens=3000, output_tokens=300, handoffs={"orders": 1, "billing": 2},
                        cache_read_tokens=2048, cache_write_tokens=512, reasoning_tokens=120,
                        cache_savings_usd=Decimal("0.00368640"), message_count=5, step_count=9, tool_call_count=2,
                        tool_error_count=1)
    ConversationFactory(started_at=datetime(2026, 11, 17, 9, tzinfo=timezone.utc), resolved=True,
                        cost_usd=Decimal("0.01"))  # previous period
    rebuild_rollups()

    response = api.get("/api/analytics", {"range": "2d"})

    assert response.status_code == 200
    assert response.json() == {
        "range": {"from": "2026-11-19", "to": "2026-11-20", "tz": "UTC"},
        "agent": None,
        "conversations": 2,
        "resolution_rate": 0.5,
        "escalation_rate": 0.5,
        "cost_per_conversation": "0.03000000",
        "total_cost": "0.06000000",
        "tokens": {"input": 4000, "output": 400, "cache_read": 2048, "cache_write": 512, "reasoning": 120},
        "unpriced_models": [],
        "totals": {
            "resolved": 1, "escalated": 1, "message_count": 9, "step_count": 16, "tool_call_count": 4,
            "tool_error_count": 1, "interrupt_count": 1, "interrupts_approved": 1, "interrupts_rejected": 0,
            "interrupts_other": 0, "interrupts_pending": 0, "input_tokens": 4000, "output_tokens": 400,
            "cache_read_tokens": 2048, "cache_write_tokens": 512, "reasoning_tokens": 120, "cost_usd": "0.06000000",
            "cache_savings_usd": "0.00368640",
        },
        "agent_usage": [
            {"agent": "billing", "routings": 2, "share": 0.5},
            {"agent": "orders", "routings": 2, "share": 0.5},
        ],
        "interrupt_stats": {"total": 1, "approved": 1, "rejected": 0, "other": 0, "expired": 0, "pending": 0},
        "series": [
            {"date": "2026-11-19", "conversations": 1, "resolved": 1, "escalated": 0, "cost": "0.02000000"},
            {"date": "2026-11-20", "conversations": 1, "resolved": 0, "escalated": 1, "cost": "0.04000000"},
        ],
        "previous_period": {
            "conversations": 1, "resolution_rate": 1.0, "escalation_rate": 0.0, "cost_per_conversation": "0.01000000",
        },
        # these rows were written without events (tests/analytics/test_breakdowns.py has real ones)
        "by_model": [],
        "by_agent": [],
        "latency": [],
    }


def test_from_to_in_another_time_zone(api):
    # 2026-11-19 23:30 in New York is 2026-11-20 04:30 UTC
    ConversationFactory(started_at=datetime(2026, 11, 20, 4, 30, tzinfo=timezone.utc))
    rebuild_rollups()
    body = api.get("/api/analytics", {"from": "2026-11-19", "to": "2026-11-19", "tz": "America/New_York"}).json()
    assert body["conversations"] == 1
    assert body["range"] == {"from": "2026-11-19", "to": "2026-11-19", "tz": "America/New_York"}
    assert api.get("/api/analytics", {"from": "2026-11-19", "to": "2026-11-19"}).json()["conversations"] == 0


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"range": "0d"}, "range", "must be a number of days from 1d to 365d, such as 7d or 30d; got '0d'"),
        ({"range": "7x"}, "range", "must be a number of days from 1d to 365d, such as 7d or 30d; got '7x'"),
        ({"range": "400d"}, "range", "must be a number of days from 1d to 365d, such as 7d or 30d; got '400d'"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "from", "must be on or before to (2026-11-01); got 2026-11-10"),
        ({"tz": "Mars/Olympus"}, "tz", f"{ZONE_ERROR}; got 'Mars/Olympus'"),
        # zones Python's zoneinfo accepts and PostgreSQL refuses
        ({"tz": "posixrules"}, "tz", f"{ZONE_ERROR}; got 'posixrules'"),
        ({"tz": "localtime"}, "tz", f"{ZONE_ERROR}; got 'localtime'"),
        ({"tz": "posix/Europe/Berlin"}, "tz", f"{ZONE_ERROR}; got 'posix/Europe/Berlin'"),
        ({"tz": "right/UTC"}, "tz", f"{ZONE_ERROR}; got 'right/UTC'"),
        ({"range": "٣d"}, "range", "must be a number of days from 1d to 365d, such as 7d or 30d; got '٣d'"),
        ({"from": "٢٠٢٦-١١-٠١", "to": "2026-11-02"}, "from", "must be a date like 2026-11-01"),
        ({"range": "7d", "from": "2026-11-01", "to": "2026-11-02"}, "range", "give either range or from and to, not both"),
        ({"from": "2026-11-01"}, "to", "is required together with from"),
        ({"from": "November", "to": "2026-11-02"}, "from", "must be a date like 2026-11-01"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from", "from and to must lie between 2000-01-01 and 2999-12-31"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to", "from and to may span at most 366 days; got 732"),
        ({"agent": "bil\x00ling"}, "agent", "must not contain NUL characters"),
    ],
)
def test_bad_input_is_400_naming_the_parameter(api, params, parameter, message):
    response = api.get("/api/analytics", params)
    assert response.status_code == 400
    assert response.json() == {parameter: [message]}


def test_needs_authentication_and_the_view_permission(db):
    assert APIClient().get("/api/analytics").status_code == 401
    client = APIClient()
    client.force_authenticate(User.objects.create_user("nobody"))
    assert client.get("/api/analytics").status_code == 403
