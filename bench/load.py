"""The production server under load: gunicorn (deploy/gunicorn.conf.py, DEBUG off) on loopback, 50
concurrent clients for 60 s, while ``backfill_events --follow`` ingests new conversations written by
the reference agent. Reports requests, errors and p50/p95/p99 per endpoint.

Usage (after bench/dataset.py and bench/backfill.py, or let it build 10k conversations):
    .venv/bin/python bench/load.py [--clients 50] [--seconds 60] [--keepalive 75] [--workers 2] [--threads 8]
Target (bench/README.md): 0 errors; p95 per endpoint reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone

from dataset import build, ensure_database

from common import PROJECT_DIR, setup_django

ENDPOINTS = {
    "login page": ("/admin/login/", None),
    "/healthz": ("/healthz", None),
    "/api/conversations": ("/api/conversations?page_size=50", "token"),
    "/api/analytics?range=30d": ("/api/analytics?range=30d", "token"),
    "admin changelist": ("/admin/replay/conversation/", "session"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _credentials(clients: int) -> tuple[str, list[str]]:
    """An API token and one logged-in admin session per client, made directly (hashing 50 passwords
    through the login form would load the server before the measurement)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from access.tokens import issue_api_token

    user, _ = User.objects.get_or_create(username="load", defaults={"is_superuser": True, "is_staff": True})
    token = issue_api_token(user=user).key
    sessions = []
    for _ in range(clients):
        session = SessionStore()
        session.update({
            SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        })
        session.create()
        sessions.append(session.session_key)
    return token, sessions


async def _client(*, base: str, token: str, session: str, offset: int, until: float, samples: dict, errors: dict) -> None:
    import httpx

    names = list(ENDPOINTS)
    # No cookie jar: the login page is fetched as a visitor (a logged-in one is redirected), the admin with a session.
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        index = offset
        while time.monotonic() < until:
            name = names[index % len(names)]
            index += 1
            path, auth = ENDPOINTS[name]
            headers = {"token": {"Authorization": f"Token {token}"}, "session": {"Cookie": f"sessionid={session}"}}.get(auth, {})
            started = time.perf_counter()
            try:
                response = await client.get(path, headers=headers)
                if response.status_code != 200:
                    errors[name].append(f"HTTP {response.status_code}")
            except httpx.HTTPError as error:
                errors[name].append(type(error).__name__)
            samples[name].append((time.perf_counter() - started) * 1000)


async def _drive(*, base: str, token: str, sessions: list[str], seconds: float) -> tuple[dict, dict]:
    samples: dict = defaultdict(list)
    errors: dict = defaultdict(list)
    until = time.monotonic() + seconds
    await asyncio.gather(*(
        _client(base=base, token=token, session=session, offset=number, until=until, samples=samples, errors=errors)
        for number, session in enumerate(sessions)
    ))
    return samples, errors


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, round(share * len(ordered)) - 1)]


def ingest(conninfo: str, until: float) -> None:
    """Write one new conversation through the reference agent about every second, until ``until``."""
    from smart_support.agent.graph import build_support_graph
    from smart_support.agent.scenarios import plan_conversation
    from smart_support.agent.simulate import ScriptBook, connect_checkpointer, run_conversation

    checkpointer = connect_checkpointer(conninfo)
    book = ScriptBook()
    graph = build_support_graph(reply_for=book.reply_for, checkpointer=checkpointer)
    seed, index = int(time.time()), 0
    while time.time() < until:
        started = time.monotonic()
        run_conversation(graph=graph, book=book, plan=plan_conversation(seed=seed, index=index),
                         started_at=datetime.now(timezone.utc))
        index += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    print(f"INGESTED {index}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--conversations", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--keepalive", type=int, default=75)
    parser.add_argument("--ingest-until", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django()
    from replay.checkpoints import checkpoint_conninfo

    if args.ingest_until:
        ingest(checkpoint_conninfo(), args.ingest_until)
        return
    ensure_database()
    build(conversations=args.conversations, base=min(1000, args.conversations))
    from django.core.management import call_command

    from replay.models import Conversation

    call_command("backfill_events", verbosity=0)
    from django.conf import settings

    # the server's key: sessions are signed with it, and carry a hash keyed by it
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    token, sessions = _credentials(args.clients)
    conninfo = checkpoint_conninfo()
    port = _free_port()
    static_root = tempfile.mkdtemp(prefix="load-static-")
    env = {
        **{key: value for key, value in os.environ.items() if key not in {"DEBUG", "DATABASE_NAME"}},
        "DEBUG": "false", "SECRET_KEY": settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": conninfo, "STATIC_ROOT": static_root, "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(args.workers), "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_KEEPALIVE": str(args.keepalive), "DJANGO_SETTINGS_MODULE": "smart_support.settings",
    }
    run = {"cwd": PROJECT_DIR, "env": env}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], check=True, **run)
    log = open(os.path.join(static_root, "server.log"), "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--access-logfile",
                               "/dev/null", "smart_support.wsgi"], stdout=log, stderr=subprocess.STDOUT, **run)
    follower = subprocess.Popen([sys.executable, "manage.py", "backfill_events", "--follow", "--verbosity", "0"],
                                stdout=subprocess.DEVNULL, stderr=log, **run)
    writer = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start; see " + log.name) from None
                time.sleep(0.2)
        before = Conversation.objects.count()
        writer = subprocess.Popen([sys.executable, "bench/load.py", "--ingest-until", str(time.time() + args.seconds)],
                                  cwd=PROJECT_DIR, env={**os.environ}, stdout=subprocess.PIPE, text=True)
        started = time.monotonic()
        samples, errors = asyncio.run(_drive(base=f"http://127.0.0.1:{port}", token=token, sessions=sessions,
                                             seconds=args.seconds))
        elapsed = time.monotonic() - started
        ingested = writer.communicate(timeout=120)[0].strip()
        time.sleep(3)  # the follower's last pass
        synced = Conversation.objects.count() - before
    finally:
        for process in (writer, follower, server):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)
        log.close()
    total = sum(len(values) for values in samples.values())
    failed = sum(len(values) for values in errors.values())
    print(f"\n{args.clients} clients, {elapsed:.0f} s, gunicorn {args.workers} workers x {args.threads} threads, "
          f"keep-alive {args.keepalive} s, {before:,} conversations; {ingested}, {synced} new conversations synced "
          f"by backfill_events --follow during the run\n")
    print(f"{total:,} requests ({total / elapsed:.0f}/s), {failed} errors\n")
    print("| endpoint | requests | errors | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for name in ENDPOINTS:
        ordered = sorted(samples[name])
        print(f"| {name} | {len(ordered):,} | {len(errors[name])} | {statistics.median(ordered):.0f} | "
              f"{_percentile(ordered, 0.95):.0f} | {_percentile(ordered, 0.99):.0f} |")
    for name, kinds in errors.items():
        if kinds:
            print(f"errors on {name}: {dict((kind, kinds.count(kind)) for kind in set(kinds))}")


if __name__ == "__main__":
    main()
