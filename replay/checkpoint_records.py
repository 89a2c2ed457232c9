"""What is stored for one thread, as the checkpoint source hands it to the timeline: checkpoint headers
(with what a static breakpoint is read from) and decoded writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from replay.stored_values import Decoded, holds_only_messages
from replay.task_paths import task_node

MESSAGES_CHANNEL = "messages"
LANGGRAPH_METADATA_KEYS = {"source", "step", "parents", "writes", "thread_id", "checkpoint_ns", "run_id"}


@dataclass(frozen=True)
class StopReading:
    """What LangGraph computes a checkpoint's next tasks from (``get_state().next``), read only for the
    checkpoints where a run may have stopped."""

    channel_versions: dict[str, Any]
    versions_seen: dict[str, Any]
    # channels holding a value: inline in the checkpoint, or in a blob that is not "empty"
    available_channels: frozenset[str]


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint header: what the timeline needs, without channel blobs."""

    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    ts: datetime | None  # always aware; None when neither the row nor its id says when it was made
    metadata: dict[str, Any]
    channel_values: dict[str, Any]
    messages_version: str | None
    problem: str | None = None  # why the row could not be read as a checkpoint, when it could not
    source: str | None = None  # metadata.source: input, loop, update, fork
    resumed_by_next: bool = False  # the next checkpoint in this namespace resumed the run from this one
    stop_reading: StopReading | None = None
    update_nodes: tuple[str, ...] = ()  # the node an update_state was made as, when the metadata names it
    step_nodes: tuple[str, ...] = ()  # the nodes whose step made this checkpoint, when the metadata names them

    @property
    def step_node(self) -> str:
        """The one node whose step made this checkpoint, as langgraph before 1.0 named it in
        ``metadata.writes``; empty when the metadata names none or several."""
        nodes = [node for node in self.step_nodes if not node.startswith("__")]
        return nodes[0] if len(nodes) == 1 else ""


@dataclass(frozen=True)
class WriteRecord:
    """One row of ``checkpoint_writes``, decoded."""

    checkpoint_ns: str
    checkpoint_id: str
    task_id: str
    task_path: str
    idx: int
    channel: str
    type: str | None
    decoded: Decoded

    @property
    def node(self) -> str:
        """The graph node whose task wrote this (``~__pregel_pull, billing`` → ``billing``; a ``@task`` call →
        its entrypoint; a ``Send`` → "", the path does not name it)."""
        return task_node(self.task_path)


@dataclass(frozen=True)
class ThreadCheckpoints:
    """Everything stored for one thread: checkpoints of all namespaces (oldest first) and their writes."""

    thread_id: str
    checkpoints: tuple[CheckpointRecord, ...]
    writes: tuple[WriteRecord, ...]
    # The ``messages`` channel as stored at the versions no readable write explains (``durability="exit"``
    # runs, damaged writes), by ``(checkpoint_ns, version)``: read up front with the rest of the batch.
    message_blobs: Mapping[tuple[str, str], Decoded] = field(default_factory=dict, compare=False, repr=False)
    # A Functional API run's input (the ``__start__`` channel), by ``(checkpoint_ns, checkpoint_id)`` of its
    # input checkpoint: no write holds it.
    run_inputs: Mapping[tuple[str, str], Decoded] = field(default_factory=dict, compare=False, repr=False)

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's ``config["metadata"]`` keys (tenant, channel, user id …) from the root graph's
        checkpoints, later values winning; LangGraph's own bookkeeping keys left out."""
        merged: dict[str, Any] = {}
        for record in self.checkpoints:
            if not record.checkpoint_ns:
                merged.update({key: value for key, value in record.metadata.items() if key not in LANGGRAPH_METADATA_KEYS})
        return merged

    @property
    def started_at(self) -> datetime | None:
        stamps = [record.ts for record in self.checkpoints if record.ts is not None]
        return min(stamps) if stamps else None

    @property
    def last_checkpoint_at(self) -> datetime | None:
        stamps = [record.ts for record in self.checkpoints if record.ts is not None]
        return max(stamps) if stamps else None

    @property
    def newest_checkpoint_id(self) -> str:
        return max((record.checkpoint_id for record in self.checkpoints), default="")

    def load_messages(self, *, checkpoint_ns: str, version: str) -> Decoded | None:
        """The ``messages`` channel as stored at ``version`` (for steps that left no readable writes); None
        when the source did not read it, the step's writes being readable."""
        return self.message_blobs.get((checkpoint_ns, str(version)))


def messages_versions_to_read(checkpoints: Sequence[CheckpointRecord], writes: Sequence[WriteRecord]) -> set[tuple[str, str]]:
    """The ``(checkpoint_ns, version)`` of the ``messages`` channel a thread's timeline reads from blobs:
    each version a checkpoint brought that no readable ``messages`` write of its parent step explains."""
    written_at = {
        (write.checkpoint_ns, write.checkpoint_id)
        for write in writes
        if write.channel == MESSAGES_CHANNEL and write.decoded.error is None and holds_only_messages(write.decoded.value)
    }
    needed: set[tuple[str, str]] = set()
    previous_version: dict[str, Any] = {}
    for record in checkpoints:
        version = record.messages_version
        changed = version is not None and version != previous_version.get(record.checkpoint_ns)
        if version is not None:
            previous_version[record.checkpoint_ns] = version
        if changed and (record.checkpoint_ns, record.parent_checkpoint_id or "") not in written_at:
            needed.add((record.checkpoint_ns, str(version)))
    return needed
