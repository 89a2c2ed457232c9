"""Fixtures the analytics tests share."""

import psycopg
import pytest
from django.contrib.auth.models import Permission, User
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rest_framework.test import APIClient

from replay.checkpoints import checkpoint_conninfo, close_checkpoint_pool


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


@pytest.fixture
def empty_checkpoint_database(db, settings):
    """A second database on the same server, named by CHECKPOINT_DATABASE_URL, before the agent made its tables."""
    params = conninfo_to_dict(checkpoint_conninfo())  # Django's test database, until the URL is set
    name = f"{params['dbname']}_checkpoints"
    admin_url = make_conninfo(**{**params, "dbname": "postgres"})
    url = make_conninfo(**{**params, "dbname": name, "password": "not-for-logs"})
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    settings.CHECKPOINT_DATABASE_URL = url
    yield url
    close_checkpoint_pool()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def checkpoint_database(empty_checkpoint_database):
    """The same, holding LangGraph's tables."""
    with PostgresSaver.from_conn_string(empty_checkpoint_database) as saver:
        saver.setup()
    return empty_checkpoint_database
