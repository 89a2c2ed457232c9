"""The conversation changelist's columns, sized to fit a 1400 px screen, and the admin links they share
with the replay page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from replay.customers import customer_of
from replay.money import format_usd
from replay.models import Conversation
from replay.redaction import Redaction, holds_personal_data, redact_text
from smart_support.time_zones import in_current_zone

# The admin's own name for the list's query string carried by a page opened from the list.
CHANGELIST_FILTERS = "_changelist_filters"
THREAD_ID_SHOWN = 14
FIRST_MESSAGE_SHOWN = 48


def replay_url(*, thread_id: str, page: int | None = None, changelist_filters: str = "", anchor: str = "") -> str:
    """The replay page of a thread (at ``page``, with the list's filters to go back to, at ``anchor``)."""
    url = reverse("admin:replay_conversation_replay", kwargs={"thread_id": thread_id})
    query = {}
    if page is not None and page != 1:
        query["page"] = page
    if changelist_filters:
        query[CHANGELIST_FILTERS] = changelist_filters
    return url + (f"?{urlencode(query)}" if query else "") + (f"#{anchor}" if anchor else "")


def customer_url(*, customer_id: str) -> str:
    return reverse("admin:replay_conversation_customer", kwargs={"customer_id": customer_id})


def customer_masked(*, customer_id: str, redaction: Redaction) -> bool:
    """True when this reader may not see (so may not be linked by) the customer id: it is personal data."""
    return redaction.masks and holds_personal_data(customer_id)


def shortened_thread_id(thread_id: str) -> str:
    return thread_id if len(thread_id) <= THREAD_ID_SHOWN else f"{thread_id[:THREAD_ID_SHOWN - 1]}…"


@dataclass(frozen=True)
class ConversationColumns:
    """The columns one reader sees: first messages masked for them, links carrying their list's filters."""

    redaction: Redaction
    changelist_filters: str

    def list_display(self) -> tuple[Callable[[Conversation], object] | str, ...]:
        return (
            self.thread, self.started, self.customer, self.first_message, self.agents, self.steps,
            self.tokens, self.cost, self.escalated, self.resolved, self.replay,
        )

    def _replay_url(self, conversation: Conversation) -> str:
        return replay_url(thread_id=conversation.thread_id, changelist_filters=self.changelist_filters)

    @property
    def thread(self):
        @admin.display(description=_("Thread"), ordering="thread_id")
        def thread(conversation: Conversation) -> str:
            return format_html(
                '<a href="{}" title="{}">{}</a>', self._replay_url(conversation), conversation.thread_id,
                shortened_thread_id(conversation.thread_id),
            )
        return thread

    @property
    def customer(self):
        @admin.display(description=_("Customer"))
        def customer(conversation: Conversation) -> str:
            customer_id = customer_of(metadata=conversation.metadata)
            if not customer_id:
                return "–"
            if customer_masked(customer_id=customer_id, redaction=self.redaction):
                return redact_text(customer_id)
            return format_html('<a href="{}">{}</a>', customer_url(customer_id=customer_id), customer_id)
        return customer

    @property
    def first_message(self):
        @admin.display(description=_("First message"))
        def first_message(conversation: Conversation) -> str:
            text = self.redaction.conversation(conversation).first_message
            return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(FIRST_MESSAGE_SHOWN)) if text else "–"
        return first_message

    @property
    def replay(self):
        @admin.display(description=_("Replay"))
        def replay(conversation: Conversation) -> str:
            return format_html('<a href="{}">{}</a>', self._replay_url(conversation), _("Replay"))
        return replay

    @staticmethod
    @admin.display(description=_("Agents"))
    def agents(conversation: Conversation) -> str:
        return ", ".join(conversation.agents_used) or "–"

    @staticmethod
    @admin.display(description=in_current_zone(_("Started")), ordering="started_at")
    def started(conversation: Conversation) -> str:
        # in the reader's active time zone (named in the header); compact, so the column stays narrow
        return date_format(localtime(conversation.started_at), "Y-m-d H:i")

    @staticmethod
    @admin.display(description=_("Steps"), ordering="step_count")
    def steps(conversation: Conversation) -> int:
        return conversation.step_count

    @staticmethod
    @admin.display(description=_("Tokens"), ordering="total_tokens")
    def tokens(conversation: Conversation) -> str:
        return f"{conversation.input_tokens + conversation.output_tokens:,}"

    @staticmethod
    @admin.display(description=_("Cost"), ordering="cost_usd")
    def cost(conversation: Conversation) -> str:
        return format_usd(conversation.cost_usd)

    @staticmethod
    @admin.display(description=_("Escalated"), boolean=True, ordering="escalated")
    def escalated(conversation: Conversation) -> bool:
        return conversation.escalated

    @staticmethod
    @admin.display(description=_("Resolved"), boolean=True, ordering="resolved")
    def resolved(conversation: Conversation) -> bool:
        return conversation.resolved
