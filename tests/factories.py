from datetime import datetime, timedelta, timezone
from decimal import Decimal

import factory

from analytics.models import AnalyticsEvent, EventType, ModelPrice
from replay.models import Conversation, ConversationStatus
from replay.search_terms import document_terms
from replay.tenants import tenant_of


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    thread_id = factory.Sequence(lambda n: f"thread-{n:05d}")
    metadata = factory.LazyFunction(lambda: {"tenant": "acme-eu", "channel": "web"})
    tenant = factory.LazyAttribute(lambda conversation: tenant_of(metadata=conversation.metadata))
    started_at = factory.Sequence(lambda n: datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(hours=n))
    last_activity_at = factory.LazyAttribute(lambda conversation: conversation.started_at + timedelta(minutes=3))
    status = ConversationStatus.RESOLVED
    agents_used = factory.LazyFunction(lambda: ["supervisor", "orders"])
    message_count = 4
    step_count = 7
    tool_call_count = 2
    input_tokens = 900
    output_tokens = 120
    cost_usd = Decimal("0.00120000")
    resolved = True
    first_message = factory.Sequence(lambda n: f"Where is my order ORD-{10000 + n}?")
    # what the derivation would store for a conversation holding only this message and metadata
    search_document = factory.LazyAttribute(lambda conversation: _tsvector_text(_terms(conversation).terms))
    masked_search_document = factory.LazyAttribute(lambda conversation: _tsvector_text(_terms(conversation).masked_terms))


def _terms(conversation):
    return document_terms(texts=[conversation.first_message], values=[conversation.metadata])


def _tsvector_text(terms: tuple[str, ...]) -> str:
    return " ".join(f"'{term}'" for term in terms)  # terms hold no quote


class AnalyticsEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AnalyticsEvent

    conversation = factory.SubFactory(ConversationFactory)
    event_type = EventType.TOOL_CALL
    occurred_at = factory.LazyAttribute(lambda event: event.conversation.started_at)
    dedup_key = factory.Sequence(lambda n: f"event-{n}")


class ModelPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPrice

    model = factory.Sequence(lambda n: f"model-{n}")
    input_usd_per_million = Decimal("1.00")
    output_usd_per_million = Decimal("4.00")
    effective_from = datetime(2025, 1, 1, tzinfo=timezone.utc)
