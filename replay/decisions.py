"""A tool call that nothing ever answers is the agent's decision, not a tool call: a marker such as an
email assistant's ``Done`` routes the graph to its end, no tool runs and no result comes back.

It stays in the replay where the model made it, as a ``tool_call`` step with ``details["decision"]``
set, and counts nowhere a tool call counts. A call still waiting for a reviewer (an interrupt or a
breakpoint asked about it), answered by an error, or that a routing tool made, is no decision."""

from __future__ import annotations

from dataclasses import replace

from replay.approval_steps import ToolCallInfo
from replay.steps import ReplayStep, StepType


def mark_decisions(
    steps: list[ReplayStep], *, tool_calls: dict[str, list[ToolCallInfo]], approval_calls: dict[str, list[ToolCallInfo]]
) -> list[ReplayStep]:
    """Given a finished timeline and what became of its calls, mark the calls nothing answered as decisions."""
    asked_about = {id(call) for calls in approval_calls.values() for call in calls}
    seen: dict[str, int] = {}
    marked = []
    for step in steps:
        if step.type == StepType.TOOL_CALL and step.tool_call_id:
            number = seen.get(step.tool_call_id, 0)
            seen[step.tool_call_id] = number + 1
            issued = tool_calls.get(step.tool_call_id, [])
            call = issued[number] if number < len(issued) else None
            if call is not None and not call.answered and not call.routing and id(call) not in asked_about:
                step = replace(step, details={**step.details, "decision": True})
        marked.append(step)
    return marked


def is_decision(step: ReplayStep) -> bool:
    """True for a call the agent made to say what it decided (``Done``), which no tool answered."""
    return step.type == StepType.TOOL_CALL and bool(step.details.get("decision"))
