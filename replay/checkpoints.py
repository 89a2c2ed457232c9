"""Reading LangGraph's checkpoint tables (``checkpoints``, ``checkpoint_blobs``, ``checkpoint_writes``).

They live in ``CHECKPOINT_DATABASE_URL`` or, when that is empty, in Django's own database — following
Django's connection settings, so the test suite reads the checkpoints of its test database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections
from psycopg.conninfo import make_conninfo

# Django OPTIONS that are not libpq connection parameters.
_NON_LIBPQ_OPTIONS = {"pool", "isolation_level", "server_side_binding", "assume_role", "cursor_factory"}


def checkpoint_conninfo() -> str:
    """Return the libpq connection string of the database holding the checkpoint tables."""
    if settings.CHECKPOINT_DATABASE_URL:
        return settings.CHECKPOINT_DATABASE_URL
    database = connections["default"].settings_dict
    params: dict[str, Any] = {
        "dbname": database["NAME"],
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
    }
    params.update({key: value for key, value in database.get("OPTIONS", {}).items() if key not in _NON_LIBPQ_OPTIONS})
    return make_conninfo(**{key: value for key, value in params.items() if value is not None})


def setup_checkpoint_tables() -> None:
    """Create or migrate LangGraph's checkpoint tables (``PostgresSaver.setup()``); safe to repeat."""
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(checkpoint_conninfo()) as saver:
        saver.setup()


def count_checkpoint_rows() -> dict[str, int]:
    """How many rows each checkpoint table holds, and how many distinct threads."""
    import psycopg

    with psycopg.connect(checkpoint_conninfo()) as connection:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
        }
        counts["threads"] = connection.execute("SELECT count(DISTINCT thread_id) FROM checkpoints").fetchone()[0]
    return counts
