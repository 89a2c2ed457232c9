"""How long each LLM call and each tool took, read from a timeline at checkpoint granularity.

A step's ``timestamp`` is when its checkpoint was written, so a duration is the gap between two
checkpoints: an LLM call took from the newest earlier checkpoint to the one holding its reply, a
tool from its call (or the approval that let it run) to its result.
"""

from __future__ import annotations

from replay.steps import ReplayStep, StepType, timestamp_known

# Steps that hold a tool call a TOOL_RESULT answers (handoff calls are answered by no result step).
_CALL_TYPES = frozenset({StepType.TOOL_CALL, StepType.ESCALATION})


def _millis(later: ReplayStep, earlier: ReplayStep) -> int | None:
    if not (timestamp_known(later) and timestamp_known(earlier)):
        return None
    millis = round((later.timestamp - earlier.timestamp).total_seconds() * 1000)
    return millis if millis >= 0 else None


def llm_call_latencies(steps: list[ReplayStep]) -> dict[int, int | None]:
    """Given a timeline, return ``step index → ms`` for each step carrying an LLM call's tokens.

    The step before may share the reply's checkpoint (parallel workers of a ``Send``, several calls
    in one functional-API run): those calls ran side by side, so each is measured from the newest
    step of an earlier moment rather than from its neighbour (which would read 0 ms)."""
    latencies: dict[int, int | None] = {}
    earlier: ReplayStep | None = None  # newest step dated before the current moment
    latest: ReplayStep | None = None
    for step in steps:
        if latest is not None and step.timestamp != latest.timestamp:
            earlier = latest
        if step.input_tokens is not None:
            latencies[step.index] = _millis(step, earlier) if earlier is not None else None
        latest = step
    return latencies


def tool_result_latencies(steps: list[ReplayStep]) -> dict[int, int | None]:
    """Given a timeline, return ``step index → ms`` for each tool result: from its call (same
    ``tool_call_id``, the oldest one still unanswered) to the result, or from the answer to an approval
    in between, since the tool could not run while a reviewer kept it waiting."""
    open_calls: dict[str, list[ReplayStep]] = {}
    latencies: dict[int, int | None] = {}
    last_resolution: ReplayStep | None = None
    for step in steps:
        if step.type == StepType.INTERRUPT_RESOLUTION:
            last_resolution = step
        elif step.type in _CALL_TYPES and step.tool_call_id:
            open_calls.setdefault(step.tool_call_id, []).append(step)
        elif step.type == StepType.TOOL_RESULT:
            waiting = open_calls.get(step.tool_call_id or "")
            if not waiting:
                latencies[step.index] = None
                continue
            start = waiting.pop(0)
            if last_resolution is not None and last_resolution.index > start.index:
                start = last_resolution
            latencies[step.index] = _millis(step, start)
    return latencies
