#!/usr/bin/env python
"""Django's command-line utility, with a readable error when the database cannot be reached."""

import os
import sys


def _fail_unreachable_database(error: Exception) -> None:
    from django.conf import settings

    from smart_support.database import describe_server

    where = describe_server(settings.DATABASES["default"])
    message = str(error).strip()
    first_line = message.splitlines()[0] if message else type(error).__name__
    sys.stderr.write(f"error: cannot use the database at {where}: {first_line}\n")
    sys.exit(1)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smart_support.settings")
    if sys.argv[1:2] == ["demo"]:
        # The demo is a development server on loopback with the public development key and the embedded
        # database: it runs in debug unless DEBUG says otherwise (the settings read it when loaded, below).
        os.environ.setdefault("DEBUG", "true")
    import psycopg
    from django.conf import settings
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    from smart_support.embedded_db.base import EmbeddedDatabaseNotAllowed

    if not settings.EMBEDDED_POSTGRES:
        # Probe once, quickly: the connection pool would otherwise retry for its whole timeout.
        try:
            psycopg.connect(settings.DATABASE_URL, connect_timeout=5).close()
        except psycopg.OperationalError as error:
            _fail_unreachable_database(error)
    try:
        execute_from_command_line(sys.argv)
    except OperationalError as error:
        _fail_unreachable_database(error)
    except EmbeddedDatabaseNotAllowed as error:  # a command that runs no system checks, e.g. dbshell
        sys.stderr.write(f"error: {error}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
