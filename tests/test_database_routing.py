"""Without DATABASE_REPLICA_URL nothing routes anywhere else: one database, the router without an opinion,
no replica reads, no cookie. (tests/test_read_replica.py tests a real replica.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router

from analytics.models import ModelPrice
from replay.models import Conversation
from smart_support.db_router import REPLICA, PrimaryReplicaRouter, reading_alias, reads_from
from smart_support.replica_reads import PRIMARY_COOKIE


def databases_of(**environment: str) -> dict:
    """The DATABASES a fresh process builds from this environment (the settings are read at import)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATABASE_")} | environment
    script = "import json; from smart_support import settings; print(json.dumps(settings.DATABASES, default=str))"
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_without_a_replica_url_there_is_one_database():
    assert list(databases_of(DATABASE_URL="postgresql://app@db.internal/support")) == [DEFAULT_DB_ALIAS]


def test_a_replica_url_equal_to_the_database_url_adds_no_database():
    url = "postgresql://app@db.internal/support"
    assert list(databases_of(DATABASE_URL=url, DATABASE_REPLICA_URL=url)) == [DEFAULT_DB_ALIAS]


def test_a_replica_url_adds_the_replica_mirroring_the_default_in_tests():
    databases = databases_of(DATABASE_URL="postgresql://app@db.internal/support",
                             DATABASE_REPLICA_URL="postgresql://reader@replica.internal/support")

    assert (databases[REPLICA]["HOST"], databases[REPLICA]["USER"], databases[REPLICA]["NAME"]) == (
        "replica.internal", "reader", "support")
    assert databases[REPLICA]["TEST"] == {"MIRROR": DEFAULT_DB_ALIAS}


def test_without_a_replica_the_router_has_no_opinion_even_inside_replica_reads():
    assert REPLICA not in connections
    with reads_from(REPLICA):
        assert reading_alias() == DEFAULT_DB_ALIAS
        assert PrimaryReplicaRouter().db_for_read(Conversation) is None
        assert PrimaryReplicaRouter().db_for_write(ModelPrice) is None
        assert router.db_for_read(Conversation) == DEFAULT_DB_ALIAS
    assert PrimaryReplicaRouter().allow_migrate(DEFAULT_DB_ALIAS, "replay") is None


def test_without_a_replica_requests_read_as_before_and_a_write_sets_no_cookie(admin_client):
    listed = admin_client.get("/api/conversations")
    saved = admin_client.post("/admin/replay/conversation/saved-views/", {"name": "mine", "query": "status=active"})

    assert listed.status_code == 200
    assert not hasattr(listed.wsgi_request, "database_reads")
    assert saved.status_code == 302
    assert PRIMARY_COOKIE not in saved.cookies


@pytest.mark.parametrize("app_label", ["auth", "sessions", "axes", "knox", "django_cache"])
def test_the_replica_is_never_migrated(app_label):
    assert PrimaryReplicaRouter().allow_migrate(REPLICA, app_label) is False
