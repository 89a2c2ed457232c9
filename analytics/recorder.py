"""Writing derived threads: ``PostgresAnalyticsRecorder`` (the tables) and ``NoOpAnalyticsRecorder``
(dry runs). Which one is in use is the ``SMART_SUPPORT["ANALYTICS_RECORDER"]`` setting."""

from __future__ import annotations

from collections.abc import Sequence
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
from analytics.storage import CONVERSATION_COLUMNS, replace_conversations_and_events


class AnalyticsRecorder(Protocol):
    def record(self, *, threads: Sequence[DerivedThread], source: str, refresh_rollups: bool = True) -> int:
        """Store each thread's conversation row and events, replacing what was there; return events written.
        ``refresh_rollups=False`` leaves the hourly rollups to a rebuild after a large backfill."""
        ...


class NoOpAnalyticsRecorder:
    """Counts what would be written and writes nothing (``backfill_events --dry-run``)."""

    def record(self, *, threads: Sequence[DerivedThread], source: str, refresh_rollups: bool = True) -> int:
        return sum(len(thread.events) for thread in threads)


class PostgresAnalyticsRecorder:
    """Upserts conversations and replaces their events, a batch of threads in one transaction, so a
    conversation is never seen half-updated and a rerun never duplicates (unique ``dedup_key``).
    Rows go in by COPY: the ORM's bulk_create spent three quarters of a backfill building SQL."""

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
                    cursor=cursor, conversations=conversations, events_of=events_of, refresh_rollups=refresh_rollups
                )


def _json(value) -> Jsonb:
    return Jsonb(value, dumps=_dumps)


def _dumps(value) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _conversation_row(conversation: DerivedConversation, synced_at) -> tuple:
    values = {
        "metadata": _json(conversation.metadata),
        "agents_used": _json(list(conversation.agents_used)),
        "handoffs": _json(conversation.handoffs),
        "unpriced_models": _json(list(conversation.unpriced_models)),
        "synced_at": synced_at,
    }
    return tuple(values[name] if name in values else getattr(conversation, name) for name in CONVERSATION_COLUMNS)


def _event_row(event: DerivedEvent, source: str) -> tuple:
    return (
        event.event_type, event.occurred_at, event.agent, event.tool_name, event.model, event.input_tokens,
        event.output_tokens, event.cost_usd, event.status, _json(event.payload), source, event.dedup_key,
    )


def get_recorder(*, dry_run: bool = False) -> AnalyticsRecorder:
    if dry_run:
        return NoOpAnalyticsRecorder()
    return import_string(settings.SMART_SUPPORT["ANALYTICS_RECORDER"])()
