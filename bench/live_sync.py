"""Live sync lag: how long after the agent writes a checkpoint its conversation is in the analytics,
with ``manage.py backfill_events --follow`` running against the benchmark dataset.

Usage (after bench/dataset.py and bench/backfill.py): .venv/bin/python bench/live_sync.py [--conversations 10]
Target (bench/README.md): within 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

from dataset import ensure_database

from common import PROJECT_DIR, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    ensure_database()
    from replay.checkpoints import checkpoint_conninfo, setup_checkpoint_tables
    from replay.models import Conversation
    from smart_support.agent.graph import build_support_graph
    from smart_support.agent.scenarios import plan_conversation
    from smart_support.agent.simulate import ScriptBook, connect_checkpointer, run_conversation

    setup_checkpoint_tables()  # as the agent does before its first conversation: the worker then follows at once
    follower = subprocess.Popen(
        [sys.executable, "manage.py", "backfill_events", "--follow", "--interval", "0.25", "--verbosity", "0"],
        cwd=PROJECT_DIR, env=dict(os.environ), stdout=subprocess.PIPE, text=True,
    )
    try:
        for line in follower.stdout:
            if line.startswith("FOLLOW"):
                break
        else:
            raise SystemExit(f"backfill_events --follow stopped before following (exit {follower.wait()})")
        checkpointer = connect_checkpointer(checkpoint_conninfo())
        book = ScriptBook()
        graph = build_support_graph(reply_for=book.reply_for, checkpointer=checkpointer)
        seed = int(time.time())
        lags = []
        for index in range(args.conversations):
            plan = plan_conversation(seed=seed, index=index, scenario="order_status")
            run_conversation(graph=graph, book=book, plan=plan, started_at=datetime.now(timezone.utc))
            written = time.monotonic()
            newest = max(checkpoint.config["configurable"]["checkpoint_id"] for checkpoint in checkpointer.list(
                {"configurable": {"thread_id": plan.thread_id}}))
            while not Conversation.objects.filter(thread_id=plan.thread_id, last_checkpoint_id=newest).exists():
                if time.monotonic() - written > 30:
                    raise SystemExit(f"{plan.thread_id} not synced after 30 s")
                time.sleep(0.02)
            lags.append(time.monotonic() - written)
        lags.sort()
        print(f"Live sync over {Conversation.objects.count():,} conversations, {len(lags)} new conversations\n")
        print("| what | median s | max s | target |")
        print("|---|---|---|---|")
        print(f"| last checkpoint written → conversation row up to date | {statistics.median(lags):.2f} | {lags[-1]:.2f} | ≤ 2 s |")
    finally:
        follower.terminate()
        follower.wait(10)


if __name__ == "__main__":
    main()
