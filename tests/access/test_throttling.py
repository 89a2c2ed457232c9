"""Request rates: past SMART_SUPPORT_THROTTLE_USER / _ANON a client gets a 429 saying when to come back."""

from datetime import datetime, timezone

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def rates(settings):
    def set_rates(**rates: str) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    cache.clear()  # the counts of earlier tests
    yield set_rates
    cache.clear()


def signed_in(username: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser(username))
    return client


@time_machine.travel(NOW, tick=False)
def test_a_user_past_the_rate_gets_429_with_retry_after_and_others_go_on(db, rates):
    rates(anon="off", user="3/minute")
    busy, other = signed_in("busy"), signed_in("other")

    answers = [busy.get("/api/conversations") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json() == {"detail": "Request was throttled. Expected available in 60 seconds."}
    assert answers[-1]["Retry-After"] == "60"
    assert other.get("/api/conversations").status_code == 200
    with time_machine.travel(NOW.replace(minute=1), tick=False):
        assert busy.get("/api/conversations").status_code == 200


@time_machine.travel(NOW, tick=False)
def test_anonymous_clients_of_the_public_schema_are_limited_per_address(db, rates, settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "PUBLIC_API_DOCS": True}
    rates(anon="2/minute", user="off")

    statuses = [APIClient().get("/api/schema/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert APIClient(REMOTE_ADDR="10.0.0.7").get("/api/schema/").status_code == 200
