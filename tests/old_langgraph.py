"""Older langgraph releases writing real checkpoints, for tests that read them.

Each release gets a virtual environment of its own under the var directory (``SMART_SUPPORT_VAR_DIR``, else
``var/``), made once with ``python -m venv`` and ``pip install`` and reused while its marker file is there.
``tests/apps/old_writer.py`` then runs in it as a subprocess and writes its conversations into a database of
their own, whose checkpoint tables that release's ``PostgresSaver.setup()`` creates: the rows are exactly
what a customer's agent on that release leaves behind, old table layout included.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings
from psycopg.conninfo import conninfo_to_dict, make_conninfo

WRITER = Path(__file__).parent / "apps" / "old_writer.py"
PSYCOPG = ("psycopg==3.3.9", "psycopg-binary==3.3.9", "psycopg-pool==3.3.3")

# Each release with the checkpoint libraries of its time. Checkpoint formats: 0.2.20 writes v1 checkpoints
# through langgraph-checkpoint-postgres 1.0 (no checkpoint_writes.task_path, integer-named task ids,
# pending_sends inside the checkpoint, no interrupt()); 0.2.76 and 0.3 write v1 with pending_sends and
# the 2.0 saver; 0.4 writes v2 ("branch:to:<node>" channels); 0.6 v4 with xxhash task ids; 1.0 the 3.0 saver.
RELEASES: dict[str, tuple[str, ...]] = {
    "0.2.20": ("langgraph==0.2.20", "langgraph-checkpoint==1.0.12", "langgraph-checkpoint-postgres==1.0.9",
               "langchain-core==0.3.86"),
    "0.2.76": ("langgraph==0.2.76", "langgraph-checkpoint==2.0.16", "langgraph-checkpoint-postgres==2.0.15",
               "langchain-core==0.3.86"),
    "0.3.34": ("langgraph==0.3.34", "langgraph-prebuilt==0.1.8", "langgraph-checkpoint==2.0.26",
               "langgraph-checkpoint-postgres==2.0.21", "langchain-core==0.3.86"),
    "0.4.10": ("langgraph==0.4.10", "langgraph-prebuilt==0.2.3", "langgraph-checkpoint==2.0.26",
               "langgraph-checkpoint-postgres==2.0.21", "langchain-core==0.3.86"),
    "0.6.11": ("langgraph==0.6.11", "langgraph-prebuilt==0.6.5", "langgraph-checkpoint==2.1.2",
               "langgraph-checkpoint-postgres==2.0.25", "langchain-core==0.3.86"),
    "1.0.10": ("langgraph==1.0.10", "langgraph-prebuilt==1.0.8", "langgraph-checkpoint==3.0.1",
               "langgraph-checkpoint-postgres==3.0.5", "langchain-core==1.2.7"),
}
CURRENT = "current"  # the langgraph of the environment running the tests: the reference

# What pip prints when it cannot reach the package index at all (as opposed to a pin that does not resolve).
_UNREACHABLE = (
    "(from versions: none)", "NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
    "Network is unreachable", "ProxyError", "Connection refused",
)
PIP_TIMEOUT_SECONDS = 600
WRITER_TIMEOUT_SECONDS = 180


class ReleaseUnavailable(Exception):
    """The release's environment could not be made because the package index cannot be reached."""


@dataclass
class WrittenDatabase:
    release: str
    langgraph: str
    conninfo: str
    threads: list[str]
    skipped: dict[str, str] = field(default_factory=dict)


def environments_dir() -> Path:
    return Path(settings.VAR_DIR) / "old-langgraph"


def release_python(release: str) -> Path:
    """The Python of ``release``'s environment, made on first use and reused while its marker is there."""
    specs = (*RELEASES[release], *PSYCOPG)
    digest = hashlib.sha256("\n".join(specs).encode()).hexdigest()[:10]
    home = environments_dir() / f"langgraph-{release}-{digest}"
    python = home / "bin" / "python"
    marker = home / "installed.txt"
    if marker.exists() and python.exists():
        return python
    shutil.rmtree(home, ignore_errors=True)  # a half-made environment from an interrupted run
    home.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, capture_output=True, timeout=120)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q", *specs],
        capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS,
    )
    if pip.returncode != 0:
        output = (pip.stdout + pip.stderr).strip()
        shutil.rmtree(home, ignore_errors=True)
        tail = "\n".join(output.splitlines()[-6:])
        if any(sign in output for sign in _UNREACHABLE):
            raise ReleaseUnavailable(f"pip cannot reach the package index to install langgraph {release}:\n{tail}")
        raise RuntimeError(f"pip could not install langgraph {release} ({' '.join(specs)}):\n{tail}")
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    marker.write_text(freeze.stdout)
    return python


def database_conninfo(base_conninfo: str, name: str) -> str:
    return make_conninfo(base_conninfo, dbname=name)


def create_database(base_conninfo: str, name: str) -> str:
    """A new, empty database on the server of ``base_conninfo`` (dropped first if a previous run left it)."""
    with psycopg.connect(base_conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return database_conninfo(base_conninfo, name)


def drop_database(base_conninfo: str, name: str) -> None:
    with psycopg.connect(base_conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(base_conninfo: str, release: str) -> str:
    base = conninfo_to_dict(base_conninfo).get("dbname") or "postgres"
    return f"{base}_langgraph_{release.replace('.', '_')}"[:63]


def write_conversations(python: Path | str, conninfo: str, *, release: str) -> WrittenDatabase:
    """Run the writer with ``python`` into the (empty) database of ``conninfo``."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE"}}
    result = subprocess.run(
        [str(python), str(WRITER), conninfo], capture_output=True, text=True, timeout=WRITER_TIMEOUT_SECONDS,
        env=env, cwd=WRITER.parent,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the writer failed under langgraph {release}:\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return WrittenDatabase(release, report["langgraph"], conninfo, report["threads"], report["skipped"])
