"""prune_checkpoints against what happens around it: a run killed between marking and deleting, a checkpoint
database that refuses writes, and the agent committing a turn while its thread is being deleted."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.core.management.base import CommandError
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.recorder import PostgresAnalyticsRecorder
from analytics.sync import backfill
from replay.checkpoint_pruning import delete_threads
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation
from tests.replay.test_prune_checkpoints import (  # noqa: F401 - the world fixture
    NOW,
    prune,
    rows_of,
    weather_turn,
    world,
)


def newest_checkpoint(conninfo: str, thread_id: str) -> str:
    with psycopg.connect(conninfo) as connection:
        return connection.execute("SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = %s", (thread_id,)).fetchone()[0]


def test_a_thread_a_killed_prune_left_marked_is_derived_again_when_it_grows(world, checkpoint_db, checkpointer):
    """A run killed with SIGKILL after marking a batch leaves the marks and every row; a thread of it the
    customer then comes back to is no longer idle, so no later prune looks at it: the sync, reading it whole,
    takes the mark off and derives its new turn."""
    marked = world["pruned"][0]
    Conversation.objects.filter(thread_id=marked).update(checkpoints_pruned_at=NOW)  # what the killed run left
    weather_turn(checkpointer, marked, at=NOW - timedelta(hours=1), turn=7)
    head = newest_checkpoint(checkpoint_db, marked)

    prune("--older-than", "30")
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False), PostgresCheckpointSource() as source:
        backfill(source=source, recorder=PostgresAnalyticsRecorder())

    conversation = Conversation.objects.get(thread_id=marked)
    assert rows_of(checkpoint_db, marked)["checkpoints"] > 0
    assert conversation.checkpoints_pruned_at is None
    assert conversation.last_checkpoint_id == head


def test_a_prune_stopped_between_marking_and_deleting_takes_its_marks_off(world, checkpoint_db, monkeypatch):
    def stopped(*, connection, heads):
        raise KeyboardInterrupt("Ctrl-C between marking and deleting")

    monkeypatch.setattr("analytics.retention.delete_threads", stopped)
    with pytest.raises(KeyboardInterrupt):
        prune("--older-than", "30", "--batch-size", "1")

    assert not Conversation.objects.filter(checkpoints_pruned_at__isnull=False).exists()
    assert all(rows_of(checkpoint_db, thread)["checkpoints"] > 0 for thread in world["pruned"])


def test_a_read_only_checkpoint_database_is_refused_before_anything_is_marked(world, checkpoint_db, settings):
    """CHECKPOINT_DATABASE_URL may point at a replica of the agent's database, whose role passes the GRANT check
    (privileges replicate) and refuses only at the first DELETE: the run stops first, saying so, and marks
    nothing."""
    # a hot standby refuses writes exactly so: "cannot execute DELETE in a read-only transaction"
    settings.CHECKPOINT_DATABASE_URL = make_conninfo(
        **{**conninfo_to_dict(checkpoint_db), "options": "-c default_transaction_read_only=on"}
    )

    with pytest.raises(CommandError) as refused:
        prune("--older-than", "30")

    assert "read-only" in str(refused.value)
    assert not Conversation.objects.filter(checkpoints_pruned_at__isnull=False).exists()


class _AgentWritesAfterHeadsAreRead:
    """The pruning connection, unchanged, except that the agent commits one more turn on ``thread_id`` right
    after delete_threads has read the threads' heads and before its DELETEs run (a real commit on another
    connection): the window between the check and the act."""

    def __init__(self, connection, *, turn):
        self._connection, self._turn, self.fired = connection, turn, False

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def execute(self, query, params=None, **kwargs):
        result = self._connection.execute(query, params, **kwargs)
        if not self.fired and str(query).startswith("SELECT thread_id, max(checkpoint_id) FROM checkpoints"):
            self.fired = True
            self._turn()
        return result


def test_a_turn_committed_between_the_head_check_and_the_delete_is_not_deleted(world, checkpoint_db, checkpointer):
    """A checkpoint the agent commits after the heads were read and before the DELETE runs is seen by the
    DELETE: the batch is rolled back and the thread, grown, is kept whole."""
    thread = world["pruned"][0]
    head = newest_checkpoint(checkpoint_db, thread)

    def customer_comes_back():
        weather_turn(checkpointer, thread, at=NOW, turn=9)

    with psycopg.connect(checkpoint_db, autocommit=True) as connection:
        racing = _AgentWritesAfterHeadsAreRead(connection, turn=customer_comes_back)
        deleted = delete_threads(connection=racing, heads={thread: head})

    assert racing.fired
    assert newest_checkpoint(checkpoint_db, thread) is not None
    assert deleted.grown == (thread,)
