"""Writing derived threads: ``PostgresAnalyticsRecorder`` (the tables) and ``NoOpAnalyticsRecorder``
(dry runs). Which one is in use is the ``SMART_SUPPORT["ANALYTICS_RECORDER"]`` setting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from analytics.derive import DerivedThread
from analytics.models import AnalyticsEvent, EventSource
from replay.models import Conversation

CONVERSATION_FIELDS = [
    field.name for field in Conversation._meta.concrete_fields if field.name not in {"id", "thread_id"}
]


class AnalyticsRecorder(Protocol):
    def record(self, *, threads: Sequence[DerivedThread], source: str) -> int:
        """Store each thread's conversation row and events, replacing what was there; return events written."""
        ...


class NoOpAnalyticsRecorder:
    """Counts what would be written and writes nothing (``backfill_events --dry-run``)."""

    def record(self, *, threads: Sequence[DerivedThread], source: str) -> int:
        return sum(len(thread.events) for thread in threads)


class PostgresAnalyticsRecorder:
    """Upserts conversations and replaces their events, a batch of threads in one transaction, so a
    conversation is never seen half-updated and a rerun never duplicates (unique ``dedup_key``)."""

    def record(self, *, threads: Sequence[DerivedThread], source: str = EventSource.BACKFILL) -> int:
        if not threads:
            return 0
        synced_at = timezone.now()
        rows = [
            Conversation(
                thread_id=thread.conversation.thread_id,
                synced_at=synced_at,
                **{
                    name: list(value) if isinstance(value, tuple) else value
                    for name, value in asdict(thread.conversation).items()
                    if name != "thread_id"
                },
            )
            for thread in threads
        ]
        with transaction.atomic():
            saved = Conversation.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["thread_id"], update_fields=CONVERSATION_FIELDS
            )
            conversation_ids = {row.thread_id: row.pk for row in saved}
            AnalyticsEvent.objects.filter(conversation_id__in=conversation_ids.values()).delete()
            events = [
                AnalyticsEvent(conversation_id=conversation_ids[thread.conversation.thread_id], source=source, **asdict(event))
                for thread in threads
                for event in thread.events
            ]
            AnalyticsEvent.objects.bulk_create(events, batch_size=2000)
        return len(events)


def get_recorder(*, dry_run: bool = False) -> AnalyticsRecorder:
    if dry_run:
        return NoOpAnalyticsRecorder()
    return import_string(settings.SMART_SUPPORT["ANALYTICS_RECORDER"])()
