"""/healthz and /readyz as a load balancer and an on-call engineer see them."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from analytics.models import FailedThread
from smart_support.agent.scenarios import plan_conversation
from tests.test_faults import database_down  # noqa: F401 - fixture

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


def _port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def probe(path: str):
    # A probe from inside the network: by IP, over plain HTTP, not logged in.
    return Client(HTTP_HOST="10.0.0.7:8000").get(path)


def test_healthz_says_the_process_is_up_without_a_database_or_login():
    response = probe("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response["Cache-Control"] == "no-store"


def test_healthz_answers_even_when_the_database_is_down(database_down):  # noqa: F811
    assert probe("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_before_any_sync_is_ready_and_says_the_lag_is_unknown():
    response = probe("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "databases": {"default": "ok", "checkpoints": "ok"},
        "sync_lag_seconds": None,
        "last_synced_at": None,
        "newest_derived_at": None,
        "failed_threads": 0,
    }


def test_readyz_says_how_long_ago_the_sync_ran_and_how_many_threads_failed(run_reference_agent):
    run_reference_agent(plan_conversation(seed=41, index=0, scenario="order_status"), STARTED_AT)
    with time_machine.travel(STARTED_AT + timedelta(hours=1), tick=False):
        call_command("backfill_events", verbosity=0)
    FailedThread.objects.create(
        thread_id="broken", error="boom", first_failed_at=STARTED_AT, last_failed_at=STARTED_AT
    )

    with time_machine.travel(STARTED_AT + timedelta(hours=1, seconds=90), tick=False):
        body = probe("/readyz").json()

    assert body["status"] == "ready"
    assert body["sync_lag_seconds"] == 90.0  # the sync stopped 90 s ago: anything newer is not counted
    assert body["last_synced_at"] == "2026-11-10T10:30:00Z"
    assert body["newest_derived_at"].startswith("2026-11-10T09:3")
    assert body["failed_threads"] == 1


def test_readyz_is_503_when_the_database_is_down(database_down):  # noqa: F811
    response = probe("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "databases": {"default": "unavailable", "checkpoints": "unavailable"},
        "sync_lag_seconds": None,
        "last_synced_at": None,
        "newest_derived_at": None,
        "failed_threads": None,
    }


@pytest.mark.django_db
def test_readyz_is_503_when_only_the_checkpoint_database_is_down(settings):
    from replay.checkpoints import close_checkpoint_pool

    settings.CHECKPOINT_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{_port_nobody_listens_on()}/agent"
    close_checkpoint_pool()
    try:
        response = probe("/readyz")
    finally:
        close_checkpoint_pool()

    assert response.status_code == 503
    assert response.json()["databases"] == {"default": "ok", "checkpoints": "unavailable"}
    assert response.json()["failed_threads"] == 0
