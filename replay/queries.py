"""Conversation queries shared by the API and the admin."""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery
from django.db.models import Q, QuerySet

from replay.models import Conversation
from replay.redaction import SHOW_ALL, Redaction, holds_personal_data
from replay.search_terms import tsquery_of


class LexemeQuery(SearchQuery):
    """tsquery text cast as written: ``to_tsquery`` would parse its lexemes again and cut 'ord-61744' in three."""

    template = "%(expressions)s::tsquery"

    def __init__(self, value: str) -> None:
        super().__init__(value, search_type="raw")


def search_conversations(queryset: QuerySet[Conversation], text: str, *, redaction: Redaction = SHOW_ALL) -> QuerySet[Conversation]:
    """Conversations whose thread id starts with ``text``, or whose messages, tool arguments and results
    and metadata values hold a term starting with each term of ``text`` (replay/search_terms.py: "ORD-617",
    "61744", "cus_870879", "refund" finding "refunds"); both served by indexes. A reader who sees personal
    data masked searches the masked document, so nothing masked (nor a fragment of it) finds a conversation:
    a match would tell them which conversation holds it."""
    text = text.strip()
    if not text:
        return queryset
    if redaction.masks and holds_personal_data(text):
        return queryset.none()
    matches = Q(thread_id__startswith=text)
    query = tsquery_of(text)
    if query is not None:
        document = "masked_search_document" if redaction.masks else "search_document"
        matches |= Q(**{document: LexemeQuery(query)})
    return queryset.filter(matches)
