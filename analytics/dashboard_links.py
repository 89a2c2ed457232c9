"""The dashboard's numbers as text that says what they count, and the admin lists holding exactly the rows
behind each: the conversation list for conversations, the events list for approval requests and calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import ngettext

from analytics.models import EventType
from analytics.queries import AnalyticsResult, day_bounds
from replay.steps import approval_expiry_cutoff
from smart_support.time_zones import time_zone


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def money(value: Decimal | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"


def count(value: int) -> str:
    return f"{value:,}"


def conversations_text(number: int, kind: str = "") -> str:
    """"8 conversations", "1 resolved conversation": the number a link shows, with what it counts."""
    texts = {
        "": ngettext("%(count)s conversation", "%(count)s conversations", number),
        "resolved": ngettext("%(count)s resolved conversation", "%(count)s resolved conversations", number),
        "escalated": ngettext("%(count)s escalated conversation", "%(count)s escalated conversations", number),
        "open": ngettext("open this %(count)s conversation", "open these %(count)s conversations", number),
        "over": ngettext("over %(count)s conversation", "over %(count)s conversations", number),
    }
    return texts[kind] % {"count": count(number)}


def approval_requests_text(number: int) -> str:
    return ngettext("%(count)s approval request", "%(count)s approval requests", number) % {"count": count(number)}


@dataclass(frozen=True)
class DrillLink:
    """A link to the list behind a number; ``text`` shows the number of rows the list holds."""

    text: str
    url: str


class DrillDown:
    """URLs of the admin lists holding exactly the rows behind a number: the conversation list for
    conversations, the events list for approval requests and calls."""

    def __init__(self, result: AnalyticsResult) -> None:
        self.result = result
        self.base = {"started_from": result.start.isoformat(), "started_to": result.end.isoformat(), "tz": result.tz}
        self.changelist = reverse("admin:replay_conversation_changelist")

    def url(self, *, agent: str = "", **filters: str) -> str:
        # narrowed to an agent, the dashboard counts conversations with that agent and any other one asked for
        agents = [name for name in dict.fromkeys((self.result.agent or "", agent)) if name]
        return f"{self.changelist}?{urlencode({**self.base, **filters, 'agent': agents}, doseq=True)}"

    def day(self, day: date, **filters: str) -> str:
        return self.url(**{"started_from": day.isoformat(), "started_to": day.isoformat(), **filters})

    def events(self, **filters: str) -> str:
        """The events of the population's conversations that match ``filters``."""
        result = self.result
        lower, upper = day_bounds(start=result.start, end=result.end, tz=time_zone(name=result.tz))
        query = {"conversation__started_at__gte": lower.isoformat(), "conversation__started_at__lt": upper.isoformat()}
        if result.agent:
            query["conversation_agent"] = result.agent
        return f"{reverse('admin:analytics_analyticsevent_changelist')}?{urlencode({**filters, **query})}"

    def approval_requests(self, outcome: str = "", *, now: datetime) -> str:
        """The population's approval requests with this outcome (any, approved, rejected, other, expired, pending)."""
        filters = {"event_type__exact": EventType.INTERRUPT_RAISED}
        cutoff = approval_expiry_cutoff(now=now).isoformat()
        filters.update({
            "": {}, "approved": {"status": "approved"}, "rejected": {"status": "rejected"}, "other": {"status": "resolved"},
            "expired": {"status": "pending", "occurred_at__lt": cutoff},
            "pending": {"status": "pending", "occurred_at__gte": cutoff},
        }[outcome])
        return self.events(**filters)
