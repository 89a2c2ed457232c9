"""The report ``inspect_checkpoints`` returns: what a sample of threads holds, what the timeline
recognised in it, and the settings that would change the reading. Values only."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Counted:
    name: str
    count: int


@dataclass(frozen=True)
class NodeSeen:
    name: str  # a subgraph's node reads "billing › billing_tools"
    writes: int
    channels: tuple[str, ...]
    seen_in: tuple[str, ...]  # checkpoint_writes.task_path, metadata.writes


@dataclass(frozen=True)
class ToolSeen:
    name: str
    calls: int
    answered: int  # by a ToolMessage
    errors: int  # results the timeline reads as errors
    read_as: tuple[Counted, ...]  # tool_call, handoff, escalation
    answered_by: tuple[Counted, ...]
    node_changed_after: int  # answered calls after which another node replied
    caller_went_on: int  # answered calls after which the calling node replied again

    @property
    def unanswered(self) -> int:
        return self.calls - self.answered


@dataclass(frozen=True)
class ChannelSeen:
    name: str
    threads: int
    stored: str  # versioned (a blob per version), inline (in the checkpoint), or both
    example: str | None


@dataclass(frozen=True)
class BreakpointSeen:
    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    pending_nodes: tuple[str, ...]
    then: str  # nothing yet | resumed | state updated | new input


@dataclass(frozen=True)
class SettingAdvice:
    """One setting that would change the reading, ready to paste, and why."""

    setting: str
    value: str
    reason: str
    evidence: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """``NAME=value``, quoted where a shell or an env file would read the value otherwise."""
        return f"{self.setting}={shlex.quote(self.value)}"


@dataclass(frozen=True)
class InspectionReport:
    sample: str
    threads: int
    checkpoints: int
    writes: int
    steps: int
    threads_read_from_blobs: int  # no message writes: durability="exit", read from the channel blobs
    sources: tuple[Counted, ...]
    nodes: tuple[NodeSeen, ...]
    namespaces: tuple[Counted, ...]  # subgraphs, by threads
    tools: tuple[ToolSeen, ...]
    channels: tuple[ChannelSeen, ...]
    interrupt_writes: int
    interrupts: tuple[Counted, ...]  # the timeline's interrupt steps by status
    breakpoints_recognised: int
    breakpoint_stops: tuple[BreakpointSeen, ...]
    handoffs: tuple[Counted, ...]  # by the rule that recognised them
    tool_errors: tuple[Counted, ...]
    unknown_steps: tuple[Counted, ...]
    reading: tuple[tuple[str, str], ...]  # the settings in force
    advice: tuple[SettingAdvice, ...]
    conventions: tuple[Counted, ...] = ()  # well-known shapes found as stored (Agent Inbox, summaries, Send …)
