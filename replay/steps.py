"""What a replay is made of: steps, pages of steps, totals, and the rules that recognise steps."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings


class StepType(StrEnum):
    USER_MESSAGE = "user_message"
    AGENT_MESSAGE = "agent_message"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    HANDOFF = "handoff"
    INTERRUPT = "interrupt"
    INTERRUPT_RESOLUTION = "interrupt_resolution"
    ESCALATION = "escalation"
    SUMMARY = "summary"  # a message that stands for summarised ones (never the customer's)
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TokenUsage:
    """One LLM call's tokens as LangChain counts them: the cached input read and written is part of
    ``input_tokens``, the reasoning part of ``output_tokens``."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class CallCost:
    cost_usd: Decimal
    # what the cached input saved against the plain input price (negative when cache writes cost more)
    cache_savings_usd: Decimal


@dataclass(frozen=True)
class ModelPricing:
    """One model's prices in USD per million tokens; a cache price left empty is the input price."""

    input_usd_per_million: Decimal
    output_usd_per_million: Decimal
    cache_read_usd_per_million: Decimal | None = None
    cache_write_usd_per_million: Decimal | None = None

    def cost_of(self, *, usage: TokenUsage) -> CallCost:
        """Given one call's tokens, return what it cost and what its cached input saved, to 8 decimals."""
        input_price = self.input_usd_per_million
        read_price = input_price if self.cache_read_usd_per_million is None else self.cache_read_usd_per_million
        write_price = input_price if self.cache_write_usd_per_million is None else self.cache_write_usd_per_million
        # a provider that counted its cached input outside input_tokens is not charged for negative tokens
        uncached = max(0, usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens)
        total = (
            uncached * input_price
            + usage.cache_read_tokens * read_price
            + usage.cache_write_tokens * write_price
            + usage.output_tokens * self.output_usd_per_million
        )
        savings = usage.cache_read_tokens * (input_price - read_price) + usage.cache_write_tokens * (input_price - write_price)
        return CallCost(cost_usd=_usd_of_millions(total), cache_savings_usd=_usd_of_millions(savings))


def _usd_of_millions(amount: Decimal) -> Decimal:
    return (amount / Decimal(1_000_000)).quantize(Decimal("0.00000001"))


# (model name, when the call happened) -> the price in force then, or None when the model has no price.
PriceLookup = Callable[[str, datetime], ModelPricing | None]


@dataclass(frozen=True)
class TimelineRules:
    """How steps are recognised; defaults come from ``settings.SMART_SUPPORT``."""

    escalation_tools: frozenset[str]
    handoff_tool_prefixes: tuple[str, ...]
    active_agent_channel: str
    router_targets: frozenset[str]
    interrupt_ttl: timedelta
    routing_tools: frozenset[str] = frozenset()
    tool_error_patterns: tuple[re.Pattern[str], ...] = ()
    input_channels: frozenset[str] = frozenset()  # channels whose input is the user's message

    @classmethod
    def from_settings(cls) -> TimelineRules:
        options = settings.SMART_SUPPORT
        return cls(
            escalation_tools=frozenset(options["ESCALATION_TOOLS"]),
            handoff_tool_prefixes=tuple(options["HANDOFF_TOOL_PREFIXES"]),
            active_agent_channel=options["ACTIVE_AGENT_CHANNEL"],
            router_targets=frozenset(options["ROUTER_TARGETS"]),
            interrupt_ttl=options["INTERRUPT_TTL"],
            routing_tools=frozenset(options.get("ROUTING_TOOLS", ())),
            tool_error_patterns=tuple(re.compile(pattern, re.DOTALL) for pattern in options.get("TOOL_ERROR_PATTERNS", ())),
            input_channels=frozenset(options.get("INPUT_CHANNELS", ())),
        )

    def handoff_target(self, tool_name: str) -> str | None:
        """The agent a ``transfer_to_<agent>`` tool names; None for any other tool."""
        for prefix in self.handoff_tool_prefixes:
            if tool_name.startswith(prefix) and len(tool_name) > len(prefix):
                return tool_name[len(prefix):]
        return None

    def is_routing(self, tool_name: str) -> bool:
        """True for a tool whose call only hands the conversation to another agent."""
        return tool_name in self.routing_tools or self.handoff_target(tool_name) is not None

    def reads_as_error(self, content: str) -> bool:
        """True when a tool message's text is an error report (LangGraph's template, an app's fallback)."""
        return any(pattern.search(content) for pattern in self.tool_error_patterns)


