"""Checkpoints → replay steps. The one builder behind both the replay and the analytics."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings

from replay.checkpoints import ThreadCheckpoints
from replay.stored_values import StoredMessage
from replay.interrupt_values import interrupt_question, jsonable, read_resume_outcome
from replay.occurrences import EPOCH, RANK_UNKNOWN, Occurrence, namespace_agent, read_occurrences

logger = logging.getLogger(__name__)


class StepType(StrEnum):
    USER_MESSAGE = "user_message"
    AGENT_MESSAGE = "agent_message"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    HANDOFF = "handoff"
    INTERRUPT = "interrupt"
    INTERRUPT_RESOLUTION = "interrupt_resolution"
    ESCALATION = "escalation"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ModelPricing:
    input_usd_per_million: Decimal
    output_usd_per_million: Decimal

    def cost(self, *, input_tokens: int, output_tokens: int) -> Decimal:
        total = input_tokens * self.input_usd_per_million + output_tokens * self.output_usd_per_million
        return (total / Decimal(1_000_000)).quantize(Decimal("0.00000001"))


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

    @classmethod
    def from_settings(cls) -> TimelineRules:
        options = settings.SMART_SUPPORT
        return cls(
            escalation_tools=frozenset(options["ESCALATION_TOOLS"]),
            handoff_tool_prefixes=tuple(options["HANDOFF_TOOL_PREFIXES"]),
            active_agent_channel=options["ACTIVE_AGENT_CHANNEL"],
            router_targets=frozenset(options["ROUTER_TARGETS"]),
            interrupt_ttl=options["INTERRUPT_TTL"],
        )

    def handoff_target(self, tool_name: str) -> str | None:
        for prefix in self.handoff_tool_prefixes:
            if tool_name.startswith(prefix) and len(tool_name) > len(prefix):
                return tool_name[len(prefix):]
        return None


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
    cost_usd: Decimal | None = None
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


@dataclass(frozen=True)
class TimelineTotals:
    """What a whole timeline cost: tokens of every LLM call, priced cost, and the models with no price."""

    steps: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    unpriced_models: tuple[str, ...]


def total_of(steps: list[ReplayStep]) -> TimelineTotals:
    """Given a timeline, return its totals (each LLM call's tokens sit on one step, so a sum is exact)."""
    unpriced = sorted({step.model for step in steps if step.details.get("unpriced_model") and step.model})
    return TimelineTotals(
        steps=len(steps),
        input_tokens=sum(step.input_tokens or 0 for step in steps),
        output_tokens=sum(step.output_tokens or 0 for step in steps),
        cost_usd=sum((step.cost_usd for step in steps if step.cost_usd is not None), Decimal(0)),
        unpriced_models=tuple(unpriced),
    )


def unresolved_interrupt_status(*, raised_at: datetime, now: datetime, ttl: timedelta) -> str:
    return "expired" if now - raised_at > ttl else "pending"


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


def build_timeline(
    checkpoints: ThreadCheckpoints,
    *,
    price_lookup: PriceLookup | None = None,
    now: datetime | None = None,
    rules: TimelineRules | None = None,
) -> list[ReplayStep]:
    """Given one thread's checkpoints, return its steps in time order; never raises on bad data.

    Whatever still goes wrong costs one step: an occurrence that cannot be turned into steps becomes
    an ``unknown`` step, and if the checkpoints cannot be read at all the timeline is that one step."""
    rules = rules or TimelineRules.from_settings()
    try:
        found = read_occurrences(checkpoints, active_agent_channel=rules.active_agent_channel)
    except Exception as error:  # noqa: BLE001 - a replay must answer, whatever is stored
        logger.warning("thread %s: could not read its checkpoints (%s: %s)", checkpoints.thread_id, type(error).__name__, error)
        found = [_failure(checkpoints, error, what="read the checkpoints")]
    occurrences = sorted(found, key=lambda occurrence: occurrence.sort_key)
    builder = _StepBuilder(
        rules=rules, price_lookup=price_lookup, now=now or datetime.now(timezone.utc), agents=_known_agents(occurrences)
    )
    for occurrence in occurrences:
        built = len(builder.steps)
        try:
            builder.add(occurrence)
        except Exception as error:  # noqa: BLE001 - one bad occurrence is one unknown step
            logger.warning(
                "thread %s: could not replay the %s at checkpoint %s (%s: %s)",
                checkpoints.thread_id, occurrence.kind, occurrence.checkpoint_id, type(error).__name__, error,
            )
            del builder.steps[built:]
            builder.add(_failure(checkpoints, error, what=f"replay this {occurrence.kind}", at=occurrence))
    return builder.steps


def _failure(checkpoints: ThreadCheckpoints, error: Exception, *, what: str, at: Occurrence | None = None) -> Occurrence:
    details = {"reason": f"could not {what}: {type(error).__name__}: {error}"}
    if at is None:
        return Occurrence(
            kind="unknown", ts=checkpoints.started_at or EPOCH, rank=RANK_UNKNOWN, order=0, checkpoint_ns="",
            checkpoint_id=checkpoints.newest_checkpoint_id, details=details, ts_known=checkpoints.started_at is not None,
        )
    return replace(at, kind="unknown", stored=None, details=details)


def _agent_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _known_agents(occurrences: list[Occurrence]) -> dict[str, str]:
    """Agent names as the graph spells them, by normalised name: a ``transfer_to_bob`` tool routes to ``Bob``."""
    names: set[str] = set()
    for occurrence in occurrences:
        names.add(namespace_agent(occurrence.checkpoint_ns) or "")
        if occurrence.kind == "agent_change":
            names.add(occurrence.details["agent"])
        elif occurrence.stored is not None and occurrence.stored.type == "ai" and occurrence.stored.name:
            names.add(occurrence.stored.name)
    return {_agent_key(name): name for name in sorted(names) if name}


@dataclass
class _ToolCallInfo:
    call_id: str
    agent: str | None
    tool_name: str
    handoff_target: str | None
    answered: bool = False


class _StepBuilder:
    """Walks occurrences in time order, keeping track of the active agent, and emits steps."""

    def __init__(
        self, *, rules: TimelineRules, price_lookup: PriceLookup | None, now: datetime, agents: dict[str, str]
    ) -> None:
        self.rules = rules
        self.agents = agents
        self.price_lookup = price_lookup
        self.now = now
        self.steps: list[ReplayStep] = []
        self.active_agent: str | None = None
        self.last_agent: str | None = None  # of the latest LLM reply
        self.last_handoff_target: str | None = None
        # By id, oldest first: an app may reuse a tool-call id in a later turn.
        self.tool_calls: dict[str, list[_ToolCallInfo]] = {}
        self.interrupt_steps: dict[str, int] = {}

    def add(self, occurrence: Occurrence) -> None:
        handler = getattr(self, f"_on_{occurrence.kind}")
        handler(occurrence)

    def _emit(self, occurrence: Occurrence, step_type: StepType, **fields: Any) -> ReplayStep:
        previous = self.steps[-1] if self.steps else None
        latency = None
        if previous is not None and occurrence.ts_known and timestamp_known(previous):
            latency = round((occurrence.ts - previous.timestamp).total_seconds() * 1000)
        if not occurrence.ts_known:
            fields["details"] = {**fields.get("details", {}), "timestamp_unknown": True}
        step = ReplayStep(
            index=len(self.steps),
            type=step_type,
            timestamp=occurrence.ts,
            checkpoint_id=occurrence.checkpoint_id,
            checkpoint_ns=occurrence.checkpoint_ns,
            latency_ms=latency,
            **fields,
        )
        self.steps.append(step)
        return step

    def _agent_of(self, occurrence: Occurrence, message: StoredMessage | None = None) -> str | None:
        if message is not None and message.name and message.type != "tool":
            return message.name
        agent = namespace_agent(occurrence.checkpoint_ns) or self.active_agent
        if agent:
            return agent
        # langchain agents run middleware as nodes named "<Middleware>.<hook>": not agents
        if occurrence.node and "." not in occurrence.node:
            return occurrence.node
        return self.last_agent or occurrence.node or None

    def _route(self, occurrence: Occurrence, target: str, from_agent: str | None, **details: Any) -> bool:
        """Record a routing to ``target``; one routing seen two ways (tool and channel) is one handoff."""
        already = self.last_handoff_target == target or (self.active_agent == target and details.get("via") != "tool")
        self.active_agent = target
        if already and details.get("via") != "tool":
            return False
        self.last_handoff_target = target
        return True

    # -- messages ------------------------------------------------------------------------------
    def _on_message(self, occurrence: Occurrence) -> None:
        message = occurrence.stored
        if self.rules.router_targets and occurrence.node in self.rules.router_targets:
            self._enter_node(occurrence, occurrence.node)
        elif self.rules.router_targets and namespace_agent(occurrence.checkpoint_ns) in self.rules.router_targets:
            self._enter_node(occurrence, namespace_agent(occurrence.checkpoint_ns))
        if message.type == "human":
            self._emit(occurrence, StepType.USER_MESSAGE, content=message.text, details={"message_id": message.id})
        elif message.type == "ai":
            self._on_ai_message(occurrence, message)
        elif message.type == "tool":
            self._on_tool_message(occurrence, message)
        else:
            self._emit(
                occurrence, StepType.UNKNOWN, content=message.text,
                details={"raw_type": message.class_name, "message_id": message.id},
            )

    def _usage(self, occurrence: Occurrence, message: StoredMessage) -> dict[str, Any]:
        usage = message.usage_metadata
        model = message.model_name
        if not usage and not model:
            return {}
        input_tokens = usage.get("input_tokens", 0)
        output_tokens = usage.get("output_tokens", 0)
        pricing = self.price_lookup(model, occurrence.ts) if (self.price_lookup and model) else None
        cost = pricing.cost(input_tokens=input_tokens, output_tokens=output_tokens) if pricing else None
        return {"model": model, "input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost}

    def _on_ai_message(self, occurrence: Occurrence, message: StoredMessage) -> None:
        agent = self._agent_of(occurrence, message)
        self.last_agent = agent or self.last_agent
        usage = self._usage(occurrence, message)
        unpriced = bool(usage) and usage.get("cost_usd") is None and (usage.get("input_tokens") or usage.get("output_tokens"))
        text = message.text
        produced = 0

        def usage_once() -> dict[str, Any]:
            if produced:
                return {}
            return {**usage, "details_extra": {"unpriced_model": True} if unpriced else {}}

        tool_calls = message.tool_calls
        only_handoffs = bool(tool_calls) and all(self.rules.handoff_target(call.name) for call in tool_calls)
        if (text and not (only_handoffs and not usage)) or not tool_calls:
            extra = usage_once()
            details = {"message_id": message.id, **extra.pop("details_extra", {})}
            self._emit(occurrence, StepType.AGENT_MESSAGE, agent=agent, content=text, details=details, **extra)
            produced += 1
        for call in tool_calls:
            name, call_id, args = call.name, call.id, call.args
            target = self.rules.handoff_target(name)
            if target is not None:
                target = self.agents.get(_agent_key(target), target)
            if call_id:
                info = _ToolCallInfo(call_id=call_id, agent=agent, tool_name=name, handoff_target=target)
                self.tool_calls.setdefault(call_id, []).append(info)
            extra = usage_once()
            details = {"message_id": message.id, **extra.pop("details_extra", {})}
            if target is not None:
                self._route(occurrence, target, agent, via="tool")
                details["from_agent"] = agent
                self._emit(
                    occurrence, StepType.HANDOFF, agent=target, tool_name=name, tool_call_id=call_id,
                    tool_args=args, content=f"{agent or 'agent'} → {target}", details=details, **extra,
                )
            elif name in self.rules.escalation_tools:
                self._emit(
                    occurrence, StepType.ESCALATION, agent=agent, tool_name=name, tool_call_id=call_id,
                    tool_args=args, content=str(args.get("reason", "")) or None, details=details, **extra,
                )
            else:
                self._emit(
                    occurrence, StepType.TOOL_CALL, agent=agent, tool_name=name, tool_call_id=call_id,
                    tool_args=args, details=details, **extra,
                )
            produced += 1

    def _on_tool_message(self, occurrence: Occurrence, message: StoredMessage) -> None:
        calls = self.tool_calls.get(message.tool_call_id or "", [])
        # the oldest call still waiting for this id, else the latest one
        call = next((call for call in calls if not call.answered), calls[-1] if calls else None)
        tool_name = message.name or (call.tool_name if call else None)
        if call is not None:
            call.answered = True
        if (call and call.handoff_target) or (tool_name and self.rules.handoff_target(tool_name)):
            return  # the handoff step already shows this routing
        status = "error" if message.status == "error" else "success"
        self._emit(
            occurrence, StepType.TOOL_RESULT, agent=call.agent if call else self._agent_of(occurrence),
            tool_name=tool_name, tool_call_id=message.tool_call_id, status=status, content=message.text,
            details={"message_id": message.id, "artifact": jsonable(message.artifact)} if message.artifact else {"message_id": message.id},
        )

    # -- routing -------------------------------------------------------------------------------
    def _enter_node(self, occurrence: Occurrence, node: str) -> None:
        previous = self.active_agent
        if previous != node and self._route(occurrence, node, previous, via="router"):
            self._emit(
                occurrence, StepType.HANDOFF, agent=node, content=f"{previous or 'start'} → {node}",
                details={"from_agent": previous, "via": "router"},
            )

    def _on_agent_change(self, occurrence: Occurrence) -> None:
        agent = occurrence.details["agent"]
        previous = self.active_agent
        if previous is None:
            self.active_agent = agent
            return
        if previous != agent and self._route(occurrence, agent, previous, via="channel"):
            self._emit(
                occurrence, StepType.HANDOFF, agent=agent, content=f"{previous} → {agent}",
                details={"from_agent": previous, "via": self.rules.active_agent_channel},
            )

    # -- interrupts, errors, unknowns ----------------------------------------------------------
    def _on_interrupt(self, occurrence: Occurrence) -> None:
        if occurrence.details.get("resolved"):
            status = "resolved"
        elif not occurrence.ts_known:
            status = "pending"  # no one knows when it was raised, so not that it expired
        else:
            status = unresolved_interrupt_status(raised_at=occurrence.ts, now=self.now, ttl=self.rules.interrupt_ttl)
        interrupt_id = occurrence.details["interrupt_id"]
        value = jsonable(occurrence.details["value"])
        step = self._emit(
            occurrence, StepType.INTERRUPT, agent=self._agent_of(occurrence), status=status,
            content=interrupt_question(value), details={"interrupt_id": interrupt_id, "value": value},
        )
        self.interrupt_steps[interrupt_id] = step.index

    def _on_resolution(self, occurrence: Occurrence) -> None:
        interrupt_id = occurrence.details["interrupt_id"]
        resume = jsonable(occurrence.details["resume"])
        outcome, reviewer, reason = read_resume_outcome(resume)
        raised_at = self.steps[self.interrupt_steps[interrupt_id]] if interrupt_id in self.interrupt_steps else None
        wait_ms = None
        if raised_at is not None and occurrence.ts_known and timestamp_known(raised_at):
            wait_ms = round((occurrence.ts - raised_at.timestamp).total_seconds() * 1000)
        self._emit(
            occurrence, StepType.INTERRUPT_RESOLUTION, agent=raised_at.agent if raised_at else self._agent_of(occurrence),
            status=outcome, content=reason,
            details={
                "interrupt_id": interrupt_id, "reviewer": reviewer, "reason": reason, "wait_ms": wait_ms,
                "resume": resume, "outcome_stored": occurrence.details["outcome_stored"],
            },
        )

    def _on_error(self, occurrence: Occurrence) -> None:
        error = occurrence.details["error"]
        pending = [call for calls in self.tool_calls.values() for call in calls if not call.answered and not call.handoff_target]
        if not pending:
            self._emit(
                occurrence, StepType.UNKNOWN, agent=self._agent_of(occurrence), status="error", content=error,
                details={"kind": "node_error", "node": occurrence.node, **occurrence.details},
            )
            return
        for call in pending:
            call.answered = True
            self._emit(
                occurrence, StepType.TOOL_RESULT, agent=call.agent, tool_name=call.tool_name, tool_call_id=call.call_id,
                status="error", content=error, details={"raised": True, **occurrence.details},
            )

    def _on_unknown(self, occurrence: Occurrence) -> None:
        self._emit(occurrence, StepType.UNKNOWN, agent=self._agent_of(occurrence), details=occurrence.details)
