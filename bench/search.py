"""Conversation search by ids, parts of ids and words — the API's ``search`` and the admin's ``?q=`` —
next to its baselines: the same search without its index (a sequential scan) and Django admin's default
``icontains`` search over the thread id and first message.

Usage: .venv/bin/python bench/dataset.py --conversations 100000 && .venv/bin/python bench/backfill.py \
       && .venv/bin/python bench/search.py [--database smart_support_bench]
Target (bench/README.md): p95 <= 50 ms at 100k conversations, API and admin.
The search documents are written by the backfill: a dataset derived before they existed needs
``backfill_events --rebuild`` (with ``DATABASE_NAME`` set to the benchmark database) first.
"""

from __future__ import annotations

import argparse
import gc
import os
import re

import dataset  # noqa: F401 - selects the benchmark database by default

from common import measure, row, setup_django  # noqa: E402

REPEAT = 50


def first_id(prefix: str) -> str:
    """The first id such as ``ORD-12345`` a first message of the dataset holds."""
    from replay.models import Conversation

    text = Conversation.objects.filter(first_message__contains=prefix).order_by("id").values_list("first_message", flat=True)[0]
    return re.search(rf"{prefix}\d{{5}}", text).group()


def sample_terms() -> list[tuple[str, str]]:
    """(what, search text) pairs read from the dataset itself, so every id exists."""
    from replay.models import Conversation

    conversations = Conversation.objects.order_by("id")
    order, invoice = first_id("ORD-"), first_id("INV-")
    customer = conversations.exclude(metadata__customer_id=None).values_list("metadata__customer_id", flat=True)[0]
    thread = conversations.values_list("thread_id", flat=True)[0]
    return [
        ("an order id", order),
        ("its number", order.split("-")[1]),
        ("an id's start", order[:7]),
        ("an invoice id", invoice),
        ("a customer id (metadata)", customer),
        ("a less common word", "crashes"),
        ("a common word", "order"),
        ("two words", "refund approved"),
        ("a word's start", "refu"),
        ("a term no conversation holds", "ORD-00000"),
        ("a thread id prefix", thread[: len(thread) - 2]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default=dataset.BENCH_DATABASE, help="a copy of the benchmark database, say")
    args = parser.parse_args()
    os.environ["DATABASE_NAME"] = args.database
    setup_django()
    dataset.ensure_database()
    from django.contrib import admin
    from django.contrib.auth.models import Permission, User
    from django.db import connection
    from django.test import RequestFactory
    from rest_framework.test import APIClient

    from replay.admin import ConversationAdmin
    from replay.models import Conversation
    from replay.queries import search_conversations

    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE conversations")
    total = Conversation.objects.count()
    if not total:
        raise SystemExit(f"{args.database} holds no conversations: run bench/dataset.py and bench/backfill.py first")
    empty = Conversation.objects.filter(search_document=None).count()
    if empty:
        raise SystemExit(f"{empty:,} of {total:,} conversations have no search document: run backfill_events --rebuild")
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    masked_user, _ = User.objects.get_or_create(username="bench-masked", defaults={"is_staff": True})
    masked_user.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "view_all_tenants"]))
    masked_user = User.objects.get(pk=masked_user.pk)
    api, masked_api = APIClient(), APIClient()
    api.force_authenticate(user)
    masked_api.force_authenticate(masked_user)
    ours = ConversationAdmin(Conversation, admin.AdminSite(name="bench"))

    class DefaultsAdmin(admin.ModelAdmin):
        list_display = ("thread_id", "status", "started_at", "last_activity_at")
        search_fields = ("thread_id", "first_message")

    defaults = DefaultsAdmin(Conversation, admin.AdminSite(name="bench-defaults"))
    factory = RequestFactory()

    def admin_page(model_admin, text: str):
        request = factory.get("/admin/replay/conversation/", {"q": text})
        request.user = user
        response = model_admin.changelist_view(request)
        response.render()
        return response

    def admin_search_queries(text: str) -> int:
        """What the admin's search costs the database: its page of rows and its (capped) count."""
        request = factory.get("/admin/replay/conversation/", {"q": text})
        request.user = user
        queryset, _ = ours.get_search_results(request, ours.get_queryset(request), text)
        queryset = queryset.order_by(*ours.ordering)
        list(queryset[:50])
        return ours.get_paginator(request, queryset, 50).count  # the admin's own choice of count or estimate

    def sequential_scan(text: str) -> list:
        """The same search with its GIN indexes out of reach: rows are read in list order (or all of them)
        and each document tested."""
        with connection.cursor() as cursor:
            cursor.execute("SET enable_bitmapscan = off")
            try:
                return list(search_conversations(Conversation.objects.all(), text)[:50].values_list("id", flat=True))
            finally:
                cursor.execute("RESET enable_bitmapscan")

    gc.freeze()
    print(f"Conversation search on {total:,} conversations (in-process clients, warm; first page of 50)\n")
    print("| what | p50 ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|")
    for what, text in sample_terms():
        found = search_conversations(Conversation.objects.all(), text).count()
        response = api.get("/api/conversations", {"search": text})
        assert response.status_code == 200, response.content
        stats = measure(lambda: api.get("/api/conversations", {"search": text}), repeat=REPEAT)
        print(row(f"API `search={text}` ({what}; {found:,} found)", stats, "p95 ≤ 50 ms"))
        print(row(f"admin `?q={text}`: its search queries (page and capped count)",
                  measure(lambda: admin_search_queries(text), repeat=REPEAT), "p95 ≤ 50 ms"))
        print(row(f"admin `?q={text}`: the whole page", measure(lambda: admin_page(ours, text), repeat=REPEAT // 2), "p95 ≤ 150 ms"))
        print(row(f"baseline: the same search without its GIN index `{text}`", measure(lambda: sequential_scan(text), repeat=5), ""))
    print(row("API without a search", measure(lambda: api.get("/api/conversations"), repeat=REPEAT), ""))
    print(row("admin: the whole page without a search", measure(lambda: admin_page(ours, ""), repeat=REPEAT // 2), "p95 ≤ 150 ms"))
    text = "ORD-6"
    print(row(f"API `search={text}` (a short id start)",
              measure(lambda: api.get("/api/conversations", {"search": text}), repeat=REPEAT), "p95 ≤ 50 ms"))
    print(row(f"API `search={text}` as a reader who sees personal data masked",
              measure(lambda: masked_api.get("/api/conversations", {"search": text}), repeat=REPEAT), "p95 ≤ 50 ms"))
    for text in ("broken", "ORD-6"):
        print(row(f"baseline: Django admin defaults `?q={text}` (thread id and first message, icontains)",
                  measure(lambda: admin_page(defaults, text), repeat=5), ""))


if __name__ == "__main__":
    main()
