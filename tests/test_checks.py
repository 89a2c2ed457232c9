"""A process outside debug refuses to start unsafe; the production settings pass Django's deploy checks."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from replay.checkpoints import checkpoint_conninfo
from smart_support.checks import check_safe_to_serve
from tests.test_commands import PROJECT_DIR

LONG_RANDOM_KEY = secrets.token_urlsafe(50)
HTTPS_BEHIND_A_PROXY = {
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "CSRF_TRUSTED_ORIGINS": "https://support.example.com",
}


def _production_env(**overrides: str) -> dict[str, str]:
    """The environment of a production process: no DEBUG from the test suite, the project's own settings."""
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    return {**env, "DJANGO_SETTINGS_MODULE": "smart_support.settings", **overrides}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def _ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_outside_debug_the_development_key_is_an_error_saying_how_to_make_one(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = settings.DEVELOPMENT_SECRET_KEY

    (error,) = [message for message in check_safe_to_serve() if message.id == "smart_support.E001"]

    assert error.is_serious()
    assert error.hint == "set SECRET_KEY to a long random value: python -c 'import secrets; print(secrets.token_urlsafe(50))'"


@pytest.mark.parametrize("key", ["short-key", "django-insecure-" + "x" * 60, "ab" * 40])
def test_outside_debug_a_weak_key_is_refused_too(settings, key):
    settings.DEBUG = False
    settings.SECRET_KEY = key
    assert "smart_support.E001" in _ids(check_safe_to_serve())


def test_outside_debug_empty_allowed_hosts_is_an_error(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = LONG_RANDOM_KEY
    settings.ALLOWED_HOSTS = []

    (error,) = [message for message in check_safe_to_serve() if message.id == "smart_support.E002"]
    assert "ALLOWED_HOSTS" in error.hint


def test_outside_debug_no_database_url_is_an_error_unless_the_embedded_database_is_asked_for(settings, monkeypatch):
    settings.DEBUG = False
    settings.SECRET_KEY = LONG_RANDOM_KEY
    settings.ALLOWED_HOSTS = ["support.example.com"]
    monkeypatch.setitem(settings.DATABASES["default"], "EMBEDDED_PGDATA", "/srv/var/pgdata")
    monkeypatch.setitem(settings.DATABASES["default"], "EMBEDDED_ALLOWED", False)

    (error,) = check_safe_to_serve()
    assert error.id == "smart_support.E003"
    assert error.msg.startswith("no database: DATABASE_URL is not set. Set DATABASE_URL=postgresql://")
    assert "SMART_SUPPORT_EMBEDDED_DB=true" in error.msg

    settings.DATABASES["default"]["EMBEDDED_ALLOWED"] = True
    assert check_safe_to_serve() == []


def test_in_debug_the_development_settings_are_fine(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = settings.DEVELOPMENT_SECRET_KEY
    settings.ALLOWED_HOSTS = []
    assert check_safe_to_serve() == []


@pytest.mark.django_db
def test_migrate_outside_debug_with_the_development_key_refuses_to_start():
    result = _manage("migrate", env=_production_env(ALLOWED_HOSTS="support.example.com", DATABASE_URL=checkpoint_conninfo()))

    assert result.returncode == 1
    assert "(smart_support.E001) SECRET_KEY is the public development key" in result.stderr
    assert "HINT: set SECRET_KEY to a long random value: python -c 'import secrets; print(secrets.token_urlsafe(50))'" in result.stderr
    assert "Operations to perform" not in result.stdout


@pytest.mark.django_db
def test_the_production_settings_the_readme_lists_pass_check_deploy_clean():
    env = _production_env(
        SECRET_KEY=LONG_RANDOM_KEY, ALLOWED_HOSTS="support.example.com", DATABASE_URL=checkpoint_conninfo(),
        **HTTPS_BEHIND_A_PROXY,
    )
    result = _manage("check", "--deploy", env=env)

    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "System check identified no issues (0 silenced).", "")


def test_collectstatic_and_check_start_no_database(tmp_path: Path):
    """A Docker build has no database: collecting static files must not need one, nor start one."""
    env = _production_env(SMART_SUPPORT_VAR_DIR=str(tmp_path / "var"), STATIC_ROOT=str(tmp_path / "static"))
    env.pop("DATABASE_URL", None)

    collected = _manage("collectstatic", "--noinput", env=env)
    checked = _manage("check", "--deploy", env=env)

    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()
    assert checked.returncode == 1
    assert [line.split(")")[0] for line in checked.stderr.splitlines() if line.startswith("?: (smart_support")] == [
        "?: (smart_support.E001", "?: (smart_support.E002", "?: (smart_support.E003",
    ]
    assert not (tmp_path / "var").exists()  # no embedded server was started


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="about the embedded server")
def test_outside_debug_the_embedded_database_is_used_when_asked_for():
    env = _production_env(SECRET_KEY=LONG_RANDOM_KEY, ALLOWED_HOSTS="support.example.com")
    refused = _manage("showmigrations", "replay", env=env)
    asked = _manage("showmigrations", "replay", env={**env, "SMART_SUPPORT_EMBEDDED_DB": "true"})

    assert refused.returncode == 1 and "smart_support.E003" in refused.stderr
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.startswith("replay\n [")  # it reached the embedded server's database
