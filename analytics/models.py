import re

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext, gettext_lazy as _
from django.db.models import Q

from analytics.measures import MEASURES
from replay.models import Conversation


class EventType(models.TextChoices):
    CONVERSATION_STARTED = "conversation_started", _("Conversation started")
    HANDOFF = "handoff", _("Handoff")
    TOOL_CALL = "tool_call", _("Tool call")
    TOOL_RESULT = "tool_result", _("Tool result")
    LLM_USAGE = "llm_usage", _("LLM usage")
    INTERRUPT_RAISED = "interrupt_raised", _("Interrupt raised")
    INTERRUPT_RESOLVED = "interrupt_resolved", _("Interrupt resolved")
    ESCALATED = "escalated", _("Escalated")
    UNKNOWN = "unknown", _("Unknown")


class EventSource(models.TextChoices):
    LIVE = "live", _("Live sync")
    BACKFILL = "backfill", _("Backfill")


class AnalyticsEvent(models.Model):
    """One fact derived from a conversation's timeline; ``dedup_key``, unique within the conversation, makes every
    write idempotent."""

    conversation = models.ForeignKey("replay.Conversation", on_delete=models.CASCADE, related_name="events")
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    # Agent, tool and model names come from the agent's own data: text of any length.
    agent = models.TextField(blank=True)
    tool_name = models.TextField(blank=True)
    model = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0, help_text=_("Input tokens read from the provider's cache."))
    cache_write_tokens = models.PositiveIntegerField(default=0, help_text=_("Input tokens written to the provider's cache."))
    reasoning_tokens = models.PositiveIntegerField(default=0, help_text=_("Output tokens spent on reasoning."))
    cost_usd = models.DecimalField(
        max_digits=16, decimal_places=8, null=True, blank=True, help_text=_("Empty when the model has no price.")
    )
    cache_savings_usd = models.DecimalField(
        max_digits=16, decimal_places=8, null=True, blank=True,
        help_text=_("What the cached input saved against the plain input price; empty when the model has no price."),
    )
    latency_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("LLM call: since the step before it; tool result: since its call.")
    )
    status = models.CharField(max_length=32, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=EventSource.choices, default=EventSource.BACKFILL)
    dedup_key = models.TextField(help_text=_("What the event is within its conversation, stable across re-derivations."))

    class Meta:
        db_table = "analytics_events"
        verbose_name = _("analytics event")
        verbose_name_plural = _("analytics events")
        ordering = ["occurred_at", "id"]
        # Partitioned by month of occurred_at (migration 0015, analytics/partitions.py): a unique constraint must hold
        # the month, so (conversation, dedup_key) is kept unique across months by the database trigger
        # analytics_events_unique_dedup_key, and the primary key is (id, occurred_at) there.
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "dedup_key", "occurred_at"], name="event_unique_dedup_key_occurred_at"
            )
        ]
        indexes = [
            models.Index(fields=["occurred_at"], name="event_occurred_idx"),
            models.Index(fields=["event_type", "occurred_at"], name="event_type_occurred_idx"),
            models.Index(fields=["conversation", "event_type"], name="event_conversation_type_idx"),
            # the few approvals still waiting, whose expiry the analytics check at query time
            models.Index(
                fields=["occurred_at"],
                condition=Q(event_type="interrupt_raised", status="pending"),
                name="event_pending_interrupt_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class ModelPrice(models.Model):
    """The price of one model's tokens from ``effective_from`` until the next price of that model.

    A call is priced by the model name its provider reported: a price whose ``model`` is that exact
    name wins; else, among the prices whose ``match_pattern`` matches the whole name, the one whose
    ``model`` is the longest part of that name (alphabetical on a tie; a catch-all whose name is not
    part of it comes last). Only the prices in force at the call's time take part."""

    model = models.CharField(_("model"), max_length=255, help_text=_("As reported in response_metadata['model_name']."))
    match_pattern = models.CharField(
        max_length=500, blank=True, default="", verbose_name=_("also matches"),
        help_text=_(
            "Empty (the default): only the exact model name above. Otherwise a regular expression the whole "
            r"reported name must match, e.g. (?:openai/)?gpt-4o(?:-\d{4}-\d{2}-\d{2})? for gpt-4o-2024-08-06 "
            "and openai/gpt-4o. An exact name always beats a pattern."
        ),
    )
    input_usd_per_million = models.DecimalField(
        _("input USD per million tokens"), max_digits=12, decimal_places=6, validators=[MinValueValidator(0)], help_text=_("USD per million input tokens.")
    )
    output_usd_per_million = models.DecimalField(
        _("output USD per million tokens"), max_digits=12, decimal_places=6, validators=[MinValueValidator(0)],
        help_text=_("USD per million output tokens (reasoning tokens included)."),
    )
    cache_read_usd_per_million = models.DecimalField(
        _("cache read USD per million tokens"), max_digits=12, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("USD per million input tokens read from the provider's cache. Empty: the input price."),
    )
    cache_write_usd_per_million = models.DecimalField(
        _("cache write USD per million tokens"), max_digits=12, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("USD per million input tokens written to the provider's cache. Empty: the input price."),
    )
    effective_from = models.DateTimeField(_("effective from"), help_text=_("Calls from this moment on are costed at this price."))

    class Meta:
        db_table = "model_prices"
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "effective_from"],
                name="model_price_unique_effective_from",
                violation_error_message=_("This model already has a price from that moment; edit that one instead."),
            ),
            models.CheckConstraint(
                condition=Q(input_usd_per_million__gte=0) & Q(output_usd_per_million__gte=0),
                name="model_price_non_negative",
                violation_error_message=_("Prices cannot be negative."),
            ),
            models.CheckConstraint(
                condition=(Q(cache_read_usd_per_million__isnull=True) | Q(cache_read_usd_per_million__gte=0))
                & (Q(cache_write_usd_per_million__isnull=True) | Q(cache_write_usd_per_million__gte=0)),
                name="model_price_cache_non_negative",
                violation_error_message=_("Cache prices cannot be negative."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from:%Y-%m-%d}"

    def clean(self) -> None:
        super().clean()
        try:
            re.compile(self.match_pattern)
        except re.error as error:
            raise ValidationError(
                {"match_pattern": gettext(
                    "Not a regular expression: %(error)s at position %(position)s. "
                    "Leave it empty to match the exact model name only."
                ) % {"error": error.msg, "position": error.pos}}
            ) from error


class SyncState(models.Model):
    """Progress of a resumable backfill (after Zulip's FillState): the newest checkpoint id whose
    thread has been derived, and whether the unit of work after it was started and not finished."""

    class State(models.TextChoices):
        STARTED = "started", _("Started")
        DONE = "done", _("Done")

    name = models.CharField(max_length=64, unique=True)
    watermark = models.CharField(max_length=64, blank=True, help_text=_("Newest checkpoint id fully derived."))
    state = models.CharField(max_length=16, choices=State.choices, default=State.DONE)
    updated_at = models.DateTimeField(auto_now=True)
    synced_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the newest complete pass (backfill or live) began: every checkpoint committed before is derived.",
    )

    class Meta:
        db_table = "analytics_sync_state"

    def __str__(self) -> str:
        return f"{self.name}: {self.state} at {self.watermark or 'the beginning'}"


