"""Repeated failed logins lock out one username from one address, in admin and at the API's token login;
even the right password is refused until the cool-off has passed, and nobody else is affected."""

from base64 import b64encode
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils.html import escape

PASSWORD = "correct horse battery staple"
LOCKOUT_MESSAGE = (
    "Too many failed logins for 'manager' from this address: logins are refused for 15 minutes, even with the "
    "right password. Try again later, or ask an administrator to unlock the account."
)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def staff(db) -> None:
    for username in ("manager", "colleague"):
        User.objects.create_user(username, password=PASSWORD, is_staff=True, is_superuser=True)


def admin_login(*, username: str, password: str, address: str = "127.0.0.1"):
    return Client(REMOTE_ADDR=address).post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


def api_login(*, username: str, password: str, address: str = "127.0.0.1"):
    credentials = b64encode(f"{username}:{password}".encode()).decode()
    return Client(REMOTE_ADDR=address).post("/api/auth/login", HTTP_AUTHORIZATION=f"Basic {credentials}")


@time_machine.travel(NOW, tick=False)
def test_admin_locks_a_username_out_after_five_failures_even_for_the_right_password(staff):
    failures = [admin_login(username="manager", password=f"guess-{n}") for n in range(5)]
    right = admin_login(username="manager", password=PASSWORD)

    assert [response.status_code for response in failures] == [200, 200, 200, 200, 429]
    assert "Please enter the correct username and password" in failures[0].content.decode()
    assert right.status_code == 429
    assert right["Retry-After"] == "900"
    page = right.content.decode()
    assert escape(LOCKOUT_MESSAGE) in page
    assert "<title>Login refused | Smart Support</title>" in page  # the admin's own page, not a bare text


@time_machine.travel(NOW, tick=False)
def test_admin_lockout_spares_other_users_and_other_addresses_and_ends_after_the_cool_off(staff):
    for n in range(5):
        admin_login(username="manager", password=f"guess-{n}")

    assert admin_login(username="colleague", password=PASSWORD).status_code == 302
    assert admin_login(username="manager", password=PASSWORD, address="10.0.0.7").status_code == 302
    with time_machine.travel(NOW + timedelta(minutes=14), tick=False):
        assert admin_login(username="manager", password=PASSWORD).status_code == 429
    with time_machine.travel(NOW + timedelta(minutes=14 + 16), tick=False):  # the refused try started it again
        response = admin_login(username="manager", password=PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/admin/")


@time_machine.travel(NOW, tick=False)
def test_api_login_locks_a_username_out_with_a_json_429(staff):
    failures = [api_login(username="manager", password=f"guess-{n}") for n in range(5)]
    right = api_login(username="manager", password=PASSWORD)

    assert [response.status_code for response in failures] == [401, 401, 401, 401, 429]
    assert failures[0].json() == {"detail": "Invalid username/password."}
    assert failures[0]["WWW-Authenticate"] == 'Basic realm="api"'
    assert right.status_code == 429
    assert right["Retry-After"] == "900"
    assert right.json() == {"detail": LOCKOUT_MESSAGE}


@time_machine.travel(NOW, tick=False)
def test_api_lockout_spares_other_users_and_ends_after_the_cool_off(staff):
    for n in range(5):
        api_login(username="manager", password=f"guess-{n}")

    assert api_login(username="colleague", password=PASSWORD).status_code == 200
    with time_machine.travel(NOW + timedelta(minutes=16), tick=False):
        response = api_login(username="manager", password=PASSWORD)
    assert response.status_code == 200
    assert set(response.json()) == {"token", "expiry"}


@time_machine.travel(NOW, tick=False)
def test_a_successful_login_forgets_earlier_failures(staff):
    for n in range(4):
        admin_login(username="manager", password=f"guess-{n}")
    assert admin_login(username="manager", password=PASSWORD).status_code == 302

    assert [admin_login(username="manager", password=f"again-{n}").status_code for n in range(4)] == [200] * 4
