"""Every conversation-level measure, declared once (after Zulip's ``COUNT_STATS``).

A measure is a number each conversation has, derived from its replay steps, and summed over any set of
conversations. From its one declaration come: the column on ``conversations`` and on the hourly rollups
(see ``analytics/models.py``), the SQL that sums it (storage, rollups and queries), the analytics
totals, the ``/api/conversations`` and ``/api/analytics`` fields, the CSV column and the dashboard's
totals table. Adding a measure is one ``Measure(...)`` below and ``manage.py makemigrations``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cached_property

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from replay.decisions import is_decision
from replay.steps import ReplayStep, StepType, TimelineRules, TimelineTotals, total_of


class Kind(StrEnum):
    COUNT = "count"  # a whole number of things per conversation
    TOKENS = "tokens"  # like a count, but large: 64-bit everywhere
    USD = "usd"  # money, 8 decimal places
    FLAG = "flag"  # true or false per conversation; a sum counts the conversations where it holds


Value = int | Decimal | bool


def is_resolving_result(step: ReplayStep, rules: TimelineRules) -> bool:
    """A successful tool result that counts toward resolution: not a routing or handoff tool, not an
    escalation, and no reviewer rejected its call (such a result reads ``rejected``, not ``success``)."""
    return (
        step.type == StepType.TOOL_RESULT
        and step.status == "success"
        and step.tool_name not in rules.escalation_tools
        and not rules.is_routing(step.tool_name or "")
    )


@dataclass(frozen=True)
class ConversationSteps:
    """One conversation's whole timeline, with what several measures read from it computed once."""

    steps: tuple[ReplayStep, ...]
    rules: TimelineRules

    @cached_property
    def kinds(self) -> Counter:
        return Counter(step.type for step in self.steps)

    @cached_property
    def totals(self) -> TimelineTotals:
        return total_of(list(self.steps))

    @cached_property
    def _resolution_outcomes(self) -> dict[object, str]:
        """Interrupt id → the outcome its (first) resolution recorded: one pass, not one per interrupt."""
        outcomes: dict[object, str] = {}
        for step in self.steps:
            if step.type == StepType.INTERRUPT_RESOLUTION:
                outcomes.setdefault(step.details.get("interrupt_id"), step.status or "resolved")
        return outcomes

    def interrupt_outcome(self, interrupt: ReplayStep) -> str:
        """approved | rejected | resolved (outcome not stored or neither) | pending (expired or not)."""
        return self._resolution_outcomes.get(interrupt.details.get("interrupt_id"), "pending")

    @cached_property
    def interrupt_outcomes(self) -> Counter:
        return Counter(self.interrupt_outcome(step) for step in self.steps if step.type == StepType.INTERRUPT)

    @cached_property
    def escalated(self) -> bool:
        return self.kinds[StepType.ESCALATION] > 0

    @cached_property
    def resolved(self) -> bool:
        return not self.escalated and any(is_resolving_result(step, self.rules) for step in self.steps)


@dataclass(frozen=True)
class Measure:
    name: str  # the column, the totals key and the API field
    label: str | Promise  # translated where it is shown
    definition: str | Promise  # one line, shown to managers beside the number
    kind: Kind
    of_conversation: Callable[[ConversationSteps], Value]

    def conversation_field(self) -> models.Field:
        field = _field(self.kind, verbose_name=self.label, help_text=self.definition, sums=False)
        field.is_measure = True  # how the replay app finds the measure columns without importing this module
        return field

    def rollup_field(self) -> models.Field:
        return _field(self.kind, verbose_name=self.label, help_text=self.definition, sums=True)

    @property
    def sql_type(self) -> str:
        return {Kind.COUNT: "integer", Kind.TOKENS: "bigint", Kind.USD: "numeric", Kind.FLAG: "boolean"}[self.kind]

    def sum_of_conversations_sql(self) -> str:
        """SQL summing this measure over ``conversations`` rows, named for it."""
        if self.kind == Kind.FLAG:
            return f"count(*) FILTER (WHERE {self.name}) AS {self.name}"
        return f"coalesce(sum({self.name}), 0) AS {self.name}"

    def sum_of_rollups_sql(self) -> str:
        """SQL summing this measure over rollup rows (which hold sums already), named for it."""
        return f"coalesce(sum({self.name}), 0) AS {self.name}"

    def zero(self) -> int | Decimal:
        return Decimal(0) if self.kind == Kind.USD else 0

    def total(self, value: object) -> int | Decimal:
        """A sum read back from PostgreSQL, as the Python type of this measure's totals."""
        return Decimal(value or 0) if self.kind == Kind.USD else int(value or 0)

    def serializer_field(self) -> serializers.Field:
        if self.kind == Kind.USD:
            return serializers.DecimalField(max_digits=18, decimal_places=8, help_text=self.definition)
        return serializers.IntegerField(help_text=self.definition)