class PendingReprice(models.Model):
    """A price change whose calls are too many to reprice while admin waits: ``backfill_events --follow``
    reprices them and deletes the row in the same transaction (a crash leaves it pending, and a rerun is
    safe: repricing is idempotent). While one is pending the dashboard says "Repricing…"."""

    requested_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(help_text="The price change, as admin described it.")
    since = models.DateTimeField(null=True, blank=True, help_text="Calls from this moment on (empty: from the first).")
    until = models.DateTimeField(null=True, blank=True, help_text="Calls before this moment (empty: up to now).")
    reported_names = ArrayField(models.TextField(), help_text="The model names of the calls, as providers reported them.")
    calls = models.PositiveIntegerField(help_text="LLM calls in that range when it was requested.")

    class Meta:
        db_table = "analytics_pending_reprices"
        ordering = ["requested_at", "id"]

    def __str__(self) -> str:
        return f"{self.reason} ({self.calls} calls)"


class HourlyRollup(models.Model):
    """The conversations of one tenant that started in one UTC hour (or, per ``span``, one UTC day, week from
    Monday or month), summed — once over all of them (``agent`` = "") and once per agent that took part.
    Maintained by the recorder, recomputed from ``conversations`` for every hour a write touches, the day
    rows from their hours and the week and month rows from their days; the analytics read these instead
    of 100k conversation rows. Hours make day boundaries exact in every time zone whose offset is whole
    hours; the others are computed from the conversations directly."""

    class Span(models.TextChoices):
        HOUR = "hour", _("Hour")
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")

    span = models.CharField(max_length=5, choices=Span.choices, default=Span.HOUR)
    hour = models.DateTimeField(help_text=_("Start of the hour, day, week or month, in UTC."))
    tenant = models.TextField(
        null=True, blank=True, help_text=_("The conversations' tenant; empty (NULL) for the rows of every tenant.")
    )
    agent = models.TextField(blank=True)
    conversations = models.PositiveIntegerField(default=0)
    # and one column per measure of analytics/measures.py, its sum over these conversations (added below)
    handoffs = models.JSONField(default=dict, blank=True)
    unpriced_models = ArrayField(models.TextField(), default=list, blank=True)

    class Meta:
        db_table = "analytics_hourly_rollups"
        constraints = [models.UniqueConstraint(fields=["span", "agent", "hour", "tenant"], name="rollup_unique_span_agent_hour_tenant")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.agent or 'all agents'}"


