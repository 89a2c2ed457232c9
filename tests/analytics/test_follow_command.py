"""``backfill_events --follow`` as staff run it: a process of its own that keeps syncing new conversations
until Ctrl-C. (A subprocess runs outside a mutation run's instrumentation: bench/mutation.py leaves this
file out and scores follow() by tests/analytics/test_live_sync.py.)"""

import os
import select
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
from django.db import connection

from replay.models import Conversation
from smart_support.agent.scenarios import plan_conversation
from tests.analytics.test_backfill_options import write_to
from tests.processes import stop_process
from tests.test_commands import PROJECT_DIR


def run(run_reference_agent, *, index: int) -> str:
    plan = plan_conversation(seed=72, index=index, scenario="order_status")
    run_reference_agent(plan, datetime.now(timezone.utc))  # live sync follows the wall clock
    return plan.thread_id


def derived_thread_ids() -> set[str]:
    return set(Conversation.objects.values_list("thread_id", flat=True))


def _wait_for(predicate, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def _line_starting(prefix: str, stream, *, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([stream], [], [], 0.2)[0]:
            line = stream.readline()
            if line.startswith(prefix):
                return line
    raise AssertionError(f"no line starting {prefix!r} within {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_follow_command_syncs_new_conversations_and_stops_cleanly_on_ctrl_c(run_reference_agent):
    before = run(run_reference_agent, index=0)
    env = {**os.environ, "DATABASE_NAME": connection.settings_dict["NAME"], "PYTHONUNBUFFERED": "1"}
    follower = subprocess.Popen(
        [sys.executable, "manage.py", "backfill_events", "--follow", "--interval=0.2"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: before in derived_thread_ids(), seconds=60, what="the conversation written before the start")
        after = run(run_reference_agent, index=1)
        _wait_for(lambda: after in derived_thread_ids(), seconds=60, what="a conversation written while following")
        assert follower.poll() is None, "the follower stopped on its own"
    finally:
        out, err = stop_process(follower)

    assert follower.returncode == 0, err
    assert "SYNC 1 threads" in out
    assert out.rstrip().endswith("STOP backfill_events --follow")
    assert "Traceback" not in err


@pytest.mark.django_db(transaction=True)
def test_a_sync_worker_started_before_the_agent_waits_for_its_tables_then_syncs(empty_checkpoint_database):
    env = {
        **os.environ, "DATABASE_NAME": connection.settings_dict["NAME"], "PYTHONUNBUFFERED": "1",
        "CHECKPOINT_DATABASE_URL": empty_checkpoint_database,
    }
    follower = subprocess.Popen(
        [sys.executable, "manage.py", "backfill_events", "--follow", "--interval=0.2"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        waiting = _line_starting("WAIT backfill_events --follow", follower.stdout, seconds=60)
        time.sleep(1)
        assert follower.poll() is None, "the worker gave up instead of waiting"
        thread_id = write_to(empty_checkpoint_database, index=0, scenario="order_status", started_at=datetime.now(timezone.utc))
        _wait_for(lambda: thread_id in derived_thread_ids(), seconds=60, what="the agent's first conversation")
    finally:
        out, err = stop_process(follower)

    assert waiting.startswith("WAIT backfill_events --follow: the checkpoint database (dbname=")
    assert "has no checkpoints, checkpoint_blobs, checkpoint_writes table" in waiting
    assert "FOUND backfill_events --follow: the checkpoint tables are there" in out
    assert "Traceback" not in err
