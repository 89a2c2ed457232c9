"""Replay of a 100-step conversation through the API, next to LangGraph's own get_state_history().

Usage: .venv/bin/python bench/replay.py [--repeat 200]
Target (bench/README.md): API p95 <= 15 ms warm, and >= 10x faster than get_state_history().
"""

from __future__ import annotations

import argparse
import gc
from datetime import datetime, timedelta, timezone

from dataset import ensure_database  # the benchmark database, not the demo's: created and migrated when missing

from common import measure, row, setup_django

setup_django()
ensure_database()

from django.contrib.auth.models import User  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from replay.checkpoints import checkpoint_conninfo, setup_checkpoint_tables  # noqa: E402
from replay.services import timeline_cache  # noqa: E402
from smart_support.agent.graph import build_support_graph  # noqa: E402
from smart_support.agent.scenarios import ConversationPlan, plan_conversation  # noqa: E402
from smart_support.agent.simulate import ScriptBook, connect_checkpointer, run_conversation  # noqa: E402

THREAD_ID = "bench-replay-100-steps"


def long_plan() -> ConversationPlan:
    """Eighteen turns of real scenarios in one thread: about 100 steps."""
    turns = []
    for index in range(18):
        scenario = ("order_status", "invoice_question", "escalated_after_answer")[index % 3]
        turns.extend(plan_conversation(seed=77, index=index, scenario=scenario).turns)
    return ConversationPlan(
        thread_id=THREAD_ID, scenario="long", metadata={"tenant": "bench"}, turns=tuple(turns),
        latencies_s=tuple(1.0 for turn in turns for _ in turn.replies),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    setup_checkpoint_tables()
    checkpointer = connect_checkpointer(checkpoint_conninfo())
    book = ScriptBook()
    graph = build_support_graph(reply_for=book.reply_for, checkpointer=checkpointer)
    config = {"configurable": {"thread_id": THREAD_ID}}
    if checkpointer.get_tuple(config) is None:  # written once, like a conversation that happened yesterday
        run_conversation(graph=graph, book=book, plan=long_plan(), started_at=datetime.now(timezone.utc) - timedelta(days=1))
        for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):  # one statement each: prepared
            checkpointer.conn.execute(f"ANALYZE {table}")

    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    client = APIClient()
    client.force_authenticate(user)
    url = f"/api/replay/{THREAD_ID}?page_size=500"
    body = client.get(url).json()
    steps = body["total_steps"]

    gc.freeze()  # as smart_support/wsgi.py does once the app is loaded
    api = measure(lambda: client.get(url), repeat=args.repeat)
    cold = measure(lambda: timeline_cache.clear() or client.get(url), repeat=args.repeat)
    history = measure(lambda: list(graph.get_state_history(config)), repeat=max(20, args.repeat // 10))
    checkpoints = len(list(graph.get_state_history(config)))

    print(f"Replay of one thread: {steps} steps, {checkpoints} root checkpoints (plus subgraph ones)\n")
    print("| what | p50 ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|")
    print(row("GET /api/replay/{thread_id} (warm, in-process client)", api, "p95 <= 15 ms"))
    print(row("the same with the timeline cache emptied before every request", cold, ""))
    print(row("baseline: graph.get_state_history() of the same thread", history, ""))
    print(f"\nspeed-up at p95: {history['p95'] / api['p95']:.1f}x (target >= 10x)")
    checkpointer.conn.close()


if __name__ == "__main__":
    main()
