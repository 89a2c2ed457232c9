"""Stopping the commands a test started as processes of their own."""

from __future__ import annotations

import signal
import subprocess

import psutil


def stop_process(process: subprocess.Popen, *, sig: signal.Signals = signal.SIGINT, timeout: float = 60) -> tuple[str, str]:
    """Send ``sig`` and return the process's output once it has stopped. One still running after ``timeout``
    seconds is killed with its children before the test fails: left running, a ``--follow`` worker keeps the
    sync lock and fails every later test that syncs."""
    process.send_signal(sig)
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        children = psutil.Process(process.pid).children(recursive=True)
        process.kill()
        for child in children:
            child.kill()
        _, err = process.communicate()
        raise AssertionError(f"still running {timeout:.0f} s after {sig.name}, killed; its stderr:\n{err[-3000:]}") from None
