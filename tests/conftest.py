"""Shared fixtures: checkpoint tables in the test database and the reference agent writing real checkpoints."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from datetime import datetime

import psycopg
import pytest
from django.apps import apps as django_apps

from replay.checkpoints import checkpoint_conninfo, setup_checkpoint_tables
from smart_support.agent.graph import build_support_graph
from smart_support.agent.scenarios import ConversationPlan
from smart_support.agent.simulate import ScriptBook, connect_checkpointer, run_conversation

CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")


@pytest.fixture(autouse=True)
def backfill_in_process(settings):
    """Worker processes commit on their own connections, outside the test's transaction: tests derive
    in-process unless they ask for workers (and a transactional database) themselves."""
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "BACKFILL_WORKERS": 1}


# The migrations that seed rows, in order: the list prices a fresh install starts with.
SEEDING_MIGRATIONS = ("analytics.migrations.0002_seed_model_prices", "analytics.migrations.0009_seed_provider_list_prices")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After pytest-django creates the test database, create LangGraph's tables in it, empty: a test
    database kept by ``--reuse-db`` (the mutation runs) may hold rows of a run killed midway. Such a
    database also lost the seeded prices to the flush after a transactional test of the session before:
    they are seeded again, as the migrations seed them (an unchanged row is left alone)."""
    with django_db_blocker.unblock():
        setup_checkpoint_tables()
        with psycopg.connect(checkpoint_conninfo(), autocommit=True) as connection:
            for table in CHECKPOINT_TABLES:
                connection.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        for migration in SEEDING_MIGRATIONS:
            importlib.import_module(migration).seed_prices(django_apps, None)


@pytest.fixture
def checkpoint_db(db) -> Iterator[str]:
    """The test database's connection string, with the checkpoint tables emptied after the test.

    DELETE, not TRUNCATE: TRUNCATE waits for the lock held by the test's open transaction."""
    conninfo = checkpoint_conninfo()
    yield conninfo
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for table in CHECKPOINT_TABLES:
            connection.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names


@pytest.fixture
def run_reference_agent(checkpoint_db) -> Iterator[Callable[[ConversationPlan, datetime], None]]:
    """Play conversation plans through the real reference agent and the real PostgresSaver."""
    book = ScriptBook()
    checkpointer = connect_checkpointer(checkpoint_db)
    graph = build_support_graph(reply_for=book.reply_for, checkpointer=checkpointer)

    def run(plan: ConversationPlan, started_at: datetime) -> None:
        run_conversation(graph=graph, book=book, plan=plan, started_at=started_at)

    yield run
    checkpointer.conn.close()


@pytest.fixture
def checkpointer(checkpoint_db):
    """A real PostgresSaver on the test database, for graphs built in a test."""
    saver = connect_checkpointer(checkpoint_db)
    yield saver
    saver.conn.close()


@pytest.fixture
def checkpoint_source(checkpoint_db):
    from replay.checkpoints import PostgresCheckpointSource

    with PostgresCheckpointSource(conninfo=checkpoint_db) as source:
        yield source


@pytest.fixture(autouse=True)
def checkpoint_ids_on_each_tests_own_clock():
    """LangGraph never issues a checkpoint id older than the last one in the process: after a test that wrote
    checkpoints now, a test writing them in the past would get ids of now, and its threads would look unsettled
    (derived again by the next backfill), which they are not when the test runs alone."""
    from langgraph.checkpoint.base import id as checkpoint_id_module

    checkpoint_id_module._last_v6_timestamp = None


@pytest.fixture(autouse=True)
def request_rates_unlimited(settings):
    """The suite sends hundreds of requests a minute as one user: DRF's rate limits are off unless a test
    sets them (tests/access/test_throttling.py)."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "off", "user": "off"},
    }


@pytest.fixture(autouse=True)
def default_language_after_each_test():
    """LocaleMiddleware leaves a request's language active in the thread: a test that asked in Chinese
    would hand Chinese to the next test's direct calls."""
    yield
    from django.utils import translation

    translation.deactivate()
