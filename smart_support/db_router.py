"""Read replicas: which database each query goes to.

Everything reads from and writes to the primary (``default``), except reads of the derived tables
(the ``replay`` and ``analytics`` apps) made inside ``reads_from(REPLICA)`` — which
``ReplicaReadsMiddleware`` opens for safe requests to the read-only pages. Who may see what
(``TenantAccess``), a manager's own saved views, users, sessions, tokens, login attempts and the
request-rate cache are always read from the primary: a change to them must count at once.

Without a ``replica`` database (no ``DATABASE_REPLICA_URL``) the router has no opinion on anything,
so Django routes exactly as it would without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

REPLICA = "replica"
# Written only by the sync and by price edits: a few seconds stale is fine for reading them.
REPLICA_APPS = frozenset({"replay", "analytics"})
PRIMARY_MODELS = frozenset({"replay.tenantaccess", "replay.savedview"})

_reads_from: ContextVar[str | None] = ContextVar("smart_support_reads_from", default=None)


def replica_configured() -> bool:
    """Whether a ``replica`` database is configured."""
    return REPLICA in connections.settings


@contextmanager
def reads_from(alias: str) -> Iterator[None]:
    """Within the block, reads of the derived tables go to ``alias``."""
    token = _reads_from.set(alias)
    try:
        yield
    finally:
        _reads_from.reset(token)


def reading_alias() -> str:
    """The database reads of the derived tables go to here and now, for code that runs raw SQL."""
    alias = _reads_from.get()
    return alias if alias is not None and replica_configured() else DEFAULT_DB_ALIAS


class PrimaryReplicaRouter:
    """Writes and migrations to the primary; reads of the derived tables to the replica inside ``reads_from``."""

    def db_for_read(self, model: type[Model], **hints) -> str | None:
        if not replica_configured():
            return None
        if model._meta.app_label in REPLICA_APPS and model._meta.label_lower not in PRIMARY_MODELS:
            return reading_alias()
        # explicit, or a row read from the replica would pull the reads of its relations there
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Model], **hints) -> str | None:
        # explicit: Django would otherwise write a row back to the database it was read from
        return DEFAULT_DB_ALIAS if replica_configured() else None

    def allow_relation(self, obj1: Model, obj2: Model, **hints) -> bool | None:
        # the replica holds the primary's very rows
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool | None:
        if db == REPLICA:
            return False  # read-only; it receives the primary's migrations by replication
        return None
