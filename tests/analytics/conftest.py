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
