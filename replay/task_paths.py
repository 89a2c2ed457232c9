"""What a ``checkpoint_writes.task_path`` says about the task that wrote a row.

LangGraph names each task by its path, flattened to text (``task_path_str``):

- ``~__pregel_pull, billing`` — a graph node triggered by its channels;
- ``~__pregel_push, 0000000001, 0000000000`` — the second ``Send`` of the step before (the node it ran is
  not in the path);
- ``~__pregel_push, ~__pregel_pull, support_agent, 0000000003, 0000000001`` — the fourth ``@task`` call made
  by the Functional API entrypoint ``support_agent`` (calls made by a task nest the same way).

A Functional API run happens inside one step: every call writes against the same checkpoint, so the call
numbers are the only record of the order things happened in.
"""

from __future__ import annotations

from dataclasses import dataclass

PULL = "~__pregel_pull"
PUSH = "~__pregel_push"
# Sorts after every call a task made: a task's own writes (its return value) come once its calls are done.
AFTER_CALLS = 10**12


@dataclass(frozen=True)
class TaskPath:
    """A parsed task path: the node it runs under, and for calls and sends their numbers."""

    node: str  # the pull node it runs under ("" for a Send, whose node the path does not name)
    calls: tuple[int, ...] = ()  # call numbers from the outermost task in: () for a pull task
    send_index: int | None = None  # for a task started by Send (or nested in one)

    @property
    def is_call(self) -> bool:
        """True for a Functional API ``@task`` call (or a call nested in one)."""
        return bool(self.calls)

    def position(self, phase: int) -> tuple[int, ...]:
        """Where a write of this task falls among its step's calls; ``phase`` orders one task's own writes."""
        return (*self.calls, AFTER_CALLS, phase)


def parse_task_path(task_path: str) -> TaskPath | None:
    """The parsed path; None when it is empty or not in a shape LangGraph writes."""
    parts = [part.strip() for part in task_path.split(",")] if task_path else []
    try:
        parsed, _ = _parse(parts, 0)
    except (IndexError, ValueError):
        return None
    return parsed


def task_node(task_path: str) -> str:
    """The graph node a write came from (the entrypoint for a ``@task`` call); "" when the path names none."""
    parsed = parse_task_path(task_path)
    if parsed is not None:
        return parsed.node
    parts = [part.strip() for part in task_path.split(",")]
    return parts[1] if len(parts) > 1 and not parts[1].isdigit() else ""


def _parse(parts: list[str], at: int) -> tuple[TaskPath, int]:
    head = parts[at]
    if head == PULL:
        return TaskPath(node=parts[at + 1]), at + 2
    if head != PUSH:
        raise ValueError(f"not a task path: {head!r}")
    if parts[at + 1].startswith("~"):
        parent, after = _parse(parts, at + 1)
        number = int(parts[after])
        after += 1
        if after < len(parts) and parts[after].isdigit():
            after += 1  # the flag LangGraph appends (a call in progress)
        return TaskPath(node=parent.node, calls=(*parent.calls, number), send_index=parent.send_index), after
    send_index = int(parts[at + 1])
    after = at + 2
    if after < len(parts) and parts[after].isdigit():
        after += 1
    return TaskPath(node="", send_index=send_index), after
