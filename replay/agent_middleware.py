"""What LangChain's ``create_agent`` and its middleware leave in the checkpoints, read as what it means:
summaries written by SummarizationMiddleware, the human-in-the-loop middleware's decisions, structured
answers (``ToolStrategy``), and which graph nodes are the agent's machinery rather than agents.

Retries (ToolRetryMiddleware), fallbacks (ModelFallbackMiddleware) and tool-call limits
(ToolCallLimitMiddleware) need nothing of their own: a retried tool leaves one result (the one that
worked, or the error it gave up with), a fallback model's reply names its own model, and a blocked call is
answered by an error result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from django.utils.translation import gettext_noop

from replay.checkpoints import MESSAGES_CHANNEL, STRUCTURED_RESPONSE_CHANNEL, WriteRecord
from replay.steps import ReplayStep
from replay.stored_values import StoredMessage, as_stored_message, as_text, message_items

# SummarizationMiddleware marks the message that replaces the summarised ones.
SUMMARY_SOURCE = "summarization"
# stored and served by the API in English; the replay page translates it when it shows it
SUMMARY_COST_NOTE = gettext_noop(
    "Earlier messages were summarised here. The calls that wrote the summary leave no token usage in the "
    "checkpoints, so their cost is not included."
)
# create_agent's own nodes: the model and tool loop, and middleware hooks named "<Middleware>.<hook>".
AGENT_LOOP_NODES = frozenset({"model", "tools"})


def is_summary(message: StoredMessage) -> bool:
    """True for a message that stands for summarised ones (``additional_kwargs.lc_source == "summarization"``)."""
    extra = message.fields.get("additional_kwargs")
    return isinstance(extra, dict) and extra.get("lc_source") == SUMMARY_SOURCE


def is_agent_name(node: str) -> bool:
    """Whether a graph node's name can name an agent: create_agent's ``model`` and ``tools`` nodes and its
    middleware hooks cannot (its agent's name, when it was given one, is on the messages)."""
    return bool(node) and node not in AGENT_LOOP_NODES and "." not in node


def structured_answer_calls(writes: Iterable[WriteRecord]) -> frozenset[str]:
    """The tool-call ids that are structured answers: a call answered in the very task that issued it, by
    the task that also wrote ``structured_response`` (create_agent's ``ToolStrategy``)."""
    answering_tasks = {
        (write.checkpoint_ns, write.checkpoint_id, write.task_id)
        for write in writes
        if write.channel == STRUCTURED_RESPONSE_CHANNEL and write.decoded.error is None and write.decoded.value is not None
    }
    if not answering_tasks:
        return frozenset()
    called: dict[tuple[str, str, str], set[str]] = {}
    answered: dict[tuple[str, str, str], set[str]] = {}
    for write in writes:
        task = (write.checkpoint_ns, write.checkpoint_id, write.task_id)
        if write.channel != MESSAGES_CHANNEL or task not in answering_tasks or write.decoded.error is not None:
            continue
        for item in message_items(write.decoded.value):
            message = as_stored_message(item)
            if message is None:
                continue
            if message.type == "ai":
                called.setdefault(task, set()).update(call.id for call in message.tool_calls if call.id)
            elif message.type == "tool" and message.tool_call_id:
                answered.setdefault(task, set()).add(message.tool_call_id)
    return frozenset(call_id for task, ids in called.items() for call_id in ids & answered.get(task, set()))


def edited_action(decision: Any) -> tuple[str | None, dict[str, Any]] | None:
    """An ``edit`` decision's ``(tool name, arguments)`` — what ran instead of the proposal; None otherwise."""
    if not isinstance(decision, dict) or str(decision.get("type", "")).lower() != "edit":
        return None
    action = decision.get("edited_action")
    if not isinstance(action, dict) or not isinstance(action.get("args"), dict):
        return None
    return as_text(action.get("name")), action["args"]


def decision_outcome(decision: Any) -> str:
    """approved (approve, edit) | rejected (reject) | resolved (respond: the human answered for the tool)."""
    kind = str(decision.get("type", "")).lower() if isinstance(decision, dict) else ""
    return {"approve": "approved", "edit": "approved", "reject": "rejected"}.get(kind, "resolved")


HITL_DECISION_TYPES = {"approve", "edit", "reject", "respond"}


def is_hitl_decision(value: Any) -> bool:
    """One decision as the middleware's ``per_call`` mode is answered: ``{"type": "approve" | "edit" | …}``."""
    return isinstance(value, dict) and str(value.get("type", "")).lower() in HITL_DECISION_TYPES


def hitl_decisions(resume: Any) -> list[Any] | None:
    """The human-in-the-loop middleware's decisions, one per action it asked about (``batched`` mode), or the
    one decision about one call (``per_call`` mode); None for another shape."""
    if isinstance(resume, dict) and isinstance(resume.get("decisions"), list):
        return resume["decisions"]
    if is_hitl_decision(resume):
        return [resume]
    return None


def decided_calls(*, request: Any, resume: Any, calls: list[Any]) -> list[tuple[Any, Any]] | None:
    """Each gated call with the decision about it: the middleware asks about its ``action_requests`` in
    order and gets one decision per request. ``calls`` are the calls awaiting the interrupt (objects with
    ``tool_name`` and ``args``); None when the request or resume is not the middleware's."""
    decisions = hitl_decisions(resume)
    requests = request.get("action_requests") if isinstance(request, dict) else None
    if isinstance(request, dict) and request.get("type") == "tool_approval":  # per_call: one request, one call
        requests = [request]
        calls = sorted(calls, key=lambda call: getattr(call, "call_id", None) != request.get("tool_call_id"))
    if decisions is None or not isinstance(requests, list):
        return None
    unmatched = list(calls)
    decided = []
    for action, decision in zip(requests, decisions):
        if not isinstance(action, dict):
            continue
        same_name = [call for call in unmatched if call.tool_name == action.get("name")]
        call = next((call for call in same_name if call.args == action.get("args")), same_name[0] if same_name else None)
        if call is not None:
            unmatched.remove(call)
            decided.append((call, decision))
    return decided


def edited_call_step(step: ReplayStep, *, tool_name: str | None, args: dict[str, Any]) -> ReplayStep:
    """A tool call as it ran after a reviewer's edit; what the model proposed is kept in ``details``."""
    details = {**step.details, "edited_by_reviewer": True, "proposed_args": step.tool_args}
    if tool_name and tool_name != step.tool_name:
        details["proposed_tool_name"] = step.tool_name
    return replace(step, tool_name=tool_name or step.tool_name, tool_args=args, details=details)
