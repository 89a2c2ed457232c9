"""Connection settings from DATABASE_URL and the embedded server's handle list."""

import json
import subprocess

from smart_support.database import describe_server, django_database
from smart_support.embedded_postgres import prune_stale_handles


def test_url_becomes_django_settings_with_the_pool():
    database = django_database("postgresql://support:s3cret@db.internal:6543/backoffice?sslmode=require", pool=True)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("backoffice", "support", "s3cret")
    assert (database["HOST"], database["PORT"]) == ("db.internal", "6543")
    assert database["OPTIONS"]["sslmode"] == "require"
    assert database["OPTIONS"]["pool"]["max_size"] == 8


def test_socket_url_without_pool_keeps_persistent_connections():
    database = django_database("postgresql://postgres:@/postgres?host=/tmp/pg", pool=False)
    assert database["HOST"] == "/tmp/pg"
    assert database["CONN_MAX_AGE"] == 60
    assert "pool" not in database["OPTIONS"]
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
