"""Shared helpers for the benchmarks: Django setup and latency statistics."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smart_support.settings")
    # A benchmark is one user asking as fast as it can: the request-rate limits would measure themselves.
    os.environ.setdefault("SMART_SUPPORT_THROTTLE_USER", "off")
    os.environ.setdefault("SMART_SUPPORT_THROTTLE_ANON", "off")
    # The benchmarks run on the embedded database with the development settings, as before DEBUG
    # defaulted to off; bench/load.py starts its production server with DEBUG off itself.
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()


def measure(action: Callable[[], object], *, repeat: int, warmup: int = 3) -> dict[str, float]:
    """Run ``action`` ``warmup`` + ``repeat`` times; return p50/p95/max in milliseconds."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50": statistics.median(samples),
        "p95": samples[max(0, round(0.95 * len(samples)) - 1)],
        "max": samples[-1],
    }


def row(label: str, stats: dict[str, float], target: str = "") -> str:
    return f"| {label} | {stats['p50']:.2f} | {stats['p95']:.2f} | {stats['max']:.2f} | {target} |"
