"""Static breakpoints (``interrupt_before`` / ``interrupt_after``, at compile time or per call) leave no
``__interrupt__`` write: the run simply ends with tasks still pending. They are read the way LangGraph
computes ``get_state().next``: a node is pending when a channel that triggers it holds a value whose
version is newer than the one the node last saw (``channel_versions`` against ``versions_seen``).

Which channels trigger which node depends on the release that wrote the checkpoint: ``branch:to:<node>``
(langgraph 0.3 on), ``start:<node>``, ``branch:<from>:<condition>:<node>`` and ``join:<a>+<b>:<node>``
(0.2); every release also lists, under ``versions_seen[<node>]``, the triggers a node has run on.

What followed the stop says how the reviewer decided: the graph resumed into the pending node (approved);
the state was updated as that node, or a new input came instead (rejected); nothing yet (pending).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from replay.checkpoint_records import CheckpointRecord, StopReading

INTERRUPT_SEEN_KEY = "__interrupt__"  # versions_seen entry LangGraph keeps for breakpoints, not a node
APPROVED, REJECTED = "approved", "rejected"


@dataclass(frozen=True)
class BreakpointStop:
    """A run that stopped before ``pending_nodes`` at ``record``; ``outcome`` is None while nothing followed."""

    record: CheckpointRecord
    pending_nodes: tuple[str, ...]
    outcome: str | None = None
    decided_at: CheckpointRecord | None = None
    via: str | None = None  # resumed | update | input

    @property
    def interrupt_id(self) -> str:
        """Stable across re-readings of a thread: the checkpoint the run stopped at."""
        where = f"{self.record.checkpoint_ns}:" if self.record.checkpoint_ns else ""
        return f"breakpoint:{where}{self.record.checkpoint_id}"


def pending_nodes(reading: StopReading) -> frozenset[str]:
    """The nodes LangGraph would run next from a checkpoint (its ``get_state().next``)."""
    versions, seen = reading.channel_versions, reading.versions_seen
    triggers: dict[str, set[str]] = {}
    for node, node_seen in seen.items():
        for channel in node_seen if isinstance(node_seen, dict) else ():
            triggers.setdefault(channel, set()).add(node)
    for channel in versions:
        node = _triggered_by_name(channel)
        if node:
            triggers.setdefault(channel, set()).add(node)
    pending = set()
    for channel, nodes in triggers.items():
        if channel not in reading.available_channels or channel not in versions:
            continue
        for node in nodes:
            node_seen = seen.get(node)
            last_seen = node_seen.get(channel) if isinstance(node_seen, dict) else None
            if _newer(versions[channel], last_seen):
                pending.add(node)
    return frozenset(node for node in pending if not node.startswith("__"))


def _triggered_by_name(channel: str) -> str | None:
    parts = channel.split(":")
    if channel.startswith("branch:to:") and len(parts) == 3:
        return parts[2]
    if parts[0] == "start" and len(parts) == 2:
        return parts[1]
    if parts[0] in {"branch", "join"} and len(parts) >= 3:
        return parts[-1]
    return None


def _version_key(version: Any) -> tuple[float, str]:
    """Versions are ints (older savers) or ``"<counter>.<random>"`` strings (PostgresSaver 2.x on)."""
    if isinstance(version, bool) or version is None:
        return (float("-inf"), "")
    if isinstance(version, (int, float)):
        return (float(version), "")
    text = str(version)
    head = text.split(".", 1)[0]
    return (float(int(head)) if head.isdecimal() else float("-inf"), text)


def _newer(version: Any, last_seen: Any) -> bool:
    return last_seen is None or _version_key(version) > _version_key(last_seen)


def find_breakpoint_stops(
    records: Iterable[CheckpointRecord], *, interrupted: set[tuple[str, str]]
) -> list[BreakpointStop]:
    """Given a thread's checkpoints (oldest first) and the checkpoints where an interrupt or an error was
    written, return each stop at a static breakpoint with what followed it."""
    by_namespace: dict[str, list[CheckpointRecord]] = {}
    for record in records:
        by_namespace.setdefault(record.checkpoint_ns, []).append(record)
    stops = []
    for namespace_records in by_namespace.values():
        stops.extend(_stops_in_namespace(namespace_records, interrupted))
    return stops


def _stops_in_namespace(records: list[CheckpointRecord], interrupted: set[tuple[str, str]]) -> list[BreakpointStop]:
    stops: list[BreakpointStop] = []
    consumed: set[int] = set()  # updates that only edited the state while the run stayed stopped
    for position, record in enumerate(records):
        if position in consumed or record.stop_reading is None:
            continue
        if (record.checkpoint_ns, record.checkpoint_id) in interrupted:
            continue  # an interrupt() or an error: read from its writes
        pending = pending_nodes(record.stop_reading)
        if not pending:
            continue
        following = records[position + 1] if position + 1 < len(records) else None
        if following is not None and following.source == "loop" and not record.resumed_by_next:
            continue  # the run simply went on: one step of it
        stops.append(_decide(records, position, pending, consumed))
    return stops


def _decide(records: list[CheckpointRecord], position: int, pending: frozenset[str], consumed: set[int]) -> BreakpointStop:
    """Follow what came after the stop at ``records[position]`` until it says approved or rejected."""
    stop = records[position]
    for later_position in range(position + 1, len(records)):
        later = records[later_position]
        if later.source == "loop":
            return BreakpointStop(stop, tuple(sorted(pending)), APPROVED, later, "resumed")
        if later.source == "input":
            return BreakpointStop(stop, tuple(sorted(pending)), REJECTED, later, "input")
        if later.source in {"update", "fork"}:
            still_pending = pending_nodes(later.stop_reading) if later.stop_reading else frozenset()
            if set(later.update_nodes) & pending or not (still_pending & pending):
                consumed.add(later_position)  # the decision, not a stop of its own (whatever it made pending)
                return BreakpointStop(stop, tuple(sorted(pending)), REJECTED, later, "update")
            consumed.add(later_position)  # state edited as another node; the run is still stopped
            continue
        break
    return BreakpointStop(stop, tuple(sorted(pending)))
