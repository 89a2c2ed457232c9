"""Checkpoints → replay steps. The one builder behind both the replay and the analytics."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from replay.agent_middleware import SUMMARY_COST_NOTE, is_agent_name, is_summary, structured_answer_calls
from replay.checkpoints import ThreadCheckpoints
from replay.approval_steps import ApprovalSteps, ToolCallInfo
from replay.decisions import mark_decisions
from replay.interrupt_values import jsonable
from replay.message_revisions import arguments_that_ran
from replay.occurrences import EPOCH, RANK_UNKNOWN, Occurrence, namespace_agent, read_occurrences
# The step values live in replay.steps; callers have always imported them from here.
from replay.steps import (  # noqa: F401
    ModelPricing,
    PriceLookup,
    ReplayPage,
    ReplayStep,
    StepType,
    TimelineRules,
    TimelineTotals,
    TokenUsage,
    paginate_steps,
    refresh_interrupt_statuses,
    timestamp_known,
    total_of,
    unresolved_interrupt_status,
)
from replay.stored_values import StoredMessage

logger = logging.getLogger(__name__)


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
        found = read_occurrences(
            checkpoints, active_agent_channel=rules.active_agent_channel, input_channels=rules.input_channels
        )
    except Exception as error:  # noqa: BLE001 - a replay must answer, whatever is stored
        logger.warning("thread %s: could not read its checkpoints (%s: %s)", checkpoints.thread_id, type(error).__name__, error)
        found = [_failure(checkpoints, error, what="read the checkpoints")]
    occurrences = sorted(found, key=lambda occurrence: occurrence.sort_key)
    builder = _StepBuilder(
        rules=rules, price_lookup=price_lookup, now=now or datetime.now(timezone.utc), agents=_known_agents(occurrences)
    )
    try:
        builder.structured_answers = structured_answer_calls(checkpoints.writes)
    except Exception as error:  # noqa: BLE001 - then such answers read as tool calls, as stored
        logger.warning("thread %s: could not tell structured answers (%s: %s)", checkpoints.thread_id, type(error).__name__, error)
    for occurrence in occurrences:
        built = len(builder.steps)
        try:
            builder.add(occurrence)
        except Exception as error:  # noqa: BLE001 - one bad occurrence is one unknown step
            logger.warning(
                "thread %s: could not replay the %s at checkpoint %s (%s: %s)",
                checkpoints.thread_id, occurrence.kind, occurrence.checkpoint_id, type(error).__name__, error,
            )
            builder.forget_steps_from(built)
            builder.add(_failure(checkpoints, error, what=f"replay this {occurrence.kind}", at=occurrence))
    return mark_decisions(builder.steps, tool_calls=builder.tool_calls, approval_calls=builder.approval_calls)


def _failure(checkpoints: ThreadCheckpoints, error: Exception, *, what: str, at: Occurrence | None = None) -> Occurrence:
    details = {"reason": f"could not {what}: {type(error).__name__}: {error}"}
    if at is None:
        return Occurrence(
            kind="unknown", ts=checkpoints.started_at or EPOCH, rank=RANK_UNKNOWN, order=0, checkpoint_ns="",
            checkpoint_id=checkpoints.newest_checkpoint_id, details=details, ts_known=checkpoints.started_at is not None,
        )
    return replace(at, kind="unknown", details=details)


def _agent_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _known_agents(occurrences: list[Occurrence]) -> dict[str, str]:
    """Agent names as the graph spells them, by normalised name: a ``transfer_to_bob`` tool routes to ``Bob``."""
    names: set[str] = set()
    for occurrence in occurrences:
        names.add(namespace_agent(occurrence.checkpoint_ns) or "")
        if occurrence.kind == "agent_change":
            names.add(occurrence.details["agent"] or "")
        elif occurrence.stored is not None and occurrence.stored.type == "ai" and occurrence.stored.name:
            names.add(occurrence.stored.name)
    return {_agent_key(name): name for name in sorted(names) if name}


class _StepBuilder(ApprovalSteps):
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
        # By id, oldest first: an app may reuse a tool-call id in a later turn.
        self.tool_calls: dict[str, list[ToolCallInfo]] = {}
        self.interrupt_steps: dict[str, int] = {}
        self.approval_calls: dict[str, list[ToolCallInfo]] = {}  # by interrupt id: the calls it asked about
        self.replies = 0
        self.structured_answers: frozenset[str] = frozenset()  # tool-call ids that are a final structured answer
        # Routing tools that do not name their target (``ToHotelBookingAssistant``, ``CompleteOrEscalate``):
        # their handoff steps, whose agent the routing that follows (node entry, channel, next reply) names.
        # A reply may route twice; the app follows one — the one its entry node answered, else the first.
        self.open_routings: list[int] = []

    def add(self, occurrence: Occurrence) -> None:
        handler = getattr(self, f"_on_{occurrence.kind}")
        handler(occurrence)

    def forget_steps_from(self, index: int) -> None:
        """Drop the steps from ``index`` on (an occurrence that failed halfway) and what pointed at them."""
        del self.steps[index:]
        self.open_routings = [open_index for open_index in self.open_routings if open_index < index]
        for calls in self.tool_calls.values():
            for call in calls:
                if call.reason_step is not None and call.reason_step >= index:
                    call.reason_step = None

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
        # langchain agents run middleware as nodes named "<Middleware>.<hook>", and create_agent's loop
        # as "model" and "tools": not agents
        if is_agent_name(occurrence.node):
            return occurrence.node
        return self.last_agent

    # -- messages ------------------------------------------------------------------------------
    def _on_message(self, occurrence: Occurrence) -> None:
        message = occurrence.stored
        if self.rules.router_targets and occurrence.node in self.rules.router_targets:
            self._enter_node(occurrence, occurrence.node)
        elif self.rules.router_targets and namespace_agent(occurrence.checkpoint_ns) in self.rules.router_targets:
            self._enter_node(occurrence, namespace_agent(occurrence.checkpoint_ns))
        if message.type == "human" and is_summary(message):
            self._emit(
                occurrence, StepType.SUMMARY, content=message.text,
                details={"message_id": message.id, "cost_not_included": True, "note": SUMMARY_COST_NOTE},
            )
        elif message.type == "human":
            self._emit(occurrence, StepType.USER_MESSAGE, content=message.text, details={"message_id": message.id, **occurrence.details})
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
        usage, model = message.token_usage, message.model_name
        if usage is None and not model:
            return {}
        usage = usage or TokenUsage()
        pricing = self.price_lookup(model, occurrence.ts) if (self.price_lookup and model) else None
        cost = pricing.cost_of(usage=usage) if pricing else None
        return {
            "model": model, **vars(usage),
            "cost_usd": cost.cost_usd if cost else None, "cache_savings_usd": cost.cache_savings_usd if cost else None,
        }

    def _on_ai_message(self, occurrence: Occurrence, message: StoredMessage) -> None:
        agent = self._agent_of(occurrence, message)
        if agent and self._settles_routing(agent):
            self._settle_routing(agent)
        self.replies += 1
        self.last_agent = agent or self.last_agent
        usage = self._usage(occurrence, message)
        unpriced = bool(usage) and usage.get("cost_usd") is None and (usage.get("input_tokens") or usage.get("output_tokens"))
        text = message.text
        usage_shown = False  # a reply's tokens and cost go on its first step only

        def usage_once() -> tuple[dict[str, Any], dict[str, Any]]:
            """The reply's usage as step fields, and its flags as details, for its first step; none after."""
            nonlocal usage_shown
            if usage_shown:
                return {}, {}
            usage_shown = True
            return usage, {"unpriced_model": True} if unpriced else {}

        tool_calls = message.tool_calls
        only_handoffs = bool(tool_calls) and all(self.rules.is_routing(call.name) for call in tool_calls)
        if (text and not (only_handoffs and not usage)) or not tool_calls:
            extra, flags = usage_once()
            details = {"message_id": message.id, **flags}
            self._emit(occurrence, StepType.AGENT_MESSAGE, agent=agent, content=text, details=details, **extra)
        for call in tool_calls:
            name, call_id, args = call.name, call.id, call.args
            if call_id in self.structured_answers:
                # create_agent's ToolStrategy: the agent's final answer, not a tool that ran
                extra, flags = usage_once()
                details = {
                    "message_id": message.id, "tool_call_id": call_id, "structured_response": name, "answer": args, **flags,
                }
                content = json.dumps(args, ensure_ascii=False, default=str)
                self._emit(occurrence, StepType.AGENT_MESSAGE, agent=agent, content=content, details=details, **extra)
                continue
            target = self.rules.handoff_target(name)
            if target is not None:
                target = self.agents.get(_agent_key(target), target)
            routing = self.rules.is_routing(name)
            if call_id:
                info = ToolCallInfo(
                    call_id=call_id, agent=agent, tool_name=name, args=args,
                    checkpoint_ns=occurrence.checkpoint_ns, reply_number=self.replies, routing=routing,
                )
                self.tool_calls.setdefault(call_id, []).append(info)
            extra, flags = usage_once()
            details = {"message_id": message.id, **flags}
            args, edited = arguments_that_ran(occurrence, call_id=call_id, proposed=args)
            details.update(edited)
            if routing:
                if target is not None:
                    self.active_agent = target
                details["from_agent"] = agent
                step = self._emit(
                    occurrence, StepType.HANDOFF, agent=target, tool_name=name, tool_call_id=call_id,
                    tool_args=args, content=f"{agent or 'agent'} → {target or name}", details=details, **extra,
                )
                if target is None:
                    self.open_routings.append(step.index)
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

    def _on_tool_message(self, occurrence: Occurrence, message: StoredMessage) -> None:
        if message.tool_call_id in self.structured_answers:
            return  # create_agent's receipt for a structured answer, shown with the answer
        calls = self.tool_calls.get(message.tool_call_id or "", [])
        # the oldest call still waiting for this id, else the latest one
        call = next((call for call in calls if not call.answered), calls[-1] if calls else None)
        tool_name = message.name or (call.tool_name if call else None)
        if call is not None:
            call.answered = True
        if (call and call.routing) or (tool_name and self.rules.is_routing(tool_name)):
            self._prefer_routing(message.tool_call_id)
            return  # the handoff step already shows this routing
        if call is not None and call.reason_step is not None:
            self._give_reason(call.reason_step, message.text)  # a rejection's message, not a tool's result
            return
        if call is not None and call.rejected:
            status = "rejected"
        elif message.status == "error" or self.rules.reads_as_error(message.text):
            status = "error"
        else:
            status = "success"
        self._emit(
            occurrence, StepType.TOOL_RESULT, agent=call.agent if call else self._agent_of(occurrence),
            tool_name=tool_name, tool_call_id=message.tool_call_id, status=status, content=message.text,
            details={"message_id": message.id, "artifact": jsonable(message.artifact)} if message.artifact else {"message_id": message.id},
        )

    # -- routing -------------------------------------------------------------------------------
    def _settles_routing(self, agent: str) -> bool:
        """True when a routing is open and ``agent`` is not the one that handed over: it is the target."""
        return bool(self.open_routings) and agent != self.steps[self.open_routings[0]].details.get("from_agent")

    def _prefer_routing(self, tool_call_id: str | None) -> None:
        """The app answered this routing call (its entry node did): that is the routing it follows."""
        answered = [index for index in self.open_routings if self.steps[index].tool_call_id == tool_call_id]
        if answered:
            self.open_routings = [*answered, *(index for index in self.open_routings if index not in answered)]

    def _settle_routing(self, target: str) -> None:
        """Name the agent the open routing handed over to; other routings left open were not followed."""
        index, *not_followed = self.open_routings
        self.open_routings = []
        step = self.steps[index]
        self.active_agent = target
        self.steps[index] = replace(step, agent=target, content=f"{step.details.get('from_agent') or 'agent'} → {target}")
        for other in not_followed:
            skipped = self.steps[other]
            self.steps[other] = replace(
                skipped, content=f"{skipped.tool_name} (not followed)", details={**skipped.details, "followed": False}
            )

    def _enter_node(self, occurrence: Occurrence, node: str) -> None:
        previous = self.active_agent
        if self._settles_routing(node):
            self._settle_routing(node)
            return
        if previous is None:
            self.active_agent = node  # the first entry, from the graph's start: no one handed over
            return
        # one routing seen two ways (its tool, then the node it enters) is one handoff: the tool made it active
        if previous != node:
            self.active_agent = node
            self._emit(
                occurrence, StepType.HANDOFF, agent=node, content=f"{previous} → {node}",
                details={"from_agent": previous, "via": "router"},
            )

    def _on_agent_change(self, occurrence: Occurrence) -> None:
        agent = occurrence.details["agent"]
        if agent is None:
            # An emptied stack of agents hands the conversation back to the graph's entry agent, which
            # the stack does not name: the next reply does.
            previous, self.active_agent = self.active_agent, None
            if previous is not None and not self.open_routings:
                step = self._emit(
                    occurrence, StepType.HANDOFF, content=f"{previous} → …",
                    details={"from_agent": previous, "via": self.rules.active_agent_channel},
                )
                self.open_routings.append(step.index)
            return
        if self._settles_routing(agent):
            self._settle_routing(agent)
            return
        # Before the channel first names an agent, the one that replied last has the conversation.
        previous = self.active_agent or self.last_agent
        if previous is None:
            self.active_agent = agent
            return
        if previous != agent:  # as for a node entry: a routing tool already made its target active
            self.active_agent = agent
            self._emit(
                occurrence, StepType.HANDOFF, agent=agent, content=f"{previous} → {agent}",
                details={"from_agent": previous, "via": self.rules.active_agent_channel},
            )

    # -- interrupts, errors, unknowns ----------------------------------------------------------
    def _on_error(self, occurrence: Occurrence) -> None:
        error = occurrence.details["error"]
        pending = [call for calls in self.tool_calls.values() for call in calls if not call.answered and not call.routing]
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
