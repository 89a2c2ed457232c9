"""simulate_conversations and demo, as staff run them."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from replay.checkpoints import count_checkpoint_rows

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
