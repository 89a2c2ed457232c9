"""simulate_conversations and demo, as staff run them."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from replay.checkpoints import count_checkpoint_rows
from tests.processes import stop_process

PROJECT_DIR = Path(__file__).resolve().parent.parent


def test_simulate_writes_the_requested_conversations_once(checkpoint_db, capsys):
    call_command("simulate_conversations", count=25, days=3, seed=11, workers=2, verbosity=0)
    assert count_checkpoint_rows()["threads"] == 25

    call_command("simulate_conversations", count=25, days=3, seed=11, workers=2, verbosity=0)
    assert count_checkpoint_rows()["threads"] == 25
    assert "0 written, 25 already present" in capsys.readouterr().out


@pytest.mark.parametrize(("option", "value"), [("count", -1), ("days", 0), ("workers", 0)])
def test_simulate_rejects_non_positive_numbers(checkpoint_db, option, value):
    with pytest.raises(CommandError, match=f"--{option} must be a whole number of at least 1; got {value}") as error:
        call_command("simulate_conversations", **{option: value})
    assert error.value.returncode == 2


def test_simulate_bad_option_exits_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_conversations", "--count", "-1"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["CommandError: --count must be a whole number of at least 1; got -1"]


def test_demo_prepares_everything_once(checkpoint_db, capsys):
    call_command("demo", conversations=6, days=2, no_serve=True)
    first = capsys.readouterr().out
    assert "DONE demo: checkpoint tables hold 6 threads" in first
    assert get_user_model().objects.get(username="admin").is_superuser
    (password,) = re.findall(r"user 'admin', password '([^']+)'", first)
    (token,) = re.findall(r"API token: ([0-9a-f]{64})", first)
    assert Client().post("/admin/login/", {"username": "admin", "password": password}).status_code == 302
    assert Client().get("/api/conversations", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200

    call_command("demo", conversations=6, days=2, no_serve=True)
    second = capsys.readouterr().out
    assert "not simulating again" in second
    assert count_checkpoint_rows()["threads"] == 6
    assert password not in second and token not in second
    assert "with the password printed on the first run" in second


def test_unreachable_database_is_named_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "manage.py", "showmigrations"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://support@127.0.0.1:1/backoffice"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot use the database at 127.0.0.1:1, database 'backoffice'")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(shutil.which("psql") is None, reason="dbshell runs PostgreSQL's psql")
def test_dbshell_reaches_the_database_the_commands_use():
    """With the embedded database, dbshell starts (or joins) it like any command that connects."""
    result = subprocess.run(
        [sys.executable, "manage.py", "dbshell", "--", "-At", "-c", "SELECT 41 + 1"],
        cwd=PROJECT_DIR, env={**os.environ, "DEBUG": "true"}, capture_output=True, text=True, timeout=120,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "42"), result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sync_workers_of(process: psutil.Process) -> list[psutil.Process]:
    return [
        child for child in process.children(recursive=True)
        if "backfill_events" in child.cmdline() and "--follow" in child.cmdline()
    ]


@pytest.mark.django_db(transaction=True)
def test_demo_serves_with_a_sync_worker_that_stops_when_the_demo_gets_sigterm(checkpoint_db):
    port = _free_port()
    env = {**os.environ, "DATABASE_NAME": connection.settings_dict["NAME"], "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--conversations=2", "--days=1", f"--addrport=127.0.0.1:{port}"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(120, demo.kill)  # a demo that never gets this far fails instead of hanging
    watchdog.start()
    try:
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("FOLLOW backfill_events"):
                break
        workers = _sync_workers_of(psutil.Process(demo.pid))
        assert len(workers) == 1, "".join(lines)
    finally:
        watchdog.cancel()
        out, err = stop_process(demo, sig=signal.SIGTERM, timeout=30)

    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == [], "the sync worker outlived the demo"
    assert "Traceback" not in err, err
    assert demo.returncode == 128 + signal.SIGTERM
    assert out.rstrip().endswith("STOP backfill_events --follow")
