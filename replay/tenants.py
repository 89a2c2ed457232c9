"""Who may see which tenant's conversations: the one place every read path (API, admin, analytics)
asks. A conversation's tenant is the metadata key ``SMART_SUPPORT["TENANT_KEY"]``, stored in its own
column; a user sees the tenants given to them (``TenantAccess``), every tenant with the
``replay.view_all_tenants`` permission (superusers have it), and nothing otherwise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from replay.models import Conversation, TenantAccess

VIEW_ALL_TENANTS = "replay.view_all_tenants"


def tenant_of(*, metadata: dict[str, Any]) -> str:
    """The tenant a thread's metadata names, as PostgreSQL's ``metadata->>key`` reads it ('' when none)."""
    value = metadata.get(settings.SMART_SUPPORT.get("TENANT_KEY", "tenant"))
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class TenantScope:
    """The tenants a user may see: ``tenants`` None means every tenant; an empty set means none."""

    tenants: frozenset[str] | None

    @property
    def all_tenants(self) -> bool:
        return self.tenants is None

    def q(self, *, prefix: str = "") -> Q:
        """A filter on conversations (or on rows reaching them through ``prefix``, e.g. ``conversation__``)."""
        if self.tenants is None:
            return Q()
        return Q(**{f"{prefix}tenant__in": sorted(self.tenants)})

    def sql_tenants(self) -> list[str] | None:
        """The tenants as an SQL array parameter (None: no restriction)."""
        return None if self.tenants is None else sorted(self.tenants)


EVERY_TENANT = TenantScope(tenants=None)
NO_TENANT = TenantScope(tenants=frozenset())


def tenant_scope(*, user) -> TenantScope:
    """Given a request's user, return the tenants they may see."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_TENANT
    if user.has_perm(VIEW_ALL_TENANTS):  # True for every active superuser
        return EVERY_TENANT
    return TenantScope(tenants=frozenset(TenantAccess.objects.filter(user=user).values_list("tenant", flat=True)))


def visible_conversations(*, user, queryset: QuerySet[Conversation] | None = None) -> QuerySet[Conversation]:
    """The conversations (of ``queryset``, default all) this user may see."""
    queryset = Conversation.objects.all() if queryset is None else queryset
    return queryset.filter(tenant_scope(user=user).q())


def can_see_thread(*, scope: TenantScope, thread_id: str) -> bool:
    """Whether a thread's replay may be shown: every thread to a user of all tenants; otherwise only a
    derived conversation of one of their tenants (a thread not yet derived has no known tenant)."""
    if scope.all_tenants:
        return True
    return Conversation.objects.filter(scope.q(), thread_id=thread_id).exists()
