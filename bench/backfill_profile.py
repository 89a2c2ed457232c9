"""Where a backfill's time goes, per thread: read, decode, timeline, derive, write, rollups — one process,
one core, on the benchmark dataset (run bench/dataset.py first).

Usage: .venv/bin/python bench/backfill_profile.py [--threads 5000] [--batch-size 500]

Each phase is timed around the code the backfill itself runs (``sync_threads``' three steps), with the
decoder and ``build_timeline`` wrapped to split reading from decoding and the timeline from the rest of
the derivation. Writes go to the live tables, as a backfill's do (idempotent), inside one transaction
per batch; the rollups are rebuilt once at the end, as a large backfill does.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import datetime, timezone

from dataset import ensure_database

from common import setup_django


class PhaseClock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, phase: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - started

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=500)
    options = parser.parse_args()
    setup_django()
    ensure_database()
    from itertools import islice

    from django.db import transaction

    import analytics.derive as derive
    import replay.checkpoints as checkpoints
    from analytics.derive import derive_thread
    from analytics.pricing import load_price_lookup
    from analytics.recorder import PostgresAnalyticsRecorder
    from analytics.storage import rebuild_rollups
    from replay.timeline import TimelineRules

    clock = PhaseClock()
    # split decoding out of reading, and the timeline out of the derivation
    checkpoints.ValueDecoder.decode = clock.wrap("decode", checkpoints.ValueDecoder.decode)
    derive.build_timeline = clock.wrap("timeline", derive.build_timeline)
    source, recorder = checkpoints.PostgresCheckpointSource(), PostgresAnalyticsRecorder()
    heads = list(islice(source.iter_thread_heads(after=""), options.threads))
    price_lookup, rules, now = load_price_lookup(), TimelineRules.from_settings(), datetime.now(timezone.utc)
    total_started = time.perf_counter()
    events = 0
    for start in range(0, len(heads), options.batch_size):
        thread_ids = [thread_id for thread_id, _ in heads[start:start + options.batch_size]]
        started = time.perf_counter()
        threads = source.get_threads(thread_ids=thread_ids)
        clock.seconds["read + decode"] += time.perf_counter() - started
        started = time.perf_counter()
        derived = [derive_thread(thread=thread, price_lookup=price_lookup, now=now, rules=rules) for thread in threads]
        clock.seconds["timeline + derive"] += time.perf_counter() - started
        started = time.perf_counter()
        with transaction.atomic():
            events += recorder.record(threads=derived, refresh_rollups=False)
        clock.seconds["write"] += time.perf_counter() - started
    started = time.perf_counter()
    rebuild_rollups()
    clock.seconds["rollups (rebuilt once at the end)"] += time.perf_counter() - started
    total = time.perf_counter() - total_started
    count = len(heads)
    phases = {
        "read (SQL, three queries per batch)": clock.seconds["read + decode"] - clock.seconds["decode"],
        "decode (LangGraph's serializer)": clock.seconds["decode"],
        "timeline (build_timeline)": clock.seconds["timeline"],
        "derive (events and conversation row)": clock.seconds["timeline + derive"] - clock.seconds["timeline"],
        "write (COPY, upserts)": clock.seconds["write"],
        "rollups (rebuilt once at the end)": clock.seconds["rollups (rebuilt once at the end)"],
    }
    print(f"Backfill of {count:,} threads, {events:,} events, one process: {count / total:,.0f} threads/s\n")
    print("| phase | ms per thread | share |")
    print("|---|---|---|")
    for phase, seconds in phases.items():
        print(f"| {phase} | {seconds * 1000 / count:.3f} | {100 * seconds / total:.0f} % |")
    print(f"| **all** | {total * 1000 / count:.3f} | 100 % |")


if __name__ == "__main__":
    main()
