"""Summing up a sample of threads for ``inspect_checkpoints``: per thread, its built timeline walked
alongside where each message was written; per checkpoint, its channels and pending nodes."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from replay.checkpoints import ERROR_CHANNEL, INTERRUPT_CHANNEL, MESSAGES_CHANNEL, ThreadCheckpoints
from replay.inspection_reads import CheckpointHeader, StoredFacts, WriteCount, task_node
from replay.inspection_report import BreakpointSeen
from replay.occurrences import namespace_agent, namespace_depth
from replay.steps import ReplayStep, StepType
from replay.stored_values import as_stored_message

CALL_STEP_TYPES = frozenset({StepType.TOOL_CALL, StepType.HANDOFF, StepType.ESCALATION})
REPLY_STEP_TYPES = CALL_STEP_TYPES | {StepType.AGENT_MESSAGE}
# What a tool's error reads like when its message does not say status="error": an "Error: …" template
# (LangGraph's ToolNode, the customer-support tutorial's fallback), an exception's repr, a traceback.
ERROR_LOOKING = re.compile(
    r"\A\s*(?:error|exception|traceback|failed)\b|\b[A-Z]\w*(?:Error|Exception)\(|please fix your mistakes",
    re.IGNORECASE | re.DOTALL,
)


def place_of(checkpoint_ns: str, node: str = "") -> str:
    """A node as a reader finds it in the graph: ``billing:1f0…|inner:…`` and ``tools`` → ``billing › inner › tools``."""
    parts = [part.split(":")[0] for part in checkpoint_ns.split("|")] if checkpoint_ns else []
    return " › ".join(part for part in [*parts, node] if part)


@dataclass(frozen=True)
class Writer:
    """Where a message was written: its namespace and node."""

    checkpoint_ns: str
    node: str

    @property
    def place(self) -> str:
        return place_of(self.checkpoint_ns, self.node)

    @property
    def agent(self) -> str:
        """The name ``ROUTER_TARGETS`` matches: a subgraph's node in the parent graph, else the node."""
        return namespace_agent(self.checkpoint_ns) or self.node


def message_writers(thread: ThreadCheckpoints) -> tuple[dict[str, Writer], dict[str, Writer]]:
    """By AI message id, where it was written; by tool call id, where the ToolMessage answering it was.
    A parent graph copies its subgraphs' messages out and its history in (as ``__start__``'s input): the
    innermost write by a node of the graph is where a message was produced."""
    replies: dict[str, tuple[tuple[bool, int], Writer]] = {}
    answers: dict[str, tuple[tuple[bool, int], Writer]] = {}
    for write in thread.writes:
        if write.channel != MESSAGES_CHANNEL or write.decoded.error is not None:
            continue
        writer = Writer(write.checkpoint_ns, task_node(write.task_path))
        depth = (not writer.node.startswith("__"), namespace_depth(write.checkpoint_ns))
        value = write.decoded.value
        for item in value if isinstance(value, list) else [value]:
            message = as_stored_message(item)
            if message is None:
                continue
            key, found = (message.id, replies) if message.type == "ai" else (message.tool_call_id, answers)
            if message.type in {"ai", "tool"} and key and (key not in found or depth > found[key][0]):
                found[key] = (depth, writer)
    return {key: writer for key, (_, writer) in replies.items()}, {key: writer for key, (_, writer) in answers.items()}


@dataclass
class ToolTally:
    calls: int = 0
    answered: int = 0
    errors: int = 0
    read_as: Counter = field(default_factory=Counter)
    answered_by: Counter = field(default_factory=Counter)
    node_changed_after: int = 0
    caller_went_on: int = 0
    changes: Counter = field(default_factory=Counter)  # "caller → next replier" after a call


@dataclass
class _Reply:
    message_id: str
    writer: Writer
    had_calls: bool = False
    routed: bool = False  # a handoff the timeline read from a channel or a router followed it


