"""The production server as deployed: gunicorn with deploy/gunicorn.conf.py, DEBUG off, static files by
whitenoise after collectstatic — started on loopback against the test database."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from urllib.error import HTTPError

import pytest

from replay.checkpoints import checkpoint_conninfo
from tests.test_checks import LONG_RANDOM_KEY, _production_env
from tests.test_commands import PROJECT_DIR

ANONYMOUS_RATE = 4
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "smart_support.wsgi"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited with {server.returncode}: {server.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not listen within 60 s")


def _get(url: str):
    try:
        return urllib.request.urlopen(url, timeout=10)  # noqa: S310 - loopback
    except HTTPError as error:
        return error


@pytest.fixture(scope="module")
def production_server(django_db_setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn serving the test database with DEBUG off, after collectstatic; its base URL."""
    tmp_path = tmp_path_factory.mktemp("production")
    port = _free_port()
    env = _production_env(
        SECRET_KEY=LONG_RANDOM_KEY, ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=checkpoint_conninfo(),
        STATIC_ROOT=str(tmp_path / "static"), WEB_CONCURRENCY="2", GUNICORN_THREADS="2",
        GUNICORN_BIND=f"127.0.0.1:{port}", SMART_SUPPORT_PUBLIC_API_DOCS="true",
        SMART_SUPPORT_THROTTLE_ANON=f"{ANONYMOUS_RATE}/minute",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=PROJECT_DIR, env=env, check=True,
        capture_output=True, timeout=300,
    )
    server = subprocess.Popen(GUNICORN, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_listening(server, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_serves_the_login_page_its_static_files_and_readiness(production_server):
    login = _get(f"{production_server}/admin/login/")
    page = login.read().decode()
    assert login.status == 200
    assert "Smart Support" in page
    stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, "the admin's stylesheet is linked under its hashed name"

    css = _get(production_server + stylesheet.group(1))
    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert "immutable" in css.headers["Cache-Control"]  # hashed names are cached for good by browsers
    assert b"body" in css.read()

    ready = _get(f"{production_server}/readyz")
    assert ready.status == 200
    assert b'"status":"ready"' in ready.read().replace(b" ", b"")

    assert _get(f"{production_server}/admin/login/?next=/admin/").headers.get("Server", "").startswith("gunicorn")


def test_the_request_rate_is_counted_across_workers(production_server):
    # each request on a new connection, so the two workers take turns as they accept them
    statuses = [_get(f"{production_server}/api/schema/").status for _ in range(2 * ANONYMOUS_RATE)]

    assert statuses == [200] * ANONYMOUS_RATE + [429] * ANONYMOUS_RATE


def test_an_unknown_page_is_a_plain_404_not_a_debug_page(production_server):
    missing = _get(f"{production_server}/no-such-page")
    body = missing.read().decode()
    assert missing.status == 404
    assert "URLconf" not in body and "DATABASE_URL" not in body  # what Django's debug page would show


@pytest.mark.django_db
def test_gunicorn_refuses_to_start_with_the_development_key():
    env = _production_env(ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=checkpoint_conninfo(), GUNICORN_BIND=f"127.0.0.1:{_free_port()}")
    finished = subprocess.run(GUNICORN, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60)

    assert finished.returncode != 0
    assert "(smart_support.E001) SECRET_KEY is the public development key" in finished.stdout + finished.stderr
