"""Read replicas, against a real streaming replica of the embedded PostgreSQL: the read-only pages read
from it, whatever writes goes to the primary, a browser that wrote reads its change from the primary,
and an unreachable or lagging replica leaves the reads to the primary."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client
from django.utils import timezone

from analytics.models import ModelPrice
from replay.models import Conversation
from replay.checkpoints import checkpoint_conninfo
from smart_support.database import django_database
from smart_support.db_router import REPLICA, reads_from
from smart_support.replica_reads import ReplicaStatus, forget_replica_status
from tests.factories import ConversationFactory
from tests.streaming_replica import StreamingReplica

pytestmark = pytest.mark.django_db(databases=[DEFAULT_DB_ALIAS, REPLICA], transaction=True)

CONVERSATIONS = "/api/conversations"
CHANGELIST = "/admin/replay/conversation/"


@pytest.fixture(scope="module", autouse=True)
def streaming_replica(django_db_setup, django_db_blocker):
    """A hot standby of the test server, known to Django as the ``replica`` database for this module."""
    if os.environ.get("DATABASE_URL"):
        pytest.skip("the streaming replica is made from the embedded server; DATABASE_URL points elsewhere")
    with django_db_blocker.unblock():
        replica = StreamingReplica(
            primary_url=checkpoint_conninfo(), directory=Path(settings.VAR_DIR) / f"test-replica-{os.getpid()}"
        )
        replica.start()
        # the test database is Django's NAME by now: the replica's conninfo names it too
        replica_settings = {**django_database(replica.url, pool=True), "TEST": {"MIRROR": DEFAULT_DB_ALIAS}}
        connections.settings[REPLICA] = connections.configure_settings(
            {DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS], REPLICA: replica_settings}
        )[REPLICA]
        try:
            yield replica
        finally:
            connections[REPLICA].close()
            connections[REPLICA].close_pool()
            del connections[REPLICA]
            del connections.settings[REPLICA]
            replica.execute("SELECT pg_wal_replay_resume()")
            replica.stop()


@pytest.fixture(autouse=True)
def fresh_look_at_the_replica(streaming_replica, settings):
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 300  # tests that want the replica too far behind say so
    forget_replica_status()
    yield
    streaming_replica.execute("SELECT pg_wal_replay_resume()")
    forget_replica_status()


@pytest.fixture
def paused_replica(streaming_replica):
    """The replica with everything written so far replayed, then its replay paused: rows written from now
    on reach it (received) but stay invisible there."""
    streaming_replica.wait_for_primary()
    streaming_replica.execute("SELECT pg_wal_replay_pause()")
    return streaming_replica


@pytest.fixture
def manager(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("other-manager", "other@example.org", "x" * 16))
    return client


def listed_threads(client: Client) -> tuple[list[str], str]:
    response = client.get(CONVERSATIONS)
    assert response.status_code == 200
    return [row["thread_id"] for row in response.json()["results"]], response.wsgi_request.database_reads.alias


def test_a_row_written_on_the_primary_is_listed_from_the_replica_once_replayed(admin_client, streaming_replica):
    ConversationFactory(thread_id="synced-on-primary")
    streaming_replica.wait_for_primary()

    assert listed_threads(admin_client) == (["synced-on-primary"], REPLICA)
    replay = admin_client.get("/api/replay/synced-on-primary")
    assert replay.wsgi_request.database_reads.alias == REPLICA
    assert replay.status_code == 404  # no checkpoints, read on the replica: a conversation row alone has no steps


def test_a_thread_pruned_while_the_replica_lags_is_gone_not_unknown(admin_client, paused_replica):
    """Its checkpoints are gone on the primary; the mark saying retention took them has not reached the replica."""
    conversation = ConversationFactory(thread_id="pruned-while-lagging")
    paused_replica.execute("SELECT pg_wal_replay_resume()")
    paused_replica.wait_for_primary()
    paused_replica.execute("SELECT pg_wal_replay_pause()")
    Conversation.objects.filter(pk=conversation.pk).update(checkpoints_pruned_at=timezone.now())
    paused_replica.wait_for_received()

    replay = admin_client.get("/api/replay/pruned-while-lagging")

    assert replay.wsgi_request.database_reads.alias == REPLICA
    assert replay.status_code == 410
    assert replay.json()["thread_id"] == "pruned-while-lagging"


def test_the_api_does_not_see_a_row_the_replica_has_not_replayed(admin_client, paused_replica):
    ConversationFactory(thread_id="not-yet-replayed")
    paused_replica.wait_for_received()

    assert listed_threads(admin_client) == ([], REPLICA)


def test_a_price_saved_in_admin_is_written_to_the_primary_and_its_author_then_reads_from_the_primary(
    admin_client, manager, paused_replica
):
    response = admin_client.post("/admin/analytics/modelprice/add/", {
        "model": "gpt-replica", "match_pattern": "", "effective_from_0": "2026-01-01", "effective_from_1": "00:00:00",
        "input_usd_per_million": "1.00", "output_usd_per_million": "2.00",
    })
    ConversationFactory(thread_id="synced-after-the-price")  # as the sync would, while the replica is paused
    paused_replica.wait_for_received()

    assert response.status_code == 302  # a write on the read-only replica would have failed
    assert ModelPrice.objects.using(DEFAULT_DB_ALIAS).filter(model="gpt-replica").exists()
    assert listed_threads(admin_client) == (["synced-after-the-price"], DEFAULT_DB_ALIAS)
    assert listed_threads(manager) == ([], REPLICA)


def test_a_write_made_while_reads_go_to_the_replica_still_goes_to_the_primary(paused_replica):
    with reads_from(REPLICA):
        ModelPrice.objects.create(model="gpt-inside", input_usd_per_million=1, output_usd_per_million=2,
                                  effective_from="2026-01-01T00:00:00Z")
        replica_sees = ModelPrice.objects.filter(model="gpt-inside").exists()

    assert replica_sees is False
    assert ModelPrice.objects.filter(model="gpt-inside").exists()


def test_a_replica_further_behind_than_the_maximum_leaves_reads_to_the_primary_and_the_list_says_so(
    admin_client, paused_replica, settings
):
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 0
    ConversationFactory(thread_id="while-lagging")
    paused_replica.wait_for_received()  # received, not replayed: the replica is behind

    assert listed_threads(admin_client) == (["while-lagging"], DEFAULT_DB_ALIAS)
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    assert "while-lagging" in page.content.decode()
    assert "s behind: reading from the primary." in page.context["replica_notice"]


@pytest.fixture
def stalled_receiver(streaming_replica):
    """The replica's WAL receiver stopped (as on a congested network): the replica has replayed all it
    received, and receives nothing more."""
    streaming_replica.wait_for_primary()
    (receiver,) = streaming_replica.execute("SELECT pid FROM pg_stat_wal_receiver")
    os.kill(receiver, signal.SIGSTOP)
    yield streaming_replica
    os.kill(receiver, signal.SIGCONT)


def test_a_replica_whose_receiver_fell_behind_is_behind_though_it_replayed_all_it_received(
    admin_client, stalled_receiver, settings
):
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 1
    ConversationFactory(thread_id="never-received")
    time.sleep(1.5)  # the replica's last replayed transaction is now older than the maximum lag

    assert stalled_receiver.execute("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()") == (True,)
    assert listed_threads(admin_client) == (["never-received"], DEFAULT_DB_ALIAS)
    assert "s behind: reading from the primary." in admin_client.get(CHANGELIST).context["replica_notice"]


def test_the_dashboard_shows_the_lag_of_a_replica_behind_the_notice_threshold(admin_client, paused_replica, settings):
    settings.DATABASE_REPLICA_LAG_NOTICE_SECONDS = 0
    ConversationFactory(thread_id="while-behind")
    paused_replica.wait_for_received()

    page = admin_client.get("/admin/analytics/dashboard/")

    assert page.wsgi_request.database_reads.alias == REPLICA
    assert "Read from a replica" in page.context["replica_notice"]
    assert 'id="replica-notice"' in page.content.decode()


@pytest.fixture
def unreachable_replica(streaming_replica, tmp_path):
    """The replica database pointed at a socket directory where no server listens."""
    replica = connections[REPLICA]
    address = replica.settings_dict["HOST"]
    replica.close()
    replica.close_pool()
    replica.settings_dict["HOST"] = str(tmp_path)
    yield
    replica.close()
    replica.close_pool()
    replica.settings_dict["HOST"] = address


def test_an_unreachable_replica_leaves_reads_to_the_primary_and_the_list_says_so(admin_client, unreachable_replica):
    ConversationFactory(thread_id="replica-down")

    assert listed_threads(admin_client) == (["replica-down"], DEFAULT_DB_ALIAS)
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["replica_notice"] == "The read replica is unreachable: reading from the primary."


def test_a_replica_that_goes_down_under_a_request_is_answered_from_the_primary(admin_client, unreachable_replica):
    from smart_support import replica_reads

    ConversationFactory(thread_id="replica-went-down")
    # the last look, a moment ago, found it well
    replica_reads._last_status = ReplicaStatus(reachable=True, lag_seconds=0.0, checked_at=time.monotonic())

    assert listed_threads(admin_client) == (["replica-went-down"], DEFAULT_DB_ALIAS)
