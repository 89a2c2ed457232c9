"""Turn connection URLs into Django ``DATABASES`` entries and explain unreachable servers."""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict

_DJANGO_KEYS = {"dbname": "NAME", "user": "USER", "password": "PASSWORD", "host": "HOST", "port": "PORT"}
# A server that is down or unreachable must turn into a quick 503, not a request that hangs: libpq
# gives up connecting after this many seconds (2 is its minimum), and a request waits no longer for
# a pooled connection.
CONNECT_TIMEOUT_SECONDS = 2
POOL_TIMEOUT_SECONDS = 2


def django_database(url: str, *, pool: bool) -> dict[str, Any]:
    """Given a ``postgresql://`` URL, return a Django database settings dict for psycopg 3."""
    params = conninfo_to_dict(url)
    database: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql",
        "OPTIONS": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        # Connections left over from before a server restart are tested before use and replaced
        # (with the pool, Django hands psycopg_pool ConnectionPool.check_connection for this).
        "CONN_HEALTH_CHECKS": True,
    }
    for key, value in params.items():
        if key in _DJANGO_KEYS:
            database[_DJANGO_KEYS[key]] = value or ""
        else:
            database["OPTIONS"][key] = value
    database.setdefault("NAME", "postgres")
    if pool:
        database["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 8, "timeout": POOL_TIMEOUT_SECONDS}
    else:
        database["CONN_MAX_AGE"] = 60
    return database


def describe_server(database: dict[str, Any]) -> str:
    """Name the server a Django database entry points at, for error messages."""
    host = database.get("HOST") or "localhost"
    port = database.get("PORT") or "5432"
    where = host if host.startswith("/") else f"{host}:{port}"
    return f"{where}, database {database.get('NAME')!r}"
