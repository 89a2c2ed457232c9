"""API tokens: issued by command, by the API's password login or in admin, shown once, stored as a digest,
refused once expired."""

import hashlib
import re
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def analyst(db) -> User:
    return User.objects.create_user("analyst", password="correct horse battery staple", is_superuser=True)


def create_api_token(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def status_with(token: str) -> int:
    return Client().get("/api/conversations", HTTP_AUTHORIZATION=f"Token {token}").status_code


def stored_columns() -> list[str]:
    return [str(value) for row in AuthToken.objects.values() for value in row.values()]


@time_machine.travel(NOW, tick=False)
def test_create_api_token_prints_a_working_token_whose_digest_alone_is_stored(analyst):
    out, err = create_api_token("analyst", "--expires-in", "7")

    token = out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert err == (
        "API token for 'analyst', valid until 2026-11-27T09:00:00+00:00. It is shown this once: store it now "
        "(send it as 'Authorization: Token <token>').\n"
    )
    assert status_with(token) == 200
    (stored,) = AuthToken.objects.all()
    assert stored.digest == hashlib.sha512(token.encode()).hexdigest()
    assert not any(token in column for column in stored_columns())


def test_an_expired_token_gets_401(analyst):
    with time_machine.travel(NOW, tick=False):
        token = create_api_token("analyst", "--expires-in", "1")[0].strip()
        assert status_with(token) == 200
    with time_machine.travel(NOW + timedelta(days=1, seconds=1), tick=False):
        response = APIClient().get("/api/conversations", HTTP_AUTHORIZATION=f"Token {token}")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})


@time_machine.travel(NOW, tick=False)
def test_tokens_last_thirty_days_by_default(analyst):
    create_api_token("analyst")
    assert AuthToken.objects.get().expiry == NOW + timedelta(days=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("analyst", "--expires-in", "0"), "--expires-in must be a whole number of days from 1 to 3650; got 0"),
        (("nobody",), "no user named 'nobody'; create it first (manage.py createsuperuser, or in admin)"),
    ],
)
def test_create_api_token_explains_what_it_refuses(analyst, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        create_api_token(*args)
    assert not AuthToken.objects.exists()


def test_a_token_header_that_is_not_utf8_is_an_invalid_token_not_an_error(db):
    response = Client().get("/api/conversations", HTTP_AUTHORIZATION="Token \xff\xfe")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})


@time_machine.travel(NOW, tick=False)
def test_the_api_login_trades_a_password_for_a_working_token(analyst):
    response = APIClient().post("/api/auth/login", HTTP_AUTHORIZATION="Basic YW5hbHlzdDpjb3JyZWN0IGhvcnNlIGJhdHRlcnkgc3RhcGxl")

    assert response.status_code == 200
    assert response.json() == {"expiry": "2026-12-20T09:00:00Z", "token": response.json()["token"]}
    assert status_with(response.json()["token"]) == 200


@time_machine.travel(NOW, tick=False)
def test_admin_issues_a_token_and_shows_its_key_once(admin_client, analyst):
    page = admin_client.post("/admin/knox/authtoken/add/", {"user": analyst.pk, "expires_in_days": "90"})

    (token,) = re.findall(r'<code id="api-token">([0-9a-f]{64})</code>', page.content.decode())
    assert page.status_code == 200
    assert "This is the only time it is shown" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert status_with(token) == 200
    stored = AuthToken.objects.get()
    assert (stored.user, stored.expiry) == (analyst, NOW + timedelta(days=90))
    changelist = admin_client.get("/admin/knox/authtoken/").content.decode()
    detail = admin_client.get(f"/admin/knox/authtoken/{stored.pk}/change/").content.decode()
    assert f">{stored.digest[:12]}…</a>" in changelist  # the row shows the digest's start; its link, the key it is stored under
    assert token not in changelist and token not in detail
