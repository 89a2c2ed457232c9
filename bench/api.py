"""Analytics and conversation-list latency on the benchmark dataset, next to their baselines.

Usage: .venv/bin/python bench/dataset.py --conversations 100000 && .venv/bin/python bench/backfill.py \
       && .venv/bin/python bench/api.py
Targets (bench/README.md): /api/analytics p95 <= 20 ms (30 days) and <= 50 ms (365 days);
/api/conversations p95 <= 30 ms for any one filter at any cursor depth.
"""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone

from dataset import ensure_database  # selects (and migrates) the benchmark database

from common import measure, row, setup_django  # noqa: E402

NAIVE_SQL = """
SELECT count(DISTINCT c.id),
       count(DISTINCT c.id) FILTER (WHERE e.event_type = 'tool_result' AND e.status = 'success'
                                     AND (e.payload->>'resolving')::boolean
                                     AND NOT EXISTS (SELECT 1 FROM analytics_events x
                                                     WHERE x.conversation_id = c.id AND x.event_type = 'escalated')),
       count(DISTINCT c.id) FILTER (WHERE e.event_type = 'escalated'),
       sum(e.cost_usd) FILTER (WHERE e.event_type = 'llm_usage'),
       count(*) FILTER (WHERE e.event_type = 'handoff'),
       count(*) FILTER (WHERE e.event_type = 'interrupt_raised')
FROM analytics_events e JOIN conversations c ON c.id = e.conversation_id
WHERE c.started_at >= %s AND c.started_at < %s
"""


def main() -> None:
    setup_django()
    ensure_database()
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.test import APIClient

    from replay.models import Conversation

    # What autovacuum does on a live server between a backfill and the first dashboards.
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        for table in ("conversations", "analytics_events", "analytics_hourly_rollups", "analytics_usage_rollups"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    client = APIClient()
    client.force_authenticate(user)
    total = Conversation.objects.count()
    gc.freeze()

    def naive(days: int):
        upper = datetime.now(timezone.utc)
        with connection.cursor() as cursor:
            cursor.execute(NAIVE_SQL, [upper - timedelta(days=days), upper])
            return cursor.fetchall()

    print(f"API latency on {total:,} conversations (in-process client, warm)\n")
    print("| what | p50 ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|")
    # A manager of one company: sees the conversations and analytics of the tenant "globex" only.
    from django.contrib.auth.models import Permission

    from replay.models import TenantAccess

    manager, _ = User.objects.get_or_create(username="bench-globex")
    manager.user_permissions.add(*Permission.objects.filter(codename__in=["view_analyticsevent", "view_conversation"]))
    TenantAccess.objects.get_or_create(user=manager, tenant="globex")
    one_tenant = APIClient()
    one_tenant.force_authenticate(User.objects.get(pk=manager.pk))
    for days, target in ((30, "p95 <= 20 ms"), (365, "p95 <= 50 ms")):
        print(row(f"GET /api/analytics?range={days}d", measure(lambda: client.get(f"/api/analytics?range={days}d"), repeat=100), target))
        print(row(f"the same as a viewer of one tenant (globex, {days} days)",
                  measure(lambda: one_tenant.get(f"/api/analytics?range={days}d"), repeat=100), target))
        print(row(f"baseline: naive aggregate over raw analytics_events, {days} days", measure(lambda: naive(days), repeat=10), ""))

    def deep_cursor(params: str, pages: int) -> str:
        url = f"/api/conversations?page_size=50&{params}"
        for _ in range(pages):
            url = client.get(url).json()["next"] or url
        return url

    filters = ["", "status=escalated", "agent=billing", "has_interrupt=true", "metadata.tenant=globex",
               "search=broken", "search=sim-7-000123", "ordering=-cost_usd", "started_after=2026-06-01T00:00:00Z"]
    for params in filters:
        deep = deep_cursor(params, 20)
        stats = measure(lambda: client.get(deep), repeat=50)
        print(row(f"GET /api/conversations?{params or '(no filter)'} page 21", stats, "p95 <= 30 ms"))
    offset = measure(lambda: list(Conversation.objects.order_by("-last_activity_at", "-id")[1000:1050]), repeat=50)
    print(row("baseline: the same page (no filter) by OFFSET 1000", offset, ""))
    offset_deep = measure(lambda: list(Conversation.objects.order_by("-last_activity_at", "-id")[90000:90050]), repeat=20)
    print(row("baseline: page by OFFSET 90000", offset_deep, ""))




def admin_changelist() -> None:
    """The conversation changelist as managers open it, next to Django admin's defaults."""
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    from replay.admin import ConversationAdmin
    from replay.models import Conversation

    user = User.objects.get(username="bench")
    site = admin.AdminSite(name="bench")
    ours = ConversationAdmin(Conversation, site)

    class DefaultsAdmin(admin.ModelAdmin):
        list_display = ("thread_id", "status", "started_at", "last_activity_at", "step_count", "cost_usd", "escalated", "resolved")
        list_filter = ("status", "escalated", "resolved", "started_at")
        search_fields = ("thread_id", "first_message")

    defaults = DefaultsAdmin(Conversation, site)
    factory = RequestFactory()

    def open_page(model_admin, query: str):
        request = factory.get(f"/admin/replay/conversation/{query}")
        request.user = user
        response = model_admin.changelist_view(request)
        response.render()
        return response

    print("\n| admin changelist of conversations | p50 ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|")
    for query in ("", "?p=50", "?status__exact=escalated", "?q=broken", "?started_from=2026-11-01&started_to=2026-11-25"):
        label = query or "(first page)"
        print(row(f"ours {label}", measure(lambda: open_page(ours, query), repeat=30), "p95 <= 150 ms"))
    print(row("baseline: Django admin defaults (first page)", measure(lambda: open_page(defaults, ""), repeat=10), ""))
    print(row("baseline: Django admin defaults ?q=broken", measure(lambda: open_page(defaults, "?q=broken"), repeat=10), ""))


if __name__ == "__main__":
    main()
    admin_changelist()
