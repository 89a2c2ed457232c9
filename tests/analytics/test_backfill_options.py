"""backfill_events options staff combine: ``--thread`` with ``--rebuild``, and checkpoints kept in a
database of their own (``CHECKPOINT_DATABASE_URL``, the deployment the README recommends)."""

from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.conninfo import conninfo_to_dict

from replay.checkpoints import count_checkpoint_rows
from replay.models import Conversation
from smart_support.agent.graph import build_support_graph
from smart_support.agent.scenarios import plan_conversation
from smart_support.agent.simulate import ScriptBook, run_conversation

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def two_derived_threads(run_reference_agent):
    plans = [plan_conversation(seed=81, index=index, scenario=name) for index, name in enumerate(["order_status", "refund_approved"])]
    for offset, plan in enumerate(plans):
        run_reference_agent(plan, STARTED_AT + timedelta(hours=offset))
    call_command("backfill_events", verbosity=0)
    return [plan.thread_id for plan in plans]


def test_thread_with_rebuild_derives_that_thread_again(two_derived_threads):
    chosen, _ = two_derived_threads
    derived = Conversation.objects.get(thread_id=chosen)
    Conversation.objects.filter(thread_id=chosen).update(step_count=0, status="unresolved")  # as an older release read it

    call_command("backfill_events", thread=chosen, rebuild=True, verbosity=0)

    again = Conversation.objects.get(thread_id=chosen)
    assert (again.step_count, again.status) == (derived.step_count, derived.status)


def test_thread_with_rebuild_leaves_every_other_conversation_as_it_was(two_derived_threads):
    chosen, other = two_derived_threads
    Conversation.objects.filter(thread_id=other).update(step_count=0)

    call_command("backfill_events", thread=chosen, rebuild=True, verbosity=0)

    assert Conversation.objects.get(thread_id=other).step_count == 0
    assert Conversation.objects.count() == 2


# -- checkpoints in a database of their own ---------------------------------------------------------------

def write_to(url: str, *, index: int, scenario: str, started_at: datetime | None = None) -> str:
    """The reference agent's conversation, through a PostgresSaver of ``url`` that creates its tables first."""
    plan = plan_conversation(seed=82, index=index, scenario=scenario)
    book = ScriptBook()
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        run_conversation(graph=build_support_graph(reply_for=book.reply_for, checkpointer=saver), book=book, plan=plan,
                         started_at=started_at or STARTED_AT + timedelta(hours=index))
    return plan.thread_id


def test_backfill_derives_the_threads_of_a_separate_checkpoint_database(checkpoint_database):
    refund = write_to(checkpoint_database, index=0, scenario="refund_approved")
    escalated = write_to(checkpoint_database, index=1, scenario="escalated_directly")

    call_command("backfill_events", verbosity=0)

    rows = dict(Conversation.objects.values_list("thread_id", "status"))
    assert rows == {refund: "resolved", escalated: "escalated"}


def test_the_replay_reads_a_separate_checkpoint_database(checkpoint_database, admin_client):
    thread_id = write_to(checkpoint_database, index=0, scenario="refund_approved")

    response = admin_client.get(f"/api/replay/{thread_id}")

    assert response.status_code == 200
    types = [step["type"] for step in response.json()["steps"]]
    assert types.count("interrupt") == 1 and types.count("interrupt_resolution") == 1


def test_checkpoint_counts_come_from_the_separate_database(checkpoint_database):
    write_to(checkpoint_database, index=0, scenario="order_status")

    assert count_checkpoint_rows()["threads"] == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM checkpoints")
        assert cursor.fetchone() == (0,)


def test_a_backfill_before_the_agent_made_its_tables_says_where_it_looked_and_what_to_do(empty_checkpoint_database):
    with pytest.raises(CommandError) as refused:
        call_command("backfill_events", verbosity=0)

    message = str(refused.value)
    assert "has no checkpoints, checkpoint_blobs, checkpoint_writes table" in message
    assert f"dbname={conninfo_to_dict(empty_checkpoint_database)['dbname']}" in message
    assert "CHECKPOINT_DATABASE_URL" in message and "PostgresSaver.setup()" in message
    assert "not-for-logs" not in message
