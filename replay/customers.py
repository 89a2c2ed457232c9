"""One customer's conversations: the metadata key ``SMART_SUPPORT["CUSTOMER_KEY"]`` names a thread's
customer; a reader sees only the conversations of the tenants they may see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum

from replay.models import Conversation
from replay.tenants import EVERY_TENANT, TenantScope


def customer_key() -> str:
    return settings.SMART_SUPPORT.get("CUSTOMER_KEY", "customer_id")


def customer_of(*, metadata: dict[str, Any]) -> str:
    """The customer a thread's metadata names, as text ('' when none); a number reads as its digits."""
    value = metadata.get(customer_key())
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class CustomerTotals:
    conversations: int
    resolved: int
    escalated: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def customer_conversations(*, customer_id: str, tenants: TenantScope = EVERY_TENANT) -> QuerySet[Conversation]:
    """The conversations of one customer that a reader of ``tenants`` may see, newest activity first."""
    # containment, so the metadata GIN index answers; an id stored as a JSON number matches its digits
    matches = Q(metadata__contains={customer_key(): customer_id})
    stored_as_json = _json_scalar(customer_id)
    if stored_as_json is not None:
        matches |= Q(metadata__contains={customer_key(): stored_as_json})
    return Conversation.objects.filter(tenants.q()).filter(matches).order_by("-last_activity_at", "-id")


def _json_scalar(customer_id: str) -> int | float | bool | None:
    """The number or boolean a customer id stored as JSON prints as (``customer_of``): "7" is 7, "-5" is -5,
    "true" is True; None for any other text ("007" is not 7; no id is thousands of digits long)."""
    if len(customer_id) > 32:
        return None
    try:
        value = json.loads(customer_id)
    except ValueError:
        return None
    if isinstance(value, (bool, int, float)) and json.dumps(value) == customer_id:
        return value
    return None


def customer_totals(*, conversations: QuerySet[Conversation]) -> CustomerTotals:
    """Given a customer's conversations, return how many there are, their outcomes, tokens and cost."""
    row = conversations.order_by().aggregate(
        conversations=Count("id"),
        resolved=Count("id", filter=Q(resolved=True)),
        escalated=Count("id", filter=Q(escalated=True)),
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
        cost_usd=Sum("cost_usd", default=Decimal(0)),
    )
    return CustomerTotals(**row)
