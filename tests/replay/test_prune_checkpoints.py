"""prune_checkpoints: retention deletes the checkpoints of idle, derived threads; their analytics and a
replay that says so remain."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.types import Command
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rest_framework.test import APIClient

from analytics.derive import derive_thread
from analytics.models import AnalyticsEvent, FailedThread
from analytics.recorder import PostgresAnalyticsRecorder
from analytics.sync import backfill, sync_recent
from replay.checkpoint_pruning import delete_threads
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation, TenantAccess
from smart_support.agent.graph import build_support_graph
from smart_support.agent.scenarios import plan_conversation
from smart_support.agent.simulate import ScriptBook, run_conversation
from tests.apps.supervisor_app import build_supervisor_app
from tests.replay.damaged_threads import weather_graph

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
IDLE = NOW - timedelta(days=40)
TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


def weather_turn(checkpointer, thread_id: str, *, at: datetime, turn: int) -> None:
    """One turn of a small real graph on ``thread_id``, at ``at``."""
    checkpoint_id_module._last_v6_timestamp = None  # uuid6 ids must be allowed to go back in time
    graph = weather_graph(checkpointer, [AIMessage(f"Sunny in Paris (answer {turn})", id=f"{thread_id}-ai-{turn}")])
    config = {"configurable": {"thread_id": thread_id}, "metadata": {"tenant": "acme-eu"}}
    with time_machine.travel(at, tick=True):
        graph.invoke({"messages": [HumanMessage("weather in Paris?", id=f"{thread_id}-user-{turn}")]}, config)


def supervisor_thread(checkpointer, thread_id: str, *, at: datetime) -> None:
    """A supervisor handing over to agents compiled as subgraphs (their own checkpoint namespaces)."""
    checkpoint_id_module._last_v6_timestamp = None
    graph = build_supervisor_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread_id}, "metadata": {"tenant": "acme-eu"}}
    with time_machine.travel(at, tick=True):
        graph.invoke({"messages": [("user", "Is LH123 on time? And book me a hotel in Lisbon")]}, config)
        graph.invoke(Command(resume={"approved": True, "reviewer": "kim"}), config)


def rows_of(conninfo: str, thread_id: str) -> dict[str, int]:
    with psycopg.connect(conninfo) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table} WHERE thread_id = %s", (thread_id,)).fetchone()[0]  # noqa: S608
            for table in TABLES
        }


def subgraph_rows(conninfo: str, thread_id: str) -> int:
    with psycopg.connect(conninfo) as connection:
        return connection.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s AND checkpoint_ns <> ''", (thread_id,)
        ).fetchone()[0]


def derive(**options):
    with time_machine.travel(NOW, tick=False):
        call_command("backfill_events", verbosity=0, **options)


def prune(*args: str, capsys=None) -> str:
    with time_machine.travel(NOW, tick=False):
        call_command("prune_checkpoints", *args)
    return capsys.readouterr().out if capsys else ""


def snapshot(thread_ids: list[str]):
    """The conversation rows and events of these threads, as a manager would compare two runs."""
    conversations = sorted(
        Conversation.objects.filter(thread_id__in=thread_ids).values_list(
            "thread_id", "status", "step_count", "cost_usd", "input_tokens", "last_checkpoint_id", "checkpoints_pruned_at"
        )
    )
    events = sorted(
        AnalyticsEvent.objects.filter(conversation__thread_id__in=thread_ids).values_list(
            "conversation__thread_id", "dedup_key", "event_type", "cost_usd", "occurred_at"
        )
    )
    return conversations, events


@pytest.fixture
def world(checkpoint_db, checkpointer, monkeypatch):
    """Idle derived threads (two of the reference agent, one of a supervisor with subgraph namespaces), one
    recent derived one, one idle thread never derived, one derived before it grew, one whose derivation failed."""
    book = ScriptBook()
    graph = build_support_graph(reply_for=book.reply_for, checkpointer=checkpointer)
    idle = [plan_conversation(seed=61, index=index, scenario=name) for index, name in enumerate(["refund_approved", "order_status"])]
    recent = plan_conversation(seed=61, index=2, scenario="order_status")
    underived = plan_conversation(seed=61, index=3, scenario="invoice_question")
    for offset, plan in enumerate(idle):
        run_conversation(graph=graph, book=book, plan=plan, started_at=IDLE + timedelta(hours=offset))
    run_conversation(graph=graph, book=book, plan=recent, started_at=NOW - timedelta(days=2))
    supervisor_thread(checkpointer, "supervisor", at=IDLE + timedelta(hours=3))
    weather_turn(checkpointer, "stale", at=IDLE, turn=0)
    weather_turn(checkpointer, "failed", at=IDLE, turn=0)

    def derive_with_a_bug(*, thread, **options):
        if thread.thread_id == "failed":
            raise ValueError("a bug only this thread reaches")
        return derive_thread(thread=thread, **options)

    monkeypatch.setattr("analytics.sync.derive_thread", derive_with_a_bug)
    derive()
    monkeypatch.undo()
    weather_turn(checkpointer, "stale", at=IDLE + timedelta(days=1), turn=1)  # grew after it was derived
    run_conversation(graph=graph, book=book, plan=underived, started_at=IDLE)
    return {
        "pruned": [*(plan.thread_id for plan in idle), "supervisor"],
        "kept": [recent.thread_id, underived.thread_id, "stale", "failed"],
        "recent": recent.thread_id,
        "underived": underived.thread_id,
    }


DONE = (
    "DONE prune_checkpoints: 3 threads pruned ({checkpoints} checkpoints, {blobs} blobs, {writes} writes) in <s> s; "
    "kept 1 not derived, 1 derived at an older checkpoint, 0 awaiting approval, 1 failed, 1 active within 30 days"
)


def without_duration(out: str) -> str:
    return re.sub(r"in \d+\.\d s", "in <s> s", out)


def test_only_idle_derived_threads_lose_their_rows_in_every_table_and_namespace(world, checkpoint_db, capsys):
    before = {thread: rows_of(checkpoint_db, thread) for thread in world["pruned"] + world["kept"]}
    assert subgraph_rows(checkpoint_db, "supervisor") > 0
    assert FailedThread.objects.filter(thread_id="failed").exists()
    capsys.readouterr()

    out = prune("--older-than", "30", capsys=capsys)

    expected = {table: sum(before[thread][table] for thread in world["pruned"]) for table in TABLES}
    assert without_duration(out).splitlines() == [
        "START prune_checkpoints: threads idle since 2026-10-31 12:00 UTC (30 days)",
        DONE.format(checkpoints=expected["checkpoints"], blobs=expected["checkpoint_blobs"], writes=expected["checkpoint_writes"]),
    ]
    for thread in world["pruned"]:
        assert rows_of(checkpoint_db, thread) == {table: 0 for table in TABLES}
    for thread in world["kept"]:
        assert rows_of(checkpoint_db, thread) == before[thread]
    assert dict(Conversation.objects.filter(checkpoints_pruned_at__isnull=False).values_list("thread_id", "checkpoints_pruned_at")) == {
        thread: NOW for thread in world["pruned"]
    }


def test_dry_run_deletes_nothing_and_reports_the_counts_the_run_then_has(world, checkpoint_db, capsys):
    before = {thread: rows_of(checkpoint_db, thread) for thread in world["pruned"] + world["kept"]}
    capsys.readouterr()

    dry = prune("--older-than", "30", "--dry-run", capsys=capsys)

    assert {thread: rows_of(checkpoint_db, thread) for thread in before} == before
    assert not Conversation.objects.filter(checkpoints_pruned_at__isnull=False).exists()
    real = prune("--older-than", "30", capsys=capsys)
    assert without_duration(dry).replace(" (dry run)", "").replace("would be pruned", "pruned") == without_duration(real)


def test_a_second_run_deletes_nothing_more(world, checkpoint_db, capsys):
    prune("--older-than", "30")
    kept = {thread: rows_of(checkpoint_db, thread) for thread in world["kept"]}
    capsys.readouterr()

    out = prune("--older-than", "30", capsys=capsys)

    assert "DONE prune_checkpoints: 0 threads pruned (0 checkpoints, 0 blobs, 0 writes)" in out
    assert {thread: rows_of(checkpoint_db, thread) for thread in world["kept"]} == kept


def test_the_period_decides_what_is_idle(world, checkpoint_db, capsys):
    capsys.readouterr()
    assert "0 threads pruned" in prune("--older-than", "41", capsys=capsys)  # the idle threads are 40 days old
    assert "3 threads pruned" in prune("--older-than", "3", capsys=capsys)
    assert rows_of(checkpoint_db, world["recent"])["checkpoints"] > 0  # two days idle
    assert "1 threads pruned" in prune("--older-than", "1", capsys=capsys)
    assert rows_of(checkpoint_db, world["recent"])["checkpoints"] == 0


def test_a_run_killed_midway_loses_nothing_and_the_next_run_finishes(world, checkpoint_db, monkeypatch, capsys):
    calls = []

    def killed_on_the_second_batch(*, connection, heads):
        calls.append(heads)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return delete_threads(connection=connection, heads=heads)

    monkeypatch.setattr("analytics.retention.delete_threads", killed_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        prune("--older-than", "30", "--batch-size", "1")
    monkeypatch.undo()
    # the first thread is gone and marked; the second, all its rows still there, unmarked again on the way out
    assert Conversation.objects.filter(checkpoints_pruned_at__isnull=False).count() == 1
    assert sum(rows_of(checkpoint_db, thread)["checkpoints"] for thread in world["pruned"]) > 0
    assert rows_of(checkpoint_db, world["underived"])["checkpoints"] > 0

    capsys.readouterr()
    out = prune("--older-than", "30", capsys=capsys)

    assert "2 threads pruned" in out
    for thread in world["pruned"]:
        assert rows_of(checkpoint_db, thread) == {table: 0 for table in TABLES}
    for thread in world["kept"]:
        assert rows_of(checkpoint_db, thread)["checkpoints"] > 0


def test_a_thread_that_grew_after_it_was_chosen_is_kept_whole(world, checkpoint_db):
    thread = world["pruned"][0]
    before = rows_of(checkpoint_db, thread)
    with psycopg.connect(checkpoint_db, autocommit=True) as connection:
        deleted = delete_threads(connection=connection, heads={thread: "an older head"})
    assert (deleted.thread_ids, deleted.grown) == ((), (thread,))
    assert rows_of(checkpoint_db, thread) == before


@pytest.fixture
def select_only_role(checkpoint_db, settings):
    """A real PostgreSQL role that may read the checkpoint tables and not delete from them."""
    role = "smart_support_prune_reader"
    with psycopg.connect(checkpoint_db, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():  # left by a killed run
            connection.execute(f'DROP OWNED BY "{role}"')
            connection.execute(f'DROP ROLE "{role}"')
        connection.execute(f'CREATE ROLE "{role}" LOGIN')
        connection.execute(f'GRANT SELECT ON {", ".join(TABLES)} TO "{role}"')
    settings.CHECKPOINT_DATABASE_URL = make_conninfo(**{**conninfo_to_dict(checkpoint_db), "user": role, "password": None})
    yield role
    with psycopg.connect(checkpoint_db, autocommit=True) as connection:
        connection.execute(f'DROP OWNED BY "{role}"')
        connection.execute(f'DROP ROLE "{role}"')


def test_a_role_without_delete_is_told_the_grant_to_run_and_nothing_is_deleted(world, checkpoint_db, select_only_role):
    before = {thread: rows_of(checkpoint_db, thread) for thread in world["pruned"]}

    with pytest.raises(CommandError) as refused:
        prune("--older-than", "30")

    message = str(refused.value)
    assert message.startswith(
        f"role '{select_only_role}' may not DELETE from checkpoints, checkpoint_blobs, checkpoint_writes in the checkpoint "
        f"database (dbname={conninfo_to_dict(checkpoint_db)['dbname']} user={select_only_role}"
    )
    assert message.endswith(
        "nothing was deleted. As the tables' owner, run: "
        f'GRANT DELETE ON checkpoints, checkpoint_blobs, checkpoint_writes TO "{select_only_role}";'
    )
    assert "\n" not in message
    assert {thread: rows_of(checkpoint_db, thread) for thread in before} == before
    assert not Conversation.objects.filter(checkpoints_pruned_at__isnull=False).exists()


def test_a_role_without_delete_may_still_dry_run(world, select_only_role, capsys):
    capsys.readouterr()
    assert "3 threads would be pruned" in prune("--older-than", "30", "--dry-run", capsys=capsys)


@pytest.mark.parametrize("days", ["0", "-1", "abc", "1.5"])
def test_bad_older_than_is_refused_with_exit_code_2(checkpoint_db, days):
    with pytest.raises(CommandError) as refused:
        call_command("prune_checkpoints", f"--older-than={days}")
    assert refused.value.returncode == 2
    assert str(refused.value) == f"--older-than must be a whole number of days, at least 1; got {days!r}"


def test_bad_older_than_exits_2_with_one_line(checkpoint_db):
    from tests.test_commands import PROJECT_DIR

    result = subprocess.run(
        [sys.executable, "manage.py", "prune_checkpoints", "--older-than", "abc"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )
    assert (result.returncode, result.stderr.strip().splitlines()) == (
        2, ["CommandError: --older-than must be a whole number of days, at least 1; got 'abc'"]
    )


# -- what the back office shows afterwards ----------------------------------------------------------------

def api_client(name: str, *codenames: str, tenants: tuple[str, ...] = ()) -> APIClient:
    user = User.objects.create_user(name)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "view_analyticsevent", *codenames]))
    for tenant in tenants:
        TenantAccess.objects.create(user=user, tenant=tenant)
    client = APIClient()
    client.force_authenticate(user)
    return client


def listed(client: APIClient, thread_id: str) -> dict:
    rows = client.get("/api/conversations", {"page_size": 200}).json()["results"]
    return next(row for row in rows if row["thread_id"] == thread_id)


def test_replay_api_of_a_pruned_thread_is_410_with_its_summary(world, checkpoint_db):
    client = api_client("manager", "view_all_tenants", "view_unredacted")
    thread = world["pruned"][0]
    prune("--older-than", "30")

    response = client.get(f"/api/replay/{thread}")

    assert response.status_code == 410
    assert response.json() == {
        "thread_id": thread,
        "detail": "The checkpoints of this conversation were pruned on 2026-11-30 by retention (prune_checkpoints): its "
        "step-by-step replay is gone, its analytics (this summary, its events, the dashboard's numbers) remain.",
        "checkpoints_pruned_at": "2026-11-30T12:00:00Z",
        "conversation": listed(client, thread),
    }
    assert client.get("/api/replay/never-was-a-thread").status_code == 404
    assert client.get(f"/api/replay/{world['kept'][0]}").status_code == 200


def test_pruned_replay_keeps_tenant_scoping_and_masking(world, checkpoint_db):
    thread = world["pruned"][0]
    tenant = Conversation.objects.get(thread_id=thread).tenant
    prune("--older-than", "30")
    outsider = api_client("outsider", tenants=("no-such-tenant",))
    masked = api_client("masked", tenants=(tenant,))

    assert outsider.get(f"/api/replay/{thread}").status_code == 404
    response = masked.get(f"/api/replay/{thread}")
    assert response.status_code == 410
    assert response.json()["conversation"] == listed(masked, thread)
    assert "@" not in str(response.json()["conversation"]["metadata"])


def test_admin_replay_of_a_pruned_thread_shows_its_summary_and_why(world, checkpoint_db, admin_client):
    from replay.admin_columns import replay_url

    thread = world["pruned"][0]
    conversation = Conversation.objects.get(thread_id=thread)
    prune("--older-than", "30")

    response = admin_client.get(replay_url(thread_id=thread))

    assert response.status_code == 410
    page = response.content.decode()
    assert "were pruned on 2026-11-30 by retention (prune_checkpoints)" in page
    assert f'<strong class="steps">{conversation.step_count}</strong>' in page
    assert f'<strong class="tenant">{conversation.tenant}</strong>' in page
    assert admin_client.get(replay_url(thread_id="never-was-a-thread")).status_code == 404


def test_dashboard_and_api_numbers_are_unchanged_by_pruning(world, checkpoint_db, admin_client):
    client = api_client("manager", "view_all_tenants", "view_unredacted")
    window = {"from": "2026-10-01", "to": "2026-11-30", "tz": "UTC"}
    with time_machine.travel(NOW, tick=False):
        analytics = client.get("/api/analytics", window).json()
        conversations = client.get("/api/conversations", {"page_size": 200}).json()["results"]
        dashboard = admin_client.get("/admin/analytics/dashboard/", window).context["cards"]
    assert analytics["conversations"] == 5

    prune("--older-than", "30")

    with time_machine.travel(NOW, tick=False):
        assert client.get("/api/analytics", window).json() == analytics
        assert client.get("/api/conversations", {"page_size": 200}).json()["results"] == conversations
        assert admin_client.get("/admin/analytics/dashboard/", window).context["cards"] == dashboard


# -- the sync never takes a pruned thread for a vanished one -------------------------------------------------

def test_rebuild_after_pruning_keeps_the_pruned_conversations_and_their_events(world, checkpoint_db):
    prune("--older-than", "30")
    before = snapshot(world["pruned"])
    assert {thread for thread, *_ in before[1]} == set(world["pruned"])

    derive(rebuild=True)

    assert snapshot(world["pruned"]) == before
    assert Conversation.objects.filter(checkpoints_pruned_at__isnull=False).count() == 3
    assert Conversation.objects.filter(thread_id=world["underived"]).exists()  # the rebuild did run


def test_live_sync_and_reconcile_leave_pruned_conversations_alone_even_when_the_thread_comes_back(world, checkpointer):
    prune("--older-than", "30")
    before = snapshot(world["pruned"])
    pruned = world["pruned"][0]
    weather_turn(checkpointer, pruned, at=NOW - timedelta(minutes=10), turn=0)  # the app writes to the thread again

    recorder = PostgresAnalyticsRecorder()
    with time_machine.travel(NOW, tick=False), PostgresCheckpointSource() as source:
        sync_recent(source=source, recorder=recorder, watermark="")
        backfill(source=source, recorder=recorder)
        backfill(source=source, recorder=recorder, thread_id=pruned)

    assert snapshot(world["pruned"]) == before
    assert Conversation.objects.get(thread_id=world["underived"]).last_checkpoint_id  # the sync did run
    # staff see why its new turn is missing, and the passes stop reading it until it grows again
    failure = FailedThread.objects.get(thread_id=pruned)
    assert failure.error == (
        "WrittenAfterPruning: the thread was written to after its checkpoints were pruned: the turns since are not "
        "derived, the analytics of the pruned turns are kept"
    )
    with time_machine.travel(NOW, tick=False), PostgresCheckpointSource() as source:
        assert failure.last_checkpoint_id == source.get_thread(thread_id=pruned).newest_checkpoint_id
        assert sync_recent(source=source, recorder=recorder, watermark="")[1].failed == 0
