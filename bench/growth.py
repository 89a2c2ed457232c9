"""Growth curves: every latency target measured at several dataset sizes, each next to its baseline.

Usage: .venv/bin/python bench/growth.py [--sizes 10000 100000 1000000]

Each size gets a database of its own (``smart_support_bench_<size>``, built once by bench/dataset.py and
reused by later runs), derived by bench/backfill.py, vacuumed, then measured by bench/replay.py, bench/api.py
and bench/search.py. The scripts run as they would alone; this one reads the p95 column of their tables and
prints one table with a column per size and the growth from the smallest to the largest size (target:
latencies within 1.5x), then the backfill rate, its peak memory, and what each database takes on disk.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

from common import PROJECT_DIR

SCRIPTS = ("replay.py", "api.py", "search.py")
ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<p50>[\d.]+) \| (?P<p95>[\d.]+) \| (?P<max>[\d.]+) \| (?P<target>[^|]*)\|$")
BACKFILL_ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<rate>[\d,]+) \| (?P<seconds>[\d.]+) \| ?(?P<rss>[^|]*?) ?\|")
# what changes with the size in a row's label (matches found, the size itself) is not part of its name
SIZE_IN_LABEL = re.compile(r"[\d,]+ found|on [\d,]+ conversations")


@dataclass
class SizeRun:
    size: int
    p95: dict[str, float] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    backfill: dict[str, tuple[float, str]] = field(default_factory=dict)
    build_seconds: float = 0.0
    settle_seconds: float = 0.0
    disk: dict[str, str] = field(default_factory=dict)


def run_script(script: str, *args: str, database: str) -> str:
    env = {**os.environ, "SMART_SUPPORT_BENCH_DATABASE": database}
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "bench" / script), *args], cwd=PROJECT_DIR, env=env,
        capture_output=True, text=True,
    )
    if result.returncode:
        sys.exit(f"bench/{script} on {database} failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
    return result.stdout


def read_rows(output: str, run: SizeRun) -> None:
    for line in output.splitlines():
        match = ROW.match(line.strip())
        if match:
            label = SIZE_IN_LABEL.sub("…", match["label"]).strip()
            run.p95[label] = float(match["p95"])
            run.targets[label] = match["target"].strip()


def settle(database: str) -> None:
    """VACUUM (ANALYZE) the database after its rebuild: the latencies are those of a settled database, not of the
    minutes in which autovacuum cleans the rebuild's millions of dead rows on one of the two cores."""
    env = {**os.environ, "DATABASE_NAME": database}
    subprocess.run(
        [sys.executable, "manage.py", "dbshell", "--", "-c", "VACUUM (ANALYZE)"], cwd=PROJECT_DIR, env=env,
        check=True, capture_output=True,
    )


def disk_usage(database: str) -> dict[str, str]:
    output = run_script("disk_usage.py", database=database)
    return dict(line.split("\t", 1) for line in output.strip().splitlines())


def measure_size(size: int) -> SizeRun:
    database = f"smart_support_bench_{size}"
    run = SizeRun(size=size)
    started = time.monotonic()
    print(run_script("dataset.py", "--conversations", str(size), database=database).strip(), file=sys.stderr)
    run.build_seconds = time.monotonic() - started
    for line in run_script("backfill.py", database=database).splitlines():
        match = BACKFILL_ROW.match(line.strip())
        if match and match["rate"] != "threads/s":
            run.backfill[match["label"]] = (float(match["rate"].replace(",", "")), match["rss"].strip())
    started = time.monotonic()
    settle(database)
    run.settle_seconds = time.monotonic() - started
    for script in SCRIPTS:
        read_rows(run_script(script, database=database), run)
    run.disk = disk_usage(database)
    return run


def growth_table(runs: list[SizeRun]) -> list[str]:
    sizes = " | ".join(f"{run.size:,} p95 ms" for run in runs)
    lines = [f"| what | target | {sizes} | largest ÷ smallest |", "|---|---|" + "---|" * len(runs) + "---|"]
    for label in runs[0].p95:
        figures = [run.p95.get(label) for run in runs]
        known = [figure for figure in figures if figure is not None]
        ratio = f"{known[-1] / known[0]:.2f}×" if len(known) > 1 and known[0] else ""
        cells = " | ".join(f"{figure:.2f}" if figure is not None else "–" for figure in figures)
        lines.append(f"| {label} | {runs[0].targets.get(label, '')} | {cells} | {ratio} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    options = parser.parse_args()
    runs = [measure_size(size) for size in sorted(options.sizes)]
    print("\n".join(growth_table(runs)))
    print("\n| size | dataset built in | backfill (end to end) | its baseline (one core) | ratio | peak RSS | VACUUM (ANALYZE) after it | database on disk |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        (ours, rss), (floor, _) = list(run.backfill.values())[:2]
        print(
            f"| {run.size:,} | {run.build_seconds:.0f} s | {ours:,.0f} threads/s | {floor:,.0f} threads/s | "
            f"{ours / floor:.2f}× | {rss} | {run.settle_seconds:.0f} s | {run.disk.get('database', '?')} |"
        )
    print("\n| size | " + " | ".join(name for name in runs[0].disk if name != "database") + " |")
    print("|---|" + "---|" * (len(runs[0].disk) - 1))
    for run in runs:
        print(f"| {run.size:,} | " + " | ".join(value for name, value in run.disk.items() if name != "database") + " |")


if __name__ == "__main__":
    main()
