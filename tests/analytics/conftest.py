"""Fixtures the analytics tests share."""

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient


@pytest.fixture
def api(db) -> APIClient:
    user = User.objects.create_user("manager")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_analyticsevent", "view_conversation", "view_all_tenants"]))
    client = APIClient()
    client.force_authenticate(user)
    return client


def token_totals(rows) -> dict[str, int]:
    """What ``/api/analytics`` answers under ``tokens`` for these conversation rows, summed by hand."""
    return {
        "input": sum(row.input_tokens for row in rows), "output": sum(row.output_tokens for row in rows),
        "cache_read": sum(row.cache_read_tokens for row in rows), "cache_write": sum(row.cache_write_tokens for row in rows),
        "reasoning": sum(row.reasoning_tokens for row in rows),
    }
