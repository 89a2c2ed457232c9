"""Conversation queries shared by the API and the admin."""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery
from django.db.models import Q, QuerySet

from replay.models import Conversation
from replay.redaction import SHOW_ALL, Redaction, holds_personal_data



def search_conversations(queryset: QuerySet[Conversation], text: str, *, redaction: Redaction = SHOW_ALL) -> QuerySet[Conversation]:
    """Conversations whose thread id starts with ``text`` or whose first message has words starting
    with each word of ``text`` ("refund" finds "refunds"); both served by indexes. A reader who sees
    personal data masked finds nothing by it: a match would tell them which conversation holds it."""
    text = text.strip()
    if not text:
        return queryset
    if redaction.masks and holds_personal_data(text):
        return queryset.none()
    # the whole text as one query too: an e-mail address is a single word to PostgreSQL's parser
    matches = Q(thread_id__startswith=text) | Q(first_message_search=SearchQuery(text, config="simple"))
    words = re.findall(r"\w+", text.lower())
    if words:
        query = SearchQuery(" & ".join(f"{word}:*" for word in words), search_type="raw", config="simple")
        matches |= Q(first_message_search=query)
    return queryset.filter(matches)
