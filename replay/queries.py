"""Conversation queries shared by the API and the admin."""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery
from django.db.models import Q, QuerySet

from replay.models import Conversation



def search_conversations(queryset: QuerySet[Conversation], text: str) -> QuerySet[Conversation]:
    """Conversations whose thread id starts with ``text`` or whose first message has words starting
    with each word of ``text`` ("refund" finds "refunds"); both served by indexes."""
    text = text.strip()
    if not text:
        return queryset
    matches = Q(thread_id__startswith=text)
    words = re.findall(r"\w+", text.lower())
    if words:
        query = SearchQuery(" & ".join(f"{word}:*" for word in words), search_type="raw", config="simple")
        matches |= Q(first_message_search=query)
    return queryset.filter(matches)
