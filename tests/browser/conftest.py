"""Headless Chromium (Debian's package, driven by Playwright's Python API) against the back office served
on loopback by pytest-django's ``live_server``. No browser download: Playwright launches /usr/bin/chromium.
A failing test leaves a screenshot of the page in ``var/browser-failures/`` (git-ignored)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User

PROJECT_DIR = Path(__file__).resolve().parents[2]
FAILURE_SCREENSHOTS = PROJECT_DIR / "var" / "browser-failures"
PASSWORD = "browser-test-password-8812"
# The flags a root user on a machine without a display or outside network needs: no sandbox (root),
# no GPU, and none of Chromium's calls home (refused here, and slow to fail).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _chromium() -> str:
    path = os.environ.get("SMART_SUPPORT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("the browser tests need Chromium: apt-get install chromium (or set SMART_SUPPORT_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator:
    # Playwright's sync API runs an event loop in this thread; the tests also use the ORM between steps.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "page" in item.funcargs:
        FAILURE_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", item.nodeid)[-150:]
        item.funcargs["page"].screenshot(path=str(FAILURE_SCREENSHOTS / f"{name}.png"), full_page=True)
    return report


@pytest.fixture
def page(browser, live_server) -> Iterator:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US", base_url=live_server.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def manager(transactional_db) -> User:
    return User.objects.create_superuser("manager", "manager@example.com", PASSWORD)


@pytest.fixture
def signed_in(page, manager):
    """The page, signed in to admin as a superuser through the login form."""
    page.goto("/admin/login/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    return page


@pytest.fixture
def play(run_reference_agent):
    """Play scenarios through the reference agent, ten minutes apart from ``started_at``, then derive the
    analytics; returns the plans in order. Every browser test serves the database to a server thread, so
    the test is transactional and its rows are flushed after it: each test plays its own, a second or two."""
    from django.core.management import call_command

    from smart_support.agent.scenarios import plan_conversation

    def run(scenarios, *, seed: int, started_at):
        from datetime import timedelta

        plans = [plan_conversation(seed=seed, index=index, scenario=name) for index, name in enumerate(scenarios)]
        for offset, plan in enumerate(plans):
            run_reference_agent(plan, started_at + timedelta(minutes=10 * offset))
        call_command("backfill_events", verbosity=0)
        return plans

    return run


def result_rows(page):
    """The rows of the admin changelist on the page."""
    return page.locator("#result_list tbody tr")


def shown_count(page) -> int:
    """The number the changelist's paginator states ("7 conversations", "12 analytics events")."""
    text = page.locator("#changelist .paginator").inner_text()
    counts = re.findall(r"([\d,]+)\s+[^\d\s]", text)  # after the page numbers, if any
    assert counts, f"no count in the paginator: {text!r}"
    return int(counts[-1].replace(",", ""))
