"""Backfill throughput and peak memory, next to the floor: raw read + decode of the same writes.

Usage: .venv/bin/python bench/dataset.py --conversations 5000 && .venv/bin/python bench/backfill.py
Target (bench/README.md): end to end on 2 cores at least the floor measured in the same run (>= 1.0x), peak RSS
<= 300 MB in every process whatever the size.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from dataset import ensure_database  # selects (and migrates) the benchmark database

from common import PROJECT_DIR, setup_django  # noqa: E402


def raw_read_and_decode(batch_size: int = 500) -> tuple[int, float]:
    """The floor: stream every thread's writes in batches and decode each with LangGraph's serializer."""
    import psycopg
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    from replay.checkpoints import PostgresCheckpointSource, checkpoint_conninfo

    serializer = JsonPlusSerializer()
    source = PostgresCheckpointSource()
    threads = 0
    started = time.monotonic()
    batch: list[str] = []
    with psycopg.connect(checkpoint_conninfo()) as connection:

        def flush() -> None:
            rows = connection.cursor(binary=True).execute(
                "SELECT type, blob FROM checkpoint_writes WHERE thread_id = ANY(%s) "
                "AND channel = ANY(ARRAY['messages', '__interrupt__', '__resume__', '__error__'])",
                (batch,),
            )
            for type_, blob in rows:
                serializer.loads_typed((type_, blob))

        for thread_id, _ in source.iter_thread_heads(after=""):
            batch.append(thread_id)
            threads += 1
            if len(batch) == batch_size:
                flush()
                batch = []
        if batch:
            flush()
    return threads, time.monotonic() - started


def _tree(pid: int) -> list[int]:
    """A process and its descendants, as /proc lists them now."""
    pids, index = [pid], 0
    while index < len(pids):
        try:
            pids += [int(child) for child in Path(f"/proc/{pids[index]}/task/{pids[index]}/children").read_text().split()]
        except OSError:  # ended since it was listed
            pass
        index += 1
    return pids


def _high_water_mb(pid: int) -> float:
    """The process's own peak resident memory (VmHWM). Not ru_maxrss: Linux carries the launching process's
    peak across exec into it, and this script's own read of the floor would be counted as the backfill's."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # ended between listing and reading
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match[1]) / 1024 if match else 0.0


def timed_backfill(*args: str) -> tuple[float, float, str]:
    """Run the real command in a child process; return seconds, the peak RSS of its largest process (parent or
    worker) in MB, and its summary."""
    env = {**os.environ, "DATABASE_NAME": os.environ["DATABASE_NAME"]}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "backfill_events", "--rebuild", "--verbosity", "0", *args],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    peaks: dict[int, float] = {}

    def sample() -> None:
        while process.poll() is None:
            for pid in _tree(process.pid):
                peaks[pid] = max(peaks.get(pid, 0.0), _high_water_mb(pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.join()
    if process.returncode:
        sys.exit(f"backfill_events failed (exit {process.returncode}):\n{stderr[-4000:]}")
    seconds = time.monotonic() - started
    return seconds, max(peaks.values(), default=0.0), stdout.strip().splitlines()[-1]


def main() -> None:
    setup_django()
    ensure_database()
    from replay.checkpoints import count_checkpoint_rows, setup_checkpoint_tables

    setup_checkpoint_tables()
    if not count_checkpoint_rows()["threads"]:
        raise SystemExit(f"{os.environ['DATABASE_NAME']} holds no checkpoints: run bench/dataset.py first")
    threads, floor_seconds = raw_read_and_decode()
    seconds, peak_mb, summary = timed_backfill()
    print(f"Backfill of {threads} threads (database {os.environ['DATABASE_NAME']})\n")
    print("| what | threads/s | seconds | peak RSS | target |")
    print("|---|---|---|---|---|")
    print(f"| `manage.py backfill_events --rebuild` (end to end, process start included) | {threads / seconds:,.0f} | {seconds:.1f} | {peak_mb:.0f} MB | >= the floor, <= 300 MB |")
    print(f"| baseline: raw read + decode of the same writes (one core) | {threads / floor_seconds:,.0f} | {floor_seconds:.1f} | | |")
    print(f"\nratio to the floor: {floor_seconds / seconds:.2f}x")
    print(f"\n{summary}")


if __name__ == "__main__":
    main()
