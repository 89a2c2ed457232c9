"""Conversations as CSV rows, for the admin action and ``GET /api/conversations?format=csv``."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from replay.models import Conversation

def csv_columns() -> tuple[str, ...]:
    return (
        "thread_id", "status", "started_at", "last_activity_at", "agents_used", *Conversation.measure_names(),
        "unpriced_models", "first_message", "metadata",
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def conversation_csv_lines(conversations: QuerySet[Conversation] | Iterable[Conversation]) -> Iterator[str]:
    """Header then one line per conversation, streamed (``.iterator()`` keeps memory flat)."""
    writer = csv.writer(_Echo())
    columns = csv_columns()
    yield writer.writerow(columns)
    rows = conversations.iterator(chunk_size=2000) if isinstance(conversations, QuerySet) else conversations
    for conversation in rows:
        yield writer.writerow([_cell(conversation, column) for column in columns])


def _cell(conversation: Conversation, column: str) -> str:
    value = getattr(conversation, column)
    if column in {"agents_used", "unpriced_models"}:
        return " ".join(value)
    if column == "metadata":
        return ";".join(f"{key}={item}" for key, item in sorted(value.items()))
    if column in {"started_at", "last_activity_at"}:
        return value.isoformat()
    return str(value)
