"""Writing derived threads: ``PostgresAnalyticsRecorder`` (the tables) and ``NoOpAnalyticsRecorder``
(dry runs). Which one is in use is the ``SMART_SUPPORT["ANALYTICS_RECORDER"]`` setting."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import orjson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from psycopg.types.json import Jsonb

from analytics.derive import DerivedConversation, DerivedEvent, DerivedThread
from analytics.models import EventSource
from analytics.partitions import ensure_event_partitions
from analytics.storage import (
    CONVERSATION_COLUMNS,
    LIVE_TABLES,
    REBUILD_TABLES,
    prepare_rebuild_tables,
    replace_conversations_and_events,
    staged_heads,
    swap_in_rebuild,
)


class AnalyticsRecorder(Protocol):
    def prepare(self, *, threads: Sequence[DerivedThread]) -> None:
        """Make ready, in a short transaction of its own, what writing these threads needs (the events' month
        partitions); called before the write's transaction."""
        ...

    def record(self, *, threads: Sequence[DerivedThread], source: str, refresh_rollups: bool = True) -> int:
        """Store each thread's conversation row and events, replacing what was there; return events written.
        ``refresh_rollups=False`` leaves the hourly rollups to a rebuild after a large backfill."""
        ...

    def derived_heads(self, *, thread_ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
        """Of these threads, those already recorded: ``thread_id → (newest checkpoint id, when recorded)``."""
        ...

    def for_rebuild(self) -> AnalyticsRecorder:
        """A recorder whose writes stay invisible until ``swap_in_rebuild``; resumes a killed rebuild."""
        ...

    def swap_in_rebuild(self, *, remove_unstaged: bool) -> int:
        """Make what the rebuild recorded visible at once; return the conversations swapped in."""
        ...


class NoOpAnalyticsRecorder:
    """Counts what would be written and writes nothing (``backfill_events --dry-run``)."""

    def prepare(self, *, threads: Sequence[DerivedThread]) -> None:
        pass

    def record(self, *, threads: Sequence[DerivedThread], source: str, refresh_rollups: bool = True) -> int:
        return sum(len(thread.events) for thread in threads)

    def derived_heads(self, *, thread_ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
        return {}

    def for_rebuild(self) -> NoOpAnalyticsRecorder:
        return self

    def swap_in_rebuild(self, *, remove_unstaged: bool) -> int:
        return 0


class PostgresAnalyticsRecorder:
    """Upserts conversations and replaces their events, the threads it is given in one transaction, so a
    conversation is never seen half-updated and a rerun never duplicates (unique ``dedup_key``).
    Rows go in by COPY: the ORM's bulk_create spent three quarters of a backfill building SQL."""

    def __init__(self, *, tables: tuple[str, str] = LIVE_TABLES) -> None:
        self.tables = tables

    def prepare(self, *, threads: Sequence[DerivedThread]) -> None:
        # a rebuild's events too: its swap writes them into these partitions
        ensure_event_partitions(moments=(event.occurred_at for thread in threads for event in thread.events))

    def derived_heads(self, *, thread_ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
        return staged_heads(thread_ids=thread_ids, tables=self.tables)

    def for_rebuild(self) -> PostgresAnalyticsRecorder:
        prepare_rebuild_tables()
        rebuilding = copy.copy(self)
        rebuilding.tables = REBUILD_TABLES
        return rebuilding

    def swap_in_rebuild(self, *, remove_unstaged: bool) -> int:
        return swap_in_rebuild(remove_unstaged=remove_unstaged)

    def record(
        self, *, threads: Sequence[DerivedThread], source: str = EventSource.BACKFILL, refresh_rollups: bool = True
    ) -> int:
        if not threads:
            return 0
        synced_at = timezone.now()
        conversations = [_conversation_row(thread.conversation, synced_at) for thread in threads]
        events_of = {
            thread.conversation.thread_id: [_event_row(event, source) for event in thread.events] for thread in threads
        }
        with transaction.atomic():
            connection.ensure_connection()
            with psycopg.Cursor(connection.connection) as cursor:
                return replace_conversations_and_events(
                    cursor=cursor, conversations=conversations, events_of=events_of, refresh_rollups=refresh_rollups,
                    tables=self.tables,
                )


def _json(value) -> Jsonb:
    return Jsonb(value, dumps=_dumps)


def _dumps(value) -> str:
    dumped = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    if "\\u0000" in dumped:  # PostgreSQL's jsonb cannot hold NUL characters: stored as U+FFFD
        dumped = orjson.dumps(_without_nul(value), default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return dumped


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nul(item) for item in value]
    return value


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters either."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _conversation_row(conversation: DerivedConversation, synced_at) -> tuple:
    values = {
        "metadata": _json(conversation.metadata),
        "agents_used": _json(list(conversation.agents_used)),
        "handoffs": _json(conversation.handoffs),
        "unpriced_models": _json(list(conversation.unpriced_models)),
        "synced_at": synced_at,
        **conversation.measures,
    }
    values["first_message"] = _text(conversation.first_message)
    # terms hold no space: the upsert splits them back into the tsvector's lexemes
    values["search_document"] = " ".join(conversation.search_terms.terms)
    values["masked_search_document"] = " ".join(conversation.search_terms.masked_terms)
    values["tenant"] = _text(conversation.tenant)
    return tuple(values[name] if name in values else getattr(conversation, name) for name in CONVERSATION_COLUMNS)


def _event_row(event: DerivedEvent, source: str) -> tuple:
    return (
        event.event_type, event.occurred_at, _text(event.agent), _text(event.tool_name), _text(event.model),
        event.input_tokens, event.output_tokens, event.cache_read_tokens, event.cache_write_tokens,
        event.reasoning_tokens, event.cost_usd, event.cache_savings_usd, event.latency_ms, _text(event.status),
        _json(event.payload), source,
        _text(event.dedup_key),
    )


def get_recorder(*, dry_run: bool = False) -> AnalyticsRecorder:
    if dry_run:
        return NoOpAnalyticsRecorder()
    return import_string(settings.SMART_SUPPORT["ANALYTICS_RECORDER"])()
