"""One thread's replay steps → its analytics events and its conversation summary.

The same derivation runs for the backfill and for live sync, and it reads the very steps the replay
shows, so a conversation's numbers always equal its replay's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from analytics.latencies import llm_call_latencies, tool_result_latencies
from analytics.measures import ConversationSteps, Value, is_resolving_result, measures_of
from analytics.models import EventType
from replay.checkpoints import ThreadCheckpoints
from replay.tenants import tenant_of
from replay.decisions import is_decision
from replay.models import ConversationStatus
from replay.search_terms import DocumentTerms, document_terms
from replay.timeline import PriceLookup, ReplayStep, StepType, TimelineRules, build_timeline

FIRST_MESSAGE_PREVIEW = 500
# A conversation with no outcome yet counts as still going on for this long after its last step.
ACTIVE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class DerivedEvent:
    event_type: str
    occurred_at: datetime
    dedup_key: str
    agent: str = ""
    tool_name: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal | None = None
    cache_savings_usd: Decimal | None = None
    latency_ms: int | None = None
    status: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DerivedConversation:
    thread_id: str
    metadata: dict[str, Any]
    tenant: str
    started_at: datetime
    last_activity_at: datetime
    status: str
    agents_used: tuple[str, ...]
    # every measure of the registry (analytics/measures.py), by name
    measures: dict[str, Value]
    oldest_pending_interrupt_at: datetime | None
    newest_pending_interrupt_at: datetime | None
    handoffs: dict[str, int]
    unpriced_models: tuple[str, ...]
    first_message: str
    # what the conversation can be found by (replay/search_terms.py)
    search_terms: DocumentTerms
    # SummarizationMiddleware condensed part of it: the summarising calls' tokens are not in the totals
    summarised: bool
    last_checkpoint_id: str
    write_count: int


@dataclass(frozen=True)
class DerivedThread:
    conversation: DerivedConversation
    events: tuple[DerivedEvent, ...]


def derive_thread(
    *, thread: ThreadCheckpoints, price_lookup: PriceLookup, now: datetime, rules: TimelineRules | None = None
) -> DerivedThread:
    """Given a thread's checkpoints, return its events and conversation summary (pure; writes nothing)."""
    rules = rules or TimelineRules.from_settings()
    steps = build_timeline(thread, price_lookup=price_lookup, now=now, rules=rules)
    conversation = ConversationSteps(steps=tuple(steps), rules=rules)
    events = tuple(_events(conversation))
    return DerivedThread(conversation=_summary(thread, conversation, now=now), events=events)


def _summary(thread: ThreadCheckpoints, conversation: ConversationSteps, *, now: datetime) -> DerivedConversation:
    steps = list(conversation.steps)
    measures = measures_of(conversation)
    started_at = thread.started_at or (steps[0].timestamp if steps else now)
    last_activity_at = max([thread.last_checkpoint_at or started_at, *(step.timestamp for step in steps)])
    pending_unexpired = any(step.type == StepType.INTERRUPT and step.status == "pending" for step in steps)
    pending_raised = [
        step.timestamp for step in steps if step.type == StepType.INTERRUPT and conversation.interrupt_outcome(step) == "pending"
    ]
    if conversation.escalated:
        status = ConversationStatus.ESCALATED
    elif pending_unexpired:
        status = ConversationStatus.AWAITING_APPROVAL
    elif conversation.resolved:
        status = ConversationStatus.RESOLVED
    elif now - last_activity_at < ACTIVE_WINDOW:
        status = ConversationStatus.ACTIVE
    else:
        status = ConversationStatus.UNRESOLVED
    first_user = next((step for step in steps if step.type == StepType.USER_MESSAGE), None)
    return DerivedConversation(
        thread_id=thread.thread_id,
        metadata=thread.metadata,
        tenant=tenant_of(metadata=thread.metadata),
        started_at=started_at,
        last_activity_at=last_activity_at,
        status=status.value,
        agents_used=_agents_used(steps),
        measures=measures,
        oldest_pending_interrupt_at=min(pending_raised, default=None),
        newest_pending_interrupt_at=max(pending_raised, default=None),
        handoffs=dict(Counter(step.agent for step in steps if step.type == StepType.HANDOFF and step.agent)),
        unpriced_models=conversation.totals.unpriced_models,
        first_message=(first_user.content or "")[:FIRST_MESSAGE_PREVIEW] if first_user else "",
        search_terms=_search_terms(steps, thread.metadata),
        summarised=conversation.kinds[StepType.SUMMARY] > 0,
        last_checkpoint_id=thread.newest_checkpoint_id,
        write_count=len(thread.writes),
    )


# A summary stands for messages the conversation still holds; a handoff's text is the agents' names.
_UNSEARCHED = {StepType.SUMMARY, StepType.HANDOFF}


def _search_terms(steps: list[ReplayStep], metadata: dict[str, Any]) -> DocumentTerms:
    """Every message (the customer's and the agents'), tool argument and result, and metadata value."""
    searched = [step for step in steps if step.type not in _UNSEARCHED]
    return document_terms(
        texts=(step.content or "" for step in searched),
        values=[*(step.tool_args for step in searched if step.tool_args), metadata],
    )


