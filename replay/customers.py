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
    # only the digits a number prints as: "007" is not customer 7, and no number has thousands of digits
    if customer_id.isascii() and customer_id.isdigit() and len(customer_id) <= 20 and str(int(customer_id)) == customer_id:
        matches |= Q(metadata__contains={customer_key(): int(customer_id)})
    return Conversation.objects.filter(tenants.q()).filter(matches).order_by("-last_activity_at", "-id")


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
