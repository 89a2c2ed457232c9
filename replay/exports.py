"""Conversations as CSV rows, for the admin action and ``GET /api/conversations?format=csv``."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from replay.models import Conversation

# OWASP's CSV injection rule: a spreadsheet runs a cell starting with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class CsvExportTooLarge(Exception):
    def __init__(self, *, limit: int) -> None:
        super().__init__(f"more than {limit:,} conversations")
        self.limit = limit


def csv_row_limit() -> int:
    return settings.SMART_SUPPORT["CSV_MAX_ROWS"]


def check_csv_export_size(*, conversations: QuerySet[Conversation]) -> None:
    """Raise ``CsvExportTooLarge`` when the export would hold more rows than ``SMART_SUPPORT_CSV_MAX_ROWS``
    (counted only up to one past the limit, so a huge table is not counted through)."""
    limit = csv_row_limit()
    if conversations.order_by()[: limit + 1].count() > limit:
        raise CsvExportTooLarge(limit=limit)


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
    if isinstance(value, (bool, int, Decimal, datetime)):  # written by this app, never by a customer
        return value.isoformat() if isinstance(value, datetime) else str(value)
    if column in {"agents_used", "unpriced_models"}:
        return neutralise_formula(text=" ".join(value))
    if column == "metadata":
        return neutralise_formula(text=";".join(f"{key}={item}" for key, item in sorted(value.items())))
    return neutralise_formula(text=str(value))


def neutralise_formula(*, text: str) -> str:
    """The text as a spreadsheet shows it but never runs it: a leading quote before a formula's first character."""
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text