@dataclass
class Tally:
    """What the sample's threads hold, summed as they are read."""

    reading: dict[str, Any]
    tools: dict[str, ToolTally] = field(default_factory=lambda: defaultdict(ToolTally))
    tool_nodes: set[str] = field(default_factory=set)  # answered a call after which the caller went on
    transitions: Counter = field(default_factory=Counter)  # (from agent, to agent), no routing seen between
    error_looking: list[tuple[str, str]] = field(default_factory=list)  # (tool, content) read as a success
    handoffs: Counter = field(default_factory=Counter)
    interrupts: Counter = field(default_factory=Counter)
    breakpoints_recognised: int = 0
    tool_errors: Counter = field(default_factory=Counter)
    unknown_steps: Counter = field(default_factory=Counter)
    steps: int = 0
    threads_read_from_blobs: int = 0
    nodes: set[str] = field(default_factory=set)  # every node and subgraph name seen
    channel_values: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    channel_threads: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    channel_storage: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    breakpoint_stops: list[BreakpointSeen] = field(default_factory=list)

    # -- threads: their timeline and where each message was written --------------------------------
    def add_thread(self, thread: ThreadCheckpoints, steps: list[ReplayStep]) -> None:
        replies, answers = message_writers(thread)
        if not any(write.channel == MESSAGES_CHANNEL for write in thread.writes):
            self.threads_read_from_blobs += 1
        self.steps += len(steps)
        results = {step.tool_call_id: step for step in steps if step.type == StepType.TOOL_RESULT and step.tool_call_id}
        waiting: list[tuple[str, Writer, Writer]] = []  # calls answered, awaiting the next reply: (tool, caller, answerer)
        last: _Reply | None = None
        for step in steps:
            self._count(step)
            if step.type == StepType.USER_MESSAGE:
                waiting, last = [], None  # a new input: what comes next starts from the graph's entry
                continue
            message_id = step.details.get("message_id") if step.type in REPLY_STEP_TYPES else None
            if step.type in CALL_STEP_TYPES and step.tool_name:
                self._call(step, answer=answers.get(step.tool_call_id or ""), results=results)
            writer = replies.get(message_id or "")
            if writer is None:
                if last is not None and step.type in CALL_STEP_TYPES:
                    last.routed = True  # a handoff by channel or router, or a call no write places
                continue
            if last is None or last.message_id != message_id:
                for tool, caller, answerer in waiting:
                    self._after_call(tool, caller=caller, answerer=answerer, next_writer=writer)
                waiting = []
                if last is not None and last.writer.agent != writer.agent and not (last.had_calls or last.routed):
                    self.transitions[(last.writer.agent, writer.agent)] += 1
                last = _Reply(message_id, writer)
            if step.type in CALL_STEP_TYPES and step.tool_name:
                last.had_calls = True
                answerer = answers.get(step.tool_call_id or "")
                if answerer is not None:
                    waiting.append((step.tool_name, writer, answerer))

    def _call(self, step: ReplayStep, *, answer: Writer | None, results: dict[str, ReplayStep]) -> None:
        tool = self.tools[step.tool_name]
        tool.calls += 1
        tool.read_as[step.type.value] += 1
        if answer is not None:
            tool.answered += 1
            tool.answered_by[answer.place] += 1
        result = results.get(step.tool_call_id or "")
        if result is not None and result.status == "error":
            tool.errors += 1

    def _after_call(self, tool: str, *, caller: Writer, answerer: Writer, next_writer: Writer) -> None:
        counts = self.tools[tool]
        if next_writer.place == caller.place:
            counts.caller_went_on += 1
            self.tool_nodes.add(answerer.place)
        else:
            counts.node_changed_after += 1
            counts.changes[f"{caller.place} → {next_writer.place}"] += 1

    def _count(self, step: ReplayStep) -> None:
        if step.type == StepType.HANDOFF:
            self.handoffs[self._handoff_rule(step)] += 1
        elif step.type == StepType.INTERRUPT:
            self.interrupts[step.status or "unknown"] += 1
            self.breakpoints_recognised += str(step.details.get("interrupt_id", "")).startswith("breakpoint:")
        elif step.type == StepType.TOOL_RESULT and step.status == "error":
            self.tool_errors[step.tool_name or "(unnamed tool)"] += 1
        elif step.type == StepType.TOOL_RESULT and step.status == "success" and ERROR_LOOKING.search(step.content or ""):
            self.error_looking.append((step.tool_name or "(unnamed tool)", step.content or ""))
        elif step.type == StepType.UNKNOWN:
            reason = step.details.get("reason") or step.details.get("kind") or step.details.get("raw_type") or "unreadable"
            self.unknown_steps[str(reason)[:120]] += 1

    def _handoff_rule(self, step: ReplayStep) -> str:
        """Which setting recognised a handoff step, and through what."""
        if step.tool_name:
            prefixes = self.reading["HANDOFF_TOOL_PREFIXES"]
            if any(step.tool_name.startswith(prefix) and len(step.tool_name) > len(prefix) for prefix in prefixes):
                return f"SMART_SUPPORT_HANDOFF_TOOL_PREFIXES ({step.tool_name})"
            return f"SMART_SUPPORT_ROUTING_TOOLS ({step.tool_name})"
        via = step.details.get("via")
        if via == "router":
            return f"SMART_SUPPORT_ROUTER_TARGETS (→ {step.agent})"
        return f"SMART_SUPPORT_ACTIVE_AGENT_CHANNEL ({via or self.reading['ACTIVE_AGENT_CHANNEL']})"

    # -- checkpoints: channels, nodes, stops ------------------------------------------------------
    def add_facts(self, facts: StoredFacts) -> None:
        headers_by_thread: dict[str, list[CheckpointHeader]] = defaultdict(list)
        for header in facts.headers:
            headers_by_thread[header.thread_id].append(header)
            for channel in header.channel_versions:
                self._channel(header.thread_id, channel, "versioned")
            for channel, value in header.inline_values.items():
                self._channel(header.thread_id, channel, "inline", value)
            self.nodes.update(name for name in [namespace_agent(header.checkpoint_ns), *header.metadata_writes] if name)
        for value in facts.channel_values:
            self._channel(value.thread_id, value.channel, "versioned", value.value)
        writes_by_thread: dict[str, list[WriteCount]] = defaultdict(list)
        for count in facts.write_counts:
            writes_by_thread[count.thread_id].append(count)
            if count.node and not count.node.startswith("__"):
                self.nodes.add(count.node)
        for thread_id, headers in headers_by_thread.items():
            self.breakpoint_stops.extend(breakpoint_stops(headers, writes_by_thread[thread_id]))

    def _channel(self, thread_id: str, channel: str, storage: str, value: Any = None) -> None:
        name = "branch:to:…" if channel.startswith("branch:to:") else channel
        self.channel_threads[name].add(thread_id)
        self.channel_storage[name].add(storage)
        if value is not None and not channel.startswith("branch:"):
            self.channel_values[name].append(value)