@dataclass(frozen=True)
class ReplayStep:
    index: int
    type: StepType
    timestamp: datetime
    checkpoint_id: str
    checkpoint_ns: str
    agent: str | None = None
    content: str | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    tool_args: dict[str, Any] | None = None
    status: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    # parts of the call's tokens: cached input read and written (inside input_tokens), reasoning (inside output_tokens)
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: Decimal | None = None
    # what the cached input saved against the plain input price (negative when cache writes cost more)
    cache_savings_usd: Decimal | None = None
    latency_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayPage:
    thread_id: str
    total_steps: int
    page: int
    page_size: int
    has_next: bool
    steps: tuple[ReplayStep, ...]

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total_steps // self.page_size))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def start_index(self) -> int:
        """1-based position of the page's first step in the whole timeline."""
        return (self.page - 1) * self.page_size + 1

    @property
    def end_index(self) -> int:
        return self.start_index + len(self.steps) - 1


@dataclass(frozen=True)
class TimelineTotals:
    """What a whole timeline cost: tokens of every LLM call, priced cost, and the models with no price."""

    steps: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal
    cache_savings_usd: Decimal
    unpriced_models: tuple[str, ...]


def total_of(steps: list[ReplayStep]) -> TimelineTotals:
    """Given a timeline, return its totals (each LLM call's tokens sit on one step, so a sum is exact)."""
    unpriced = sorted({step.model for step in steps if step.details.get("unpriced_model") and step.model})
    return TimelineTotals(
        steps=len(steps),
        input_tokens=sum(step.input_tokens or 0 for step in steps),
        output_tokens=sum(step.output_tokens or 0 for step in steps),
        cache_read_tokens=sum(step.cache_read_tokens or 0 for step in steps),
        cache_write_tokens=sum(step.cache_write_tokens or 0 for step in steps),
        reasoning_tokens=sum(step.reasoning_tokens or 0 for step in steps),
        cost_usd=sum((step.cost_usd for step in steps if step.cost_usd is not None), Decimal(0)),
        cache_savings_usd=sum((step.cache_savings_usd for step in steps if step.cache_savings_usd is not None), Decimal(0)),
        unpriced_models=tuple(unpriced),
    )


def approval_expiry_cutoff(*, now: datetime, ttl: timedelta | None = None) -> datetime:
    """The approval-expiry rule: an unanswered approval raised before the returned moment has expired;
    one raised at it or after is still pending. ``ttl`` defaults to SMART_SUPPORT["INTERRUPT_TTL"]."""
    return now - (ttl if ttl is not None else settings.SMART_SUPPORT["INTERRUPT_TTL"])


def unresolved_interrupt_status(*, raised_at: datetime, now: datetime, ttl: timedelta) -> str:
    return "expired" if raised_at < approval_expiry_cutoff(now=now, ttl=ttl) else "pending"


def refresh_interrupt_statuses(steps: list[ReplayStep], *, now: datetime, rules: TimelineRules | None = None) -> list[ReplayStep]:
    """The same timeline seen at ``now``: unresolved interrupts become expired once older than the TTL."""
    ttl = (rules or TimelineRules.from_settings()).interrupt_ttl
    return [
        replace(step, status=unresolved_interrupt_status(raised_at=step.timestamp, now=now, ttl=ttl))
        if step.type == StepType.INTERRUPT and step.status in {"pending", "expired"} and timestamp_known(step)
        else step
        for step in steps
    ]


def timestamp_known(step: ReplayStep) -> bool:
    """False for a step whose checkpoint gave no time: its ``timestamp`` only keeps it in order."""
    return not step.details.get("timestamp_unknown")


def paginate_steps(*, thread_id: str, steps: list[ReplayStep], page: int, page_size: int) -> ReplayPage:
    """Given a whole timeline, return page ``page`` (1-based) of ``page_size`` steps."""
    start = (page - 1) * page_size
    return ReplayPage(
        thread_id=thread_id,
        total_steps=len(steps),
        page=page,
        page_size=page_size,
        has_next=start + page_size < len(steps),
        steps=tuple(steps[start : start + page_size]),
    )
