"""Approval steps: interrupts (an ``interrupt()`` or a static breakpoint) and their resolutions, and
what a reviewer's rejection does to the tool call it was about."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from replay.agent_middleware import decided_calls, decision_outcome, edited_action, edited_call_step
from replay.agent_inbox import inbox_descriptions, inbox_edits, inbox_question, read_inbox_outcome, requested_args
from replay.interrupt_values import interrupt_question, jsonable, named_tools, read_resume_outcome
from replay.occurrences import Occurrence
from replay.steps import ReplayStep, StepType, timestamp_known, unresolved_interrupt_status

# How a breakpoint's rejection reached the graph: the message it injected answers the call, and is the
# reviewer's reason rather than a tool result.
INJECTED_BY = frozenset({"update", "input"})


@dataclass
class ToolCallInfo:
    """One tool call as issued, and what became of it."""

    call_id: str
    agent: str | None
    tool_name: str
    args: dict[str, Any] = field(default_factory=dict)
    checkpoint_ns: str = ""
    reply_number: int = 0  # which LLM reply issued it, in order
    routing: bool = False
    answered: bool = False
    rejected: bool = False
    reason_step: int | None = None  # the rejection whose reason the message answering this call is


class ApprovalSteps:
    """The interrupt and resolution handlers of the step builder (``timeline._StepBuilder``)."""

    steps: list[ReplayStep]
    tool_calls: dict[str, list[ToolCallInfo]]
    interrupt_steps: dict[str, int]
    approval_calls: dict[str, list[ToolCallInfo]]

    def _on_interrupt(self, occurrence: Occurrence) -> None:
        if occurrence.details.get("resolved"):
            status = "resolved"
        elif not occurrence.ts_known:
            status = "pending"  # no one knows when it was raised, so not that it expired
        else:
            status = unresolved_interrupt_status(raised_at=occurrence.ts, now=self.now, ttl=self.rules.interrupt_ttl)
        interrupt_id = occurrence.details["interrupt_id"]
        if "pending_nodes" in occurrence.details:
            # A static breakpoint: the question is what the pending node was about to do.
            calls = self._calls_awaiting(occurrence.checkpoint_ns)
            value = {
                "pending_nodes": occurrence.details["pending_nodes"],
                "tool_calls": [{"name": call.tool_name, "args": call.args, "id": call.call_id} for call in calls],
            }
        else:
            value = jsonable(occurrence.details["value"])
            calls = self._calls_awaiting(occurrence.checkpoint_ns, names=named_tools(value))
            # of two calls of one tool, the one whose arguments the request shows
            calls = [call for call in calls if call.args in requested_args(value)] or calls
        self.approval_calls[interrupt_id] = calls
        details = {"interrupt_id": interrupt_id, "value": value}
        if inbox_descriptions(value):
            details["description"] = "\n\n".join(inbox_descriptions(value))
        step = self._emit(
            occurrence, StepType.INTERRUPT, agent=self._agent_of(occurrence), status=status,
            content=inbox_question(value) or interrupt_question(value), details=details,
        )
        self.interrupt_steps[interrupt_id] = step.index

    def _calls_awaiting(self, checkpoint_ns: str, names: frozenset[str] = frozenset()) -> list[ToolCallInfo]:
        """The unanswered tool calls of the latest reply that has any (in this namespace when there are
        some there), of the named tools when the interrupt names them."""
        waiting = [
            call for calls in self.tool_calls.values() for call in calls
            if not call.answered and not call.routing and (not names or call.tool_name in names)
        ]
        here = [call for call in waiting if call.checkpoint_ns == checkpoint_ns] or waiting
        latest = max((call.reply_number for call in here), default=None)
        return [call for call in here if call.reply_number == latest]

    def _on_resolution(self, occurrence: Occurrence) -> None:
        interrupt_id = occurrence.details["interrupt_id"]
        resume = jsonable(occurrence.details["resume"])
        via = occurrence.details.get("via")
        if "breakpoint_outcome" in occurrence.details:
            outcome, reviewer, reason = occurrence.details["breakpoint_outcome"], None, None
        else:
            outcome, reviewer, reason = read_inbox_outcome(resume) or read_resume_outcome(resume)
        raised_at = self.steps[self.interrupt_steps[interrupt_id]] if interrupt_id in self.interrupt_steps else None
        wait_ms = None
        if raised_at is not None and occurrence.ts_known and timestamp_known(raised_at):
            wait_ms = round((occurrence.ts - raised_at.timestamp).total_seconds() * 1000)
        details = {
            "interrupt_id": interrupt_id, "reviewer": reviewer, "reason": reason, "wait_ms": wait_ms,
            "resume": resume, "outcome_stored": occurrence.details["outcome_stored"],
        }
        if via:
            details["via"] = via
        step = self._emit(
            occurrence, StepType.INTERRUPT_RESOLUTION, agent=raised_at.agent if raised_at else self._agent_of(occurrence),
            status=outcome, content=reason, details=details,
        )
        request = raised_at.details.get("value") if raised_at is not None else None
        decided = decided_calls(request=request, resume=resume, calls=self.approval_calls.get(interrupt_id, []))
        if decided is not None:
            self._apply_decisions(decided)  # LangChain's human-in-the-loop middleware: one decision per call
        elif outcome == "approved":
            self._show_edits(inbox_edits(resume), self.approval_calls.get(interrupt_id, []))  # Agent Inbox edits
        elif outcome == "rejected":
            for call in self.approval_calls.get(interrupt_id, []):
                call.rejected = True
                if via in INJECTED_BY:
                    call.reason_step = step.index

    def _apply_decisions(self, decided: list[tuple[ToolCallInfo, Any]]) -> None:
        """A rejected call's result reads ``rejected``; an edited call shows the arguments that ran."""
        for call, decision in decided:
            call.rejected = decision_outcome(decision) == "rejected"
            edit = edited_action(decision)
            if edit is None:
                continue
            tool_name, call.args = edit[0] or call.tool_name, edit[1]
            index = next(
                (step.index for step in reversed(self.steps) if step.type == StepType.TOOL_CALL and step.tool_call_id == call.call_id),
                None,
            )
            if index is not None:
                self.steps[index] = edited_call_step(self.steps[index], tool_name=tool_name, args=call.args)

    def _show_edits(self, edits: list[dict[str, Any]], calls: list[ToolCallInfo]) -> None:
        """An approver's edit: the call shows the arguments that ran, the model's proposal kept in details
        (unless the app re-added the model's message with them, which the call already shows)."""
        for edit in edits:
            call = next((call for call in calls if call.tool_name == edit.get("action")), calls[0] if len(calls) == 1 else None)
            index = next(
                (step.index for step in reversed(self.steps) if step.type == StepType.TOOL_CALL and call and step.tool_call_id == call.call_id),
                None,
            )
            if index is None or self.steps[index].tool_args == edit["args"]:
                continue
            step = self.steps[index]
            self.steps[index] = replace(
                step, tool_args=edit["args"], details={"proposed_args": step.tool_args, **step.details}
            )

    def _give_reason(self, index: int, reason: str) -> None:
        """The message a rejection injected is the reviewer's reason, shown on the resolution."""
        step = self.steps[index]
        if step.details.get("reason") is None:
            self.steps[index] = replace(step, content=reason, details={**step.details, "reason": reason})
