"""The web when PostgreSQL is down or has restarted, and what an unexpected error leaves in the log."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from replay.checkpoints import checkpoint_conninfo
from tests.test_commands import PROJECT_DIR

UNKNOWN_TOKEN = "Token " + "0" * 40


def _port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def request_log() -> Iterator[list[logging.LogRecord]]:
    """What the ``django.request`` logger emits (it does not propagate to pytest's handler)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.ERROR)
    handler.emit = records.append
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def database_down(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Django's database (and so the checkpoints) moved to a port where nothing listens."""
    with django_db_blocker.unblock():
        saved = dict(connection.settings_dict)
        connection.close()
        connection.close_pool()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_port_nobody_listens_on()))
        try:
            yield
        finally:
            connection.close()
            connection.close_pool()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


@pytest.mark.parametrize("url", ["/api/conversations", "/api/replay/thread-1", "/api/analytics"])
def test_api_answers_503_json_quickly_when_the_database_is_down(database_down, request_log, url):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=UNKNOWN_TOKEN)

    started = time.monotonic()
    response = client.get(url)
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The database is unavailable; try again in a moment."}
    assert response["Retry-After"] == "5"
    assert elapsed < 3, f"answered after {elapsed:.1f} s"
    (record,) = request_log
    assert record.getMessage() == f"Service Unavailable: {url}"
    assert record.exc_info is not None


def test_admin_pages_answer_a_plain_503_page_when_the_database_is_down(database_down):
    client = Client()
    client.cookies["sessionid"] = "a" * 32  # a logged-in manager: the session lives in the database

    started = time.monotonic()
    response = client.get("/admin/replay/conversation/")

    assert response.status_code == 503
    assert "cannot reach its database" in response.content.decode()
    assert time.monotonic() - started < 3


@pytest.mark.django_db(transaction=True)  # requests must take and return pooled connections, as in production
def test_connections_a_server_restart_broke_are_replaced_not_answered_with_an_error():
    # a pool of this test's own: earlier tests' server threads may still hold connections of the shared one,
    # and a pool with every connection taken answers 503 whatever the server's state
    connection.close()
    connection.close_pool()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=UNKNOWN_TOKEN)  # checking a token reads the database
    assert client.get("/api/conversations").status_code == 401
    connection.close()  # back into the pool, as at the end of every request
    with psycopg.connect(checkpoint_conninfo(), autocommit=True) as other:
        terminated = other.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    response = client.get("/api/conversations")

    assert terminated >= 1
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_an_unexpected_error_is_a_json_500_logged_with_its_traceback(db, settings, monkeypatch, request_log):
    settings.DEBUG = False

    def broken(**kwargs):
        raise RuntimeError("timeline bug")

    monkeypatch.setattr("replay.api.get_replay", broken)
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser("boss"))

    response = client.get("/api/replay/thread-1")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    (record,) = request_log
    assert record.getMessage() == "Internal Server Error: /api/replay/thread-1"
    assert "timeline bug" in logging.Formatter().formatException(record.exc_info)


def test_a_server_with_debug_off_prints_failed_requests_with_their_traceback():
    script = (
        "import django; django.setup(); from django.test import Client; "
        "print(Client().get('/api/conversations', HTTP_AUTHORIZATION='Token x').status_code)"
    )
    env = {
        **os.environ, "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "smart_support.settings", "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgresql://support@127.0.0.1:{_port_nobody_listens_on()}/backoffice",
    }
    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )

    assert finished.stdout.strip() == "503"
    assert "ERROR django.request Service Unavailable: /api/conversations" in finished.stderr
    assert "Traceback" in finished.stderr and "couldn't get a connection after 2.00 sec" in finished.stderr


def test_replay_answers_503_quickly_when_the_checkpoint_database_is_down(db, settings):
    from replay.checkpoints import close_checkpoint_pool

    settings.CHECKPOINT_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{_port_nobody_listens_on()}/agent"
    close_checkpoint_pool()
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser("boss"))
    try:
        started = time.monotonic()
        response = client.get("/api/replay/thread-1")
        elapsed = time.monotonic() - started
    finally:
        close_checkpoint_pool()

    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable; try again in a moment."}
    assert elapsed < 3, f"answered after {elapsed:.1f} s"
