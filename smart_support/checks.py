"""The system check that keeps a process outside debug from starting unsafe.

Django's own ``check --deploy`` only warns, and only when asked; this check is an error in every
command that runs checks (runserver, migrate, backfill_events …) and before gunicorn serves (wsgi.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks

from smart_support.embedded_db.base import no_database_message

NEW_SECRET_KEY_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def check_safe_to_serve(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Given the settings, return an error for each thing that makes serving outside debug unsafe."""
    if settings.DEBUG:
        return []
    errors = []
    if _weak_secret_key(settings.SECRET_KEY):
        errors.append(
            checks.Error(
                "SECRET_KEY is the public development key or too weak, and DEBUG is off: anyone could forge "
                "sessions and password-reset links.",
                hint=f"set SECRET_KEY to a long random value: {NEW_SECRET_KEY_COMMAND}",
                id="smart_support.E001",
            )
        )
    if not settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error(
                "ALLOWED_HOSTS is empty and DEBUG is off: every request would be refused.",
                hint="set ALLOWED_HOSTS to the host names the back office is reached by, comma-separated "
                "(e.g. ALLOWED_HOSTS=support.example.com)",
                id="smart_support.E002",
            )
        )
    database = settings.DATABASES["default"]
    if "EMBEDDED_PGDATA" in database and not database.get("EMBEDDED_ALLOWED"):
        errors.append(
            checks.Error(
                no_database_message(pgdata=Path(database["EMBEDDED_PGDATA"])),
                hint="set DATABASE_URL to your PostgreSQL server",
                id="smart_support.E003",
            )
        )
    return errors


def _weak_secret_key(key: str) -> bool:
    # Django's own rule for W009 (length, variety, the startproject prefix), plus our public key.
    return (
        key == settings.DEVELOPMENT_SECRET_KEY
        or key.startswith("django-insecure")
        or len(key) < 50
        or len(set(key)) < 5
    )