def _agents_used(steps: list[ReplayStep]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for step in steps:
        if step.type == StepType.HANDOFF and step.details.get("from_agent"):
            seen.setdefault(step.details["from_agent"], None)  # the agent that routed acted too
        if step.agent and step.type not in {StepType.USER_MESSAGE, StepType.UNKNOWN}:
            seen.setdefault(step.agent, None)
    return tuple(seen)


def _events(conversation: ConversationSteps) -> list[DerivedEvent]:
    steps = list(conversation.steps)
    if not steps:
        return []
    events = [
        DerivedEvent(
            event_type=EventType.CONVERSATION_STARTED,
            occurred_at=steps[0].timestamp,
            dedup_key=str(EventType.CONVERSATION_STARTED),
            payload={"first_step": steps[0].type.value},
        )
    ]
    llm_latencies, tool_latencies = llm_call_latencies(steps), tool_result_latencies(steps)
    seen: Counter = Counter()
    for step in steps:
        key = _step_identity(step)
        seen[key] += 1
        if seen[key] > 1:
            # the same identity again (a tool-call id an app reused in a later turn): the n-th of them
            key = f"{key}#{seen[key]}"
        common = {"occurred_at": step.timestamp, "agent": step.agent or ""}
        if step.input_tokens is not None:
            events.append(
                DerivedEvent(
                    event_type=EventType.LLM_USAGE, dedup_key=f"{key}|{EventType.LLM_USAGE}", model=step.model or "",
                    input_tokens=step.input_tokens or 0, output_tokens=step.output_tokens or 0,
                    cache_read_tokens=step.cache_read_tokens or 0, cache_write_tokens=step.cache_write_tokens or 0,
                    reasoning_tokens=step.reasoning_tokens or 0, cost_usd=step.cost_usd,
                    cache_savings_usd=step.cache_savings_usd, latency_ms=llm_latencies[step.index],
                    status="unpriced" if step.details.get("unpriced_model") else "priced",
                    occurred_at=step.timestamp, agent=_caller(step),
                )
            )
        event = _event_for_step(step, key, common, conversation)
        if event is not None and event.event_type == EventType.TOOL_RESULT:
            event = replace(event, latency_ms=tool_latencies[step.index])
        if event is not None:
            events.append(event)
    return events


def _caller(step: ReplayStep) -> str:
    """The agent that made a step's LLM call: a handoff step names the agent handed to, not the caller."""
    if step.type == StepType.HANDOFF:
        return step.details.get("from_agent") or ""
    return step.agent or ""


def _event_for_step(
    step: ReplayStep, key: str, common: dict[str, Any], conversation: ConversationSteps
) -> DerivedEvent | None:
    tool = {"tool_name": step.tool_name or ""}
    if step.type == StepType.HANDOFF:
        payload = {"from_agent": step.details.get("from_agent"), "via": step.details.get("via", "tool")}
        return DerivedEvent(event_type=EventType.HANDOFF, dedup_key=f"{key}|handoff", payload=payload, **tool, **common)
    if step.type == StepType.TOOL_CALL and not is_decision(step):
        return DerivedEvent(event_type=EventType.TOOL_CALL, dedup_key=f"{key}|tool_call", payload={"args": step.tool_args}, **tool, **common)
    if step.type == StepType.ESCALATION:
        return DerivedEvent(event_type=EventType.ESCALATED, dedup_key=f"{key}|escalated", payload={"args": step.tool_args}, **tool, **common)
    if step.type == StepType.TOOL_RESULT:
        payload = {"resolving": is_resolving_result(step, conversation.rules)}
        return DerivedEvent(event_type=EventType.TOOL_RESULT, dedup_key=f"{key}|tool_result", status=step.status or "", payload=payload, **tool, **common)
    if step.type == StepType.INTERRUPT:
        status = conversation.interrupt_outcome(step)
        payload = {"interrupt_id": step.details.get("interrupt_id"), "value": step.details.get("value")}
        return DerivedEvent(event_type=EventType.INTERRUPT_RAISED, dedup_key=f"{key}|interrupt_raised", status=status, payload=payload, **common)
    if step.type == StepType.INTERRUPT_RESOLUTION:
        payload = {name: step.details.get(name) for name in ("interrupt_id", "reviewer", "reason", "wait_ms", "outcome_stored")}
        return DerivedEvent(event_type=EventType.INTERRUPT_RESOLVED, dedup_key=f"{key}|interrupt_resolved", status=step.status or "", payload=payload, **common)
    if step.type == StepType.UNKNOWN:
        return DerivedEvent(event_type=EventType.UNKNOWN, dedup_key=f"{key}|unknown", payload={"details": step.details}, **common)
    return None


def _step_identity(step: ReplayStep) -> str:
    """What a step is within its conversation, stable across re-derivations of a thread that grew."""
    for name in ("interrupt_id",):
        if step.details.get(name):
            return f"{step.type.value}:{step.details[name]}"
    if step.tool_call_id:
        return f"{step.type.value}:{step.tool_call_id}"
    if step.details.get("message_id"):
        return f"{step.type.value}:{step.details['message_id']}"
    return f"{step.type.value}:{step.checkpoint_ns}:{step.checkpoint_id}:{step.index}"
