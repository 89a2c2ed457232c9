"""Build a benchmark dataset in its own database (``smart_support_bench``): a base set of real
conversations written by the reference agent, then the bulk made by cloning those threads' checkpoint
rows in SQL under new thread ids, their timestamps shifted across the last year.

Usage: .venv/bin/python bench/dataset.py --conversations 5000 [--base 1000]
"""

from __future__ import annotations

import argparse
import os
import time

# bench/growth.py builds one database per size by setting this
BENCH_DATABASE = os.environ.get("SMART_SUPPORT_BENCH_DATABASE", "smart_support_bench")
os.environ["DATABASE_NAME"] = BENCH_DATABASE
os.environ.setdefault("DATABASE_POOL", "0")

from common import setup_django  # noqa: E402


def ensure_database() -> None:
    """Create the benchmark database next to Django's usual one, and migrate it."""
    import psycopg
    from django.conf import settings
    from psycopg.conninfo import make_conninfo

    database = settings.DATABASES["default"]
    if database.get("EMBEDDED_PGDATA"):  # its address is known once it runs
        from smart_support.embedded_db.base import start_server

        start_server(settings_dict=database)
    params = {"dbname": "postgres", "user": database.get("USER") or None, "host": database.get("HOST") or None,
              "port": database.get("PORT") or None, "password": database.get("PASSWORD") or None}
    with psycopg.connect(make_conninfo(**{k: v for k, v in params.items() if v}), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DATABASE,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


CLONE_SQL = {
    "checkpoints": """
        INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
        SELECT thread_id || %(suffix)s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,
               jsonb_set(checkpoint, '{ts}', to_jsonb(to_char(
                   ((checkpoint->>'ts')::timestamptz - %(shift)s::interval) AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))),
               metadata
        FROM checkpoints WHERE thread_id LIKE 'sim-%%' AND thread_id NOT LIKE '%%-c%%'""",
    "checkpoint_blobs": """
        INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
        SELECT thread_id || %(suffix)s, checkpoint_ns, channel, version, type, blob
        FROM checkpoint_blobs WHERE thread_id LIKE 'sim-%%' AND thread_id NOT LIKE '%%-c%%'""",
    "checkpoint_writes": """
        INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path)
        SELECT thread_id || %(suffix)s, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path
        FROM checkpoint_writes WHERE thread_id LIKE 'sim-%%' AND thread_id NOT LIKE '%%-c%%'""",
}


def build(*, conversations: int, base: int) -> None:
    import psycopg

    from replay.checkpoints import checkpoint_conninfo, count_checkpoint_rows, setup_checkpoint_tables
    from smart_support.agent.simulate import simulate_conversations

    setup_checkpoint_tables()
    base = min(base, conversations)
    have = count_checkpoint_rows()["threads"]
    if have >= conversations:
        print(f"dataset: {have} threads already present")
        return
    started = time.monotonic()
    simulate_conversations(count=base, days=30, seed=7, conninfo=checkpoint_conninfo(), workers=os.cpu_count() or 1)
    print(f"dataset: {base} base conversations through the reference agent in {time.monotonic() - started:.1f} s")
    copies = -(-conversations // base) - 1
    started = time.monotonic()
    with psycopg.connect(checkpoint_conninfo(), autocommit=True) as connection:
        for copy in range(1, copies + 1):
            if connection.execute("SELECT 1 FROM checkpoints WHERE thread_id = %s LIMIT 1", (f"sim-7-000000-c{copy}",)).fetchone():
                continue  # made by an earlier, smaller build
            # spread the copies over the eleven months before the base set's month
            shift = f"{(copy * 3.35) % 335:.2f} days"
            with connection.transaction():
                for sql in CLONE_SQL.values():
                    connection.execute(sql, {"suffix": f"-c{copy}", "shift": shift})
        connection.execute("ANALYZE checkpoints; ANALYZE checkpoint_writes; ANALYZE checkpoint_blobs")
    counts = count_checkpoint_rows()
    print(
        f"dataset: cloned {copies} copies in {time.monotonic() - started:.1f} s -> {counts['threads']} threads, "
        f"{counts['checkpoints']} checkpoints, {counts['checkpoint_writes']} writes"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--base", type=int, default=1000)
    args = parser.parse_args()
    setup_django()
    ensure_database()
    build(conversations=args.conversations, base=args.base)


if __name__ == "__main__":
    main()