def pending_nodes(header: CheckpointHeader) -> tuple[str, ...]:
    """The nodes a checkpoint triggers that have not run on it yet (the ``branch:to:`` channels of langgraph 0.3 on)."""
    pending = []
    for channel, version in header.channel_versions.items():
        if not channel.startswith("branch:to:"):
            continue
        if channel not in header.inline_values:
            continue  # consumed: LangGraph triggers a node only on a channel that holds a value
        node = channel.removeprefix("branch:to:")
        node_seen = header.versions_seen.get(node)
        seen = node_seen.get(channel) if isinstance(node_seen, dict) else None
        if seen is None or _newer(version, seen):
            pending.append(node)
    return tuple(sorted(pending))


def _newer(version: Any, seen: Any) -> bool:
    if isinstance(version, (int, float)) and isinstance(seen, (int, float)):
        return version > seen
    return str(version) > str(seen)  # langgraph pads its string versions, so they sort as numbers


def breakpoint_stops(headers: list[CheckpointHeader], write_counts: list[WriteCount]) -> list[BreakpointSeen]:
    """Where a run stopped with nodes pending and wrote no interrupt and no error: a static breakpoint.

    A simple reading, to say what the checkpoints show; the timeline reads breakpoints and their outcome."""
    written: dict[tuple[str, str], set[str]] = defaultdict(set)
    for count in write_counts:
        written[(count.checkpoint_ns, count.checkpoint_id)].add(count.channel)
    children: dict[tuple[str, str], CheckpointHeader] = {}
    for header in headers:
        if header.parent_checkpoint_id:
            children.setdefault((header.checkpoint_ns, header.parent_checkpoint_id), header)
    stops = []
    for header in headers:
        key = (header.checkpoint_ns, header.checkpoint_id)
        pending = pending_nodes(header)
        # update_state's own checkpoint leaves the next node pending without any run having stopped
        if not pending or header.source == "update" or written[key] & {INTERRUPT_CHANNEL, ERROR_CHANNEL}:
            continue
        child = children.get(key)
        if child is None:
            then = None if written[key] else "nothing yet"
        elif child.source in {"update", "input"}:
            then = "state updated" if child.source == "update" else "new input"
        elif child.versions_seen.get(INTERRUPT_CHANNEL) != header.versions_seen.get(INTERRUPT_CHANNEL):
            then = "resumed"  # LangGraph notes in versions_seen that it stopped here before going on
        else:
            then = None  # an ordinary step: its pending nodes ran
        if then is not None:
            stops.append(BreakpointSeen(header.thread_id, header.checkpoint_ns, header.checkpoint_id, pending, then))
    return stops
