"""Backfill throughput and peak memory, next to the floor: raw read + decode of the same writes.

Usage: .venv/bin/python bench/dataset.py --conversations 5000 && .venv/bin/python bench/backfill.py
Target (bench/README.md): >= 2,000 conversations/s on 2 cores, peak RSS <= 300 MB whatever the size.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

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


def timed_backfill(*args: str) -> tuple[float, float, str]:
    """Run the real command in a child process; return seconds, its peak RSS in MB, and its summary."""
    env = {**os.environ, "DATABASE_NAME": os.environ["DATABASE_NAME"]}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "backfill_events", "--rebuild", "--verbosity", "0", *args],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
    )
    if result.returncode:
        sys.exit(f"backfill_events failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    seconds = time.monotonic() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return seconds, peak, result.stdout.strip().splitlines()[-1]


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
    print(f"| `manage.py backfill_events --rebuild` (end to end, process start included) | {threads / seconds:,.0f} | {seconds:.1f} | {peak_mb:.0f} MB | >= 2,000/s, <= 300 MB |")
    print(f"| baseline: raw read + decode of the same writes (one core) | {threads / floor_seconds:,.0f} | {floor_seconds:.1f} | | |")
    print(f"\n{summary}")


if __name__ == "__main__":
    main()