for _measure in MEASURES:
    Conversation.add_to_class(_measure.name, _measure.conversation_field())
    HourlyRollup.add_to_class(_measure.name, _measure.rollup_field())


class FailedThread(models.Model):
    """A thread that could not be read or derived at its last attempt. Every other thread is derived
    regardless; ``backfill_events --retry-failed`` tries these again, and a success removes the row."""

    thread_id = models.TextField(unique=True, help_text=_("LangGraph thread id."))
    error = models.TextField(help_text=_("What went wrong, as the exception said it."))
    traceback = models.TextField(blank=True, help_text=_("Where it went wrong, for whoever fixes the data or the code."))
    last_checkpoint_id = models.TextField(
        blank=True, help_text=_("The thread's newest checkpoint when it failed: a plain run tries again once the thread grows.")
    )
    attempts = models.PositiveIntegerField(default=1, help_text=_("Failed attempts so far."))
    first_failed_at = models.DateTimeField(help_text=_("When the thread first failed."))
    last_failed_at = models.DateTimeField(help_text=_("When the thread last failed."))

    class Meta:
        db_table = "analytics_failed_threads"
        verbose_name = _("failed thread")
        verbose_name_plural = _("failed threads")
        ordering = ["-last_failed_at"]

    def __str__(self) -> str:
        return self.thread_id


class DetachedEventMonth(models.Model):
    """A month of ``analytics_events`` detached for retention (``detach_event_partitions``). The usage rollups
    of the hours before the end of the latest such month are no longer recomputed from the events (some are
    gone): they keep the numbers they had when their events were detached."""

    month = models.DateField(unique=True, help_text=_("First day of the UTC month."))
    table = models.TextField(help_text=_("The plain table its events were moved to, to archive or drop."))
    rows = models.BigIntegerField(help_text=_("Events detached with it."))
    detached_at = models.DateTimeField(help_text=_("When it was last detached."))

    class Meta:
        db_table = "analytics_detached_event_months"
        ordering = ["month"]
        verbose_name = _("detached event month")
        verbose_name_plural = _("detached event months")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} ({self.table})"


class UsageRollup(models.Model):
    """LLM usage and latencies of the conversations that started in one UTC hour (or day, week from Monday, or month), per agent and
    model of the calls, once over all conversations (``scope`` = "") and once per agent that took part
    in them. Kept with the hourly rollups (same hours, same locks); breakdowns read these instead of
    every event. Latencies are histograms: ``*_latency_buckets`` numbers the buckets of
    ``analytics.usage_rollups.LATENCY_BOUNDS`` that hold calls, ``*_latency_counts`` how many."""

    class Span(models.TextChoices):
        HOUR = "hour", _("Hour")
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")

    span = models.CharField(max_length=5, choices=Span.choices)
    hour = models.DateTimeField(help_text=_("Start of the hour, day, week or month the conversations started in, in UTC."))
    tenant = models.TextField(
        null=True, blank=True, help_text=_("The conversations' tenant; empty (NULL) for the rows of every tenant.")
    )
    scope = models.TextField(blank=True, help_text=_("An agent the conversations had, or empty for all of them."))
    agent = models.TextField(blank=True, help_text=_("The agent that made the calls."))
    model = models.TextField(blank=True, help_text=_("The model of the LLM calls (empty for tool results)."))
    calls = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    cache_savings_usd = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    unpriced_calls = models.PositiveIntegerField(default=0)
    llm_latency_buckets = ArrayField(models.IntegerField(), default=list, blank=True)
    llm_latency_counts = ArrayField(models.IntegerField(), default=list, blank=True)
    tool_latency_buckets = ArrayField(models.IntegerField(), default=list, blank=True)
    tool_latency_counts = ArrayField(models.IntegerField(), default=list, blank=True)

    class Meta:
        db_table = "analytics_usage_rollups"
        constraints = [
            models.UniqueConstraint(fields=["span", "scope", "hour", "agent", "model", "tenant"], name="usage_rollup_unique_key_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.agent or 'no agent'} {self.model or 'tools'}"
