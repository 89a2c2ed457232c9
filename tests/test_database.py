"""Connection settings from DATABASE_URL and the embedded server's handle list."""

import json
import os
import signal
import subprocess
import sys

import pytest

from smart_support.database import describe_server, django_database
from smart_support.embedded_postgres import prune_stale_handles
from tests.test_commands import PROJECT_DIR


def test_url_becomes_django_settings_with_the_pool():
    database = django_database("postgresql://support:s3cret@db.internal:6543/backoffice?sslmode=require", pool=True)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("backoffice", "support", "s3cret")
    assert (database["HOST"], database["PORT"]) == ("db.internal", "6543")
    assert database["OPTIONS"]["sslmode"] == "require"
    assert database["OPTIONS"]["pool"]["max_size"] == 8
    # a server that is down answers within seconds; connections a restart broke are replaced
    assert database["OPTIONS"]["connect_timeout"] == 2 and database["OPTIONS"]["pool"]["timeout"] == 2
    assert database["CONN_HEALTH_CHECKS"] is True


def test_a_connect_timeout_in_the_url_wins():
    database = django_database("postgresql://support@db.internal/backoffice?connect_timeout=7", pool=True)
    assert database["OPTIONS"]["connect_timeout"] == "7"


def test_socket_url_without_pool_keeps_persistent_connections():
    database = django_database("postgresql://postgres:@/postgres?host=/tmp/pg", pool=False)
    assert database["HOST"] == "/tmp/pg"
    assert database["CONN_MAX_AGE"] == 60
    assert "pool" not in database["OPTIONS"]
    assert database["CONN_HEALTH_CHECKS"] is True
    assert describe_server(database) == "/tmp/pg, database 'postgres'"


def test_dead_processes_are_pruned_from_the_handle_list(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([finished.pid, 1]))

    assert prune_stale_handles(tmp_path) == [1]
    assert json.loads(handles.read_text()) == [1]


def test_an_unreadable_handle_list_counts_as_empty(tmp_path):
    (tmp_path / ".handle_pids.json").write_text("{not json")
    assert prune_stale_handles(tmp_path) == []
    assert prune_stale_handles(tmp_path / "missing") == []


needs_embedded = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="only the embedded server keeps a handle list"
)


def _start_holder() -> subprocess.Popen:
    holder = subprocess.Popen(
        [
            sys.executable, "manage.py", "shell", "--no-imports", "-c",
            "from django.db import connection; connection.ensure_connection(); "
            "import time; print('ready', flush=True); time.sleep(120)",
        ],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip().endswith("ready")
    return holder


def _handles() -> list[int]:
    from django.conf import settings

    return json.loads((settings.VAR_DIR / "pgdata" / ".handle_pids.json").read_text() or "[]")


@needs_embedded
def test_a_process_killed_with_sigkill_does_not_keep_the_server_forever():
    holder = _start_holder()
    assert holder.pid in _handles()
    holder.kill()
    holder.wait()

    subprocess.run([sys.executable, "manage.py", "showmigrations"], cwd=PROJECT_DIR, check=True, capture_output=True, timeout=120)

    assert holder.pid not in _handles()  # pruned by the next start, so the last live process can stop it


@needs_embedded
def test_a_process_stopped_with_sigterm_lets_go_of_the_server():
    holder = _start_holder()
    holder.send_signal(signal.SIGTERM)
    holder.wait(timeout=30)
    assert holder.pid not in _handles()