def _field(kind: Kind, *, verbose_name: str, help_text: str, sums: bool) -> models.Field:
    if kind == Kind.USD:
        return models.DecimalField(
            verbose_name, max_digits=18 if sums else 16, decimal_places=8, default=0, help_text=help_text
        )
    if kind == Kind.TOKENS or sums:
        return models.BigIntegerField(verbose_name, default=0, help_text=help_text)
    if kind == Kind.FLAG:
        return models.BooleanField(verbose_name, default=False, help_text=help_text)
    return models.PositiveIntegerField(verbose_name, default=0, help_text=help_text)


# The value functions below are small frozen classes rather than closures: their code runs when a
# conversation is measured, not while the module loads.
@dataclass(frozen=True)
class _KindCount:
    """How many steps of these types the conversation has."""

    types: tuple[StepType, ...]

    def __call__(self, conversation: ConversationSteps) -> int:
        return sum(conversation.kinds[step_type] for step_type in self.types)


@dataclass(frozen=True)
class _OutcomeCount:
    """How many of the conversation's interrupts ended with this outcome."""

    outcome: str

    def __call__(self, conversation: ConversationSteps) -> int:
        return conversation.interrupt_outcomes[self.outcome]


@dataclass(frozen=True)
class _TimelineTotal:
    """One of the timeline's own totals (tokens and cost, summed over its LLM calls)."""

    name: str

    def __call__(self, conversation: ConversationSteps) -> int | Decimal:
        return getattr(conversation.totals, self.name)


MEASURES: tuple[Measure, ...] = (
    Measure("resolved", _("Resolved"), _("A successful tool result (not a handoff or escalation) and no escalation."),
            Kind.FLAG, lambda conversation: conversation.resolved),
    Measure("escalated", _("Escalated"), _("At least one escalation to a human."),
            Kind.FLAG, lambda conversation: conversation.escalated),
    Measure("message_count", _("Messages"), _("Customer and agent messages."),
            Kind.COUNT, _KindCount((StepType.USER_MESSAGE, StepType.AGENT_MESSAGE))),
    Measure("step_count", _("Steps"), _("Steps of the replay."),
            Kind.COUNT, lambda conversation: len(conversation.steps)),
    Measure("tool_call_count", _("Tool calls"), _("Tool calls, escalations included, handoffs and reviewers' decisions not."),
            Kind.COUNT, lambda conversation: conversation.kinds[StepType.TOOL_CALL] + conversation.kinds[StepType.ESCALATION]
            - sum(map(is_decision, conversation.steps))),
    Measure("tool_error_count", _("Tool errors"), _("Tool results with status error."),
            Kind.COUNT, lambda conversation: sum(
                1 for step in conversation.steps if step.type == StepType.TOOL_RESULT and step.status == "error")),
    Measure("interrupt_count", _("Approval requests"), _("Human-approval interrupts, each counted once."),
            Kind.COUNT, _KindCount((StepType.INTERRUPT,))),
    Measure("interrupts_approved", _("Approved"), _("Approval requests resolved as approved."), Kind.COUNT, _OutcomeCount("approved")),
    Measure("interrupts_rejected", _("Rejected"), _("Approval requests resolved as rejected."), Kind.COUNT, _OutcomeCount("rejected")),
    Measure("interrupts_other", _("Outcome unknown"), _("Approval requests resolved with no approve/reject stored."),
            Kind.COUNT, _OutcomeCount("resolved")),
    Measure("interrupts_pending", _("Unanswered"), _("Approval requests not answered, expired or not."),
            Kind.COUNT, _OutcomeCount("pending")),
    Measure("input_tokens", _("Input tokens"), _("Input tokens of every LLM call, cached ones included."),
            Kind.TOKENS, _TimelineTotal("input_tokens")),
    Measure("output_tokens", _("Output tokens"), _("Output tokens of every LLM call, reasoning included."),
            Kind.TOKENS, _TimelineTotal("output_tokens")),
    Measure("cache_read_tokens", _("Cached input read"), _("Input tokens the provider read from its prompt cache."),
            Kind.TOKENS, _TimelineTotal("cache_read_tokens")),
    Measure("cache_write_tokens", _("Cached input written"), _("Input tokens the provider wrote to its prompt cache."),
            Kind.TOKENS, _TimelineTotal("cache_write_tokens")),
    Measure("reasoning_tokens", _("Reasoning tokens"), _("Output tokens the model spent on reasoning."),
            Kind.TOKENS, _TimelineTotal("reasoning_tokens")),
    Measure("cost_usd", _("Cost (USD)"), _("LLM cost at the prices in force at each call (priced models)."),
            Kind.USD, _TimelineTotal("cost_usd")),
    Measure("cache_savings_usd", _("Caching saved (USD)"),
            _("What the cached input saved against the plain input price (cache writes above it count against)."),
            Kind.USD, _TimelineTotal("cache_savings_usd")),
)

MEASURE_NAMES: tuple[str, ...] = tuple(measure.name for measure in MEASURES)
_BY_NAME = {measure.name: measure for measure in MEASURES}


def measure(name: str) -> Measure:
    return _BY_NAME[name]


def measures_of(conversation: ConversationSteps) -> dict[str, Value]:
    """Given a conversation's steps, return every measure's value, by name."""
    return {item.name: item.of_conversation(conversation) for item in MEASURES}
