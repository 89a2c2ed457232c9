"""What LangGraph's Functional API (``@entrypoint`` / ``@task``) stores, and when each part happened.

An entrypoint has no ``messages`` channel. Its input is the ``__start__`` channel of the run's input
checkpoint (no ``__start__`` node writes it anywhere else); each ``@task`` call's result is a
``__return__`` write; the value the entrypoint saves for the next run (``entrypoint.final(save=...)``,
read back as ``previous``) is a ``__previous__`` write. A whole run — every call, an ``interrupt()`` inside
a task and the calls made after its resume — writes against one checkpoint, so the call numbers in the
task paths order what happened, and the step's two timestamps (its checkpoint's, and the one saved when
the run finished) are the only times known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from langchain_core.messages import BaseMessage

from replay.checkpoint_index import CheckpointIndex
from replay.checkpoint_records import CheckpointRecord, WriteRecord
from replay.stored_values import StoredMessage, as_stored_message, is_role_shorthand
from replay.task_paths import AFTER_CALLS, parse_task_path

START_CHANNEL = "__start__"
RETURN_CHANNEL = "__return__"
PREVIOUS_CHANNEL = "__previous__"
# Written by the entrypoint and its tasks; they hold messages when the app keeps its conversation there.
TASK_RESULT_CHANNELS = (RETURN_CHANNEL, PREVIOUS_CHANNEL)
INPUT_NODE = "__start__"

# One call's own writes, in the order they happen: it stops at interrupt(), is resumed, returns.
PHASE_INTERRUPT, PHASE_RESOLUTION, PHASE_RESULT = range(3)
# Where everything that is not a task call's write sits among the calls of its step: after them.
NOT_A_CALL = (AFTER_CALLS,)


def inputs_to_read(records: Sequence[CheckpointRecord], writes: Sequence[WriteRecord]) -> list[tuple[str, str]]:
    """The ``(checkpoint_ns, checkpoint_id)`` of the input checkpoints whose input only the ``__start__``
    channel holds: their run left writes, none of them by a ``__start__`` node (an entrypoint read it)."""
    written_by: dict[tuple[str, str], set[str]] = {}
    for write in writes:
        written_by.setdefault((write.checkpoint_ns, write.checkpoint_id), set()).add(write.node)
    return [
        (record.checkpoint_ns, record.checkpoint_id)
        for record in records
        if record.source == "input"
        and (nodes := written_by.get((record.checkpoint_ns, record.checkpoint_id)))
        and INPUT_NODE not in nodes
    ]


def messages_in(value: Any) -> list[StoredMessage]:
    """The messages an entrypoint's input, a task's result or a saved value holds: one message, a list of
    them (input shorthand included) or a state dict's ``messages``; anything else holds none — a task may
    return any value, and that is no error."""
    if isinstance(value, dict) and "messages" in value:
        value = value["messages"]
    one = isinstance(value, (StoredMessage, BaseMessage, dict)) or is_role_shorthand(value)  # ("user", "hi")
    items: Iterable[Any] = [value] if one or not isinstance(value, (list, tuple)) else value
    found = []
    for item in items:
        if isinstance(item, str):
            continue  # a bare string is any value, not a message
        stored = as_stored_message(item)
        if stored is not None:
            found.append(stored)
    return found


class CallTimes:
    """When each write of a Functional API run happened and where it falls among the run's calls.

    Calls numbered before the run's first ``interrupt()`` ran when the run started (its checkpoint's time);
    the resolution and everything after it ran when the run was resumed and saved (the next checkpoint's)."""

    def __init__(self, writes: Iterable[WriteRecord], checkpoints: CheckpointIndex, *, interrupt_channel: str) -> None:
        self.checkpoints = checkpoints
        self.first_interrupt: dict[tuple[str, str], tuple[int, ...]] = {}
        for write in writes:
            path = parse_task_path(write.task_path) if write.channel == interrupt_channel else None
            if path is not None and path.is_call:
                key = (write.checkpoint_ns, write.checkpoint_id)
                position = path.position(PHASE_INTERRUPT)
                self.first_interrupt[key] = min(position, self.first_interrupt.get(key, position))

    def place(self, write: WriteRecord, phase: int) -> tuple[datetime, str, tuple[int, ...]] | None:
        """``(time, checkpoint id, position)`` of a task call's write; None for any other write."""
        path = parse_task_path(write.task_path)
        if path is None or not path.is_call:
            return None
        position = path.position(phase)
        key = (write.checkpoint_ns, write.checkpoint_id)
        if key in self.first_interrupt and position <= self.first_interrupt[key]:
            return self.checkpoints.ts(*key), write.checkpoint_id, position
        ts, checkpoint_id = self.checkpoints.completed(*key)
        return ts, checkpoint_id, position


def processing_order(write: WriteRecord) -> tuple[int, ...]:
    """Writes of one step in the order LangGraph applies them: task calls by number, sends by index."""
    path = parse_task_path(write.task_path)
    if path is None:
        return NOT_A_CALL
    if path.is_call:
        return path.position(PHASE_RESULT)
    if path.send_index is not None:
        return (path.send_index,)
    return NOT_A_CALL
