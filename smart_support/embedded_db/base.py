"""Django's PostgreSQL backend pointed at the embedded server (no ``DATABASE_URL``).

The server is started when a process first connects, so importing the settings (``collectstatic``,
``check --deploy``, a Docker build) starts nothing. Its address is only known once it runs (pgserver
picks its socket directory when it starts it): ``start_server`` fills it into the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base, client
from psycopg.conninfo import conninfo_to_dict

from smart_support.embedded_postgres import embedded_postgres_url


class EmbeddedDatabaseNotAllowed(ImproperlyConfigured):
    """No DATABASE_URL outside debug, and the embedded database was not asked for."""


def no_database_message(*, pgdata: Path) -> str:
    return (
        "no database: DATABASE_URL is not set. Set DATABASE_URL=postgresql://user:password@host:5432/dbname, "
        f"or SMART_SUPPORT_EMBEDDED_DB=true to run the embedded PostgreSQL with its data in {pgdata}."
    )


def start_server(*, settings_dict: dict[str, Any]) -> None:
    """Given an embedded database's settings, start (or join) its server and fill in its address."""
    if settings_dict.get("HOST"):
        return  # started already (or pointed elsewhere on purpose, as a test of a server going down does)
    pgdata = Path(settings_dict["EMBEDDED_PGDATA"])
    if not settings_dict.get("EMBEDDED_ALLOWED"):
        raise EmbeddedDatabaseNotAllowed(no_database_message(pgdata=pgdata))
    server = conninfo_to_dict(embedded_postgres_url(pgdata=pgdata))
    # Usually the very dict of settings.DATABASES["default"]: whoever reads the settings sees the server.
    settings_dict.update(HOST=server.get("host", ""), PORT=server.get("port", ""), USER=server.get("user", ""))


class DatabaseClient(client.DatabaseClient):
    def runshell(self, parameters: list[str]) -> None:
        # dbshell runs psql with the settings' address, without connecting first: start the server here
        start_server(settings_dict=self.connection.settings_dict)
        super().runshell(parameters)


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_connection_params(self) -> dict[str, Any]:
        start_server(settings_dict=self.settings_dict)
        return super().get_connection_params()
