"""What happened in a thread, read from its checkpoints: each message once, each interrupt once (raised
by ``interrupt()`` or a run stopped at a static breakpoint), each resolution, each node error and each
change of the active agent — stamped with when it happened.

This is the half of the timeline builder that knows LangGraph's storage; ``timeline.py`` turns these
occurrences into replay steps.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from langgraph.types import Interrupt

from replay.checkpoints import (
    ERROR_CHANNEL,
    INTERRUPT_CHANNEL,
    MESSAGES_CHANNEL,
    NULL_TASK_ID,
    RESUME_CHANNEL,
    CheckpointRecord,
    ThreadCheckpoints,
    WriteRecord,
)
from replay.breakpoints import find_breakpoint_stops
from replay.checkpoint_index import EPOCH, CheckpointIndex
from replay.functional_runs import (
    INPUT_NODE as RUN_INPUT_NODE,
    NOT_A_CALL,
    PHASE_INTERRUPT,
    PHASE_RESOLUTION,
    PHASE_RESULT,
    TASK_RESULT_CHANNELS,
    CallTimes,
    messages_in,
    processing_order,
)
from replay.failures import without_outer_copies
from replay.input_channels import input_message, is_user_input
from replay.message_copies import MessageCopies
from replay.stored_values import StoredMessage, as_stored_message, as_text, message_items

logger = logging.getLogger(__name__)

# Prompts and deletions are state bookkeeping, not steps of the conversation.
IGNORED_MESSAGE_TYPES = {"system", "remove"}

# At the same instant: a resolution precedes the message its resumed task wrote, and a message
# (the tool call) precedes the interrupt it raised.
RANK_RESOLUTION, RANK_AGENT_CHANGE, RANK_MESSAGE, RANK_ERROR, RANK_INTERRUPT, RANK_UNKNOWN = range(6)


def namespace_agent(checkpoint_ns: str) -> str | None:
    """The node a subgraph namespace runs under (``billing:1f0…|inner:…`` → ``inner``); None at the root."""
    if not checkpoint_ns:
        return None
    return checkpoint_ns.split("|")[-1].split(":")[0] or None


def namespace_depth(checkpoint_ns: str) -> int:
    return checkpoint_ns.count("|") + 1 if checkpoint_ns else 0


@dataclass
class Occurrence:
    """One thing that happened, at ``ts``, in namespace ``checkpoint_ns``; ``order`` breaks ties."""

    kind: str  # message | interrupt | resolution | error | agent_change | unknown
    ts: datetime
    rank: int
    order: int
    checkpoint_ns: str
    checkpoint_id: str
    node: str = ""
    stored: StoredMessage | None = None
    details: dict[str, Any] = field(default_factory=dict)
    ts_known: bool = True  # False: ``ts`` only keeps the checkpoint order, no one knows when it was
    # Among the Functional API calls of one run, which all share its times: the call's place (see functional_runs)
    position: tuple[int, ...] = NOT_A_CALL

    @property
    def sort_key(self) -> tuple[datetime, tuple[int, ...], int, int]:
        return (self.ts, self.position, self.rank, self.order)


def read_occurrences(
    thread: ThreadCheckpoints, *, active_agent_channel: str, input_channels: frozenset[str] = frozenset()
) -> list[Occurrence]:
    """Given a thread's checkpoints and writes, return everything that happened, each thing once."""
    return _Reader(thread, active_agent_channel=active_agent_channel, input_channels=input_channels).read()


class _Reader:
    def __init__(self, thread: ThreadCheckpoints, *, active_agent_channel: str, input_channels: frozenset[str] = frozenset()) -> None:
        self.thread = thread
        self.active_agent_channel = active_agent_channel
        self.input_channels = input_channels
        self.checkpoints = CheckpointIndex(thread.checkpoints)
        self.counter = 0
        self.occurrences: list[Occurrence] = []
        self.messages = MessageCopies()
        self.calls = CallTimes(thread.writes, self.checkpoints, interrupt_channel=INTERRUPT_CHANNEL)

    def _next_order(self) -> int:
        self.counter += 1
        return self.counter

    def _add(self, **fields: Any) -> Occurrence:
        occurrence = Occurrence(order=self._next_order(), **fields)
        self.occurrences.append(occurrence)
        return occurrence

    def read(self) -> list[Occurrence]:
        # Checkpoints whose step wrote messages, and those where some of it could not be read: the
        # channel's blob is read for a step that left no readable writes.
        messages_written_at: set[tuple[str, str]] = set()
        damaged: set[tuple[str, str]] = set()
        interrupts: dict[str, Occurrence] = {}
        interrupt_ids_by_task: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        interrupt_ids_by_checkpoint: dict[tuple[str, str], list[str]] = defaultdict(list)
        resumes: list[WriteRecord] = []
        message_writes = []
        interrupted: set[tuple[str, str]] = set()  # checkpoints where an interrupt() or an error was written
        for record in self.thread.checkpoints:
            if record.problem is not None:
                self._unknown_checkpoint(record, record.problem)
        for write in self.thread.writes:
            if write.channel in {INTERRUPT_CHANNEL, ERROR_CHANNEL}:
                interrupted.add((write.checkpoint_ns, write.checkpoint_id))
            with self._salvaging(write.checkpoint_ns, write.checkpoint_id, channel=write.channel, raw_type=write.type):
                if write.decoded.error is not None:
                    self._unknown_write(write)
                    damaged.add((write.checkpoint_ns, write.checkpoint_id))
                elif write.channel == MESSAGES_CHANNEL:
                    message_writes.append((self._message_write_time(write), write))
                    messages_written_at.add((write.checkpoint_ns, write.checkpoint_id))
                elif write.channel in TASK_RESULT_CHANNELS:
                    message_writes.append((self._task_result_time(write), write))
                elif write.channel == INTERRUPT_CHANNEL:
                    for interrupt_id in self._interrupts_from_write(write, interrupts):
                        interrupt_ids_by_task[(write.checkpoint_ns, write.checkpoint_id, write.task_id)].append(interrupt_id)
                        interrupt_ids_by_checkpoint[(write.checkpoint_ns, write.checkpoint_id)].append(interrupt_id)
                elif write.channel == RESUME_CHANNEL:
                    resumes.append(write)
                elif write.channel == ERROR_CHANNEL:
                    self._error_from_write(write)
                elif is_user_input(
                    channel=write.channel, node=write.node, checkpoint_ns=write.checkpoint_ns, input_channels=self.input_channels
                ):
                    self._input_from_write(write)
        # Oldest first, so the first copy met of each message is its earliest; within a step, in the order
        # LangGraph applies the writes (task calls by number, sends by index).
        self._run_inputs()
        for completed, write in sorted(message_writes, key=lambda pair: (pair[0][0], processing_order(pair[1]))):
            readable = False
            with self._salvaging(write.checkpoint_ns, write.checkpoint_id, channel=write.channel, raw_type=write.type):
                if write.channel in TASK_RESULT_CHANNELS:
                    self._messages_from_task_result(write, completed)
                    continue
                readable = self._messages_from_write(write, completed)
            if not readable:
                damaged.add((write.checkpoint_ns, write.checkpoint_id))
        self._messages_from_blobs(messages_written_at - damaged)
        self._resolutions(interrupts, resumes, interrupt_ids_by_task, interrupt_ids_by_checkpoint)
        with self._salvaging("", self.thread.newest_checkpoint_id, channel="static breakpoints"):
            self._breakpoint_stops(interrupted)
        self._agent_changes()
        messages: list[Occurrence] = []
        with self._salvaging("", self.thread.newest_checkpoint_id, channel=MESSAGES_CHANNEL):
            messages = self.messages.each_once()
        found = [*without_outer_copies(self.occurrences), *messages]
        for occurrence in found:
            occurrence.ts_known = self.checkpoints.known(occurrence.checkpoint_ns, occurrence.checkpoint_id)
        return found

    @contextmanager
    def _salvaging(self, checkpoint_ns: str, checkpoint_id: str, **details: Any) -> Iterator[None]:
        """Whatever goes wrong reading one row costs that row only: it becomes an unknown step."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 - one bad row must never lose the rest of the thread
            reason = f"{type(error).__name__}: {error}"
            logger.warning(
                "thread %s: could not read %s at checkpoint %s (%s)",
                self.thread.thread_id, details.get("channel") or "a checkpoint", checkpoint_id, reason,
            )
            self._add(
                kind="unknown", ts=self.checkpoints.ts(checkpoint_ns, checkpoint_id), rank=RANK_UNKNOWN,
                checkpoint_ns=checkpoint_ns, checkpoint_id=checkpoint_id, details={**details, "reason": reason},
            )

    # -- messages ------------------------------------------------------------------------------
    def _add_message(
        self, *, stored: StoredMessage, ts: datetime, checkpoint_ns: str, checkpoint_id: str, node: str,
        position: tuple[int, ...] = NOT_A_CALL,
    ) -> None:
        self.messages.add(stored=stored, ts=ts, make=lambda: Occurrence(
            kind="message", ts=ts, rank=RANK_MESSAGE, order=self._next_order(), checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint_id, node=node, stored=stored, position=position,
        ))

    def _message_write_time(self, write: WriteRecord) -> tuple[datetime, str]:
        """When a write of messages was saved: at the next checkpoint of its namespace. A pending write (its
        step has no next checkpoint yet, as while the graph awaits an approval) was saved after its step
        started, so after all the step before saved, and after the last checkpoint its subgraph task saved,
        whose copies of its messages are then the earlier, as they are once the step completes."""
        ts, checkpoint_id = self.checkpoints.completed(write.checkpoint_ns, write.checkpoint_id)
        if checkpoint_id != write.checkpoint_id:
            return ts, checkpoint_id
        if write.task_id:
            task_namespace = f"{write.node}:{write.task_id}"
            if write.checkpoint_ns:
                task_namespace = f"{write.checkpoint_ns}|{task_namespace}"
            ts = max(ts, self.checkpoints.latest_within(task_namespace) or ts)
        return ts + timedelta(microseconds=1), checkpoint_id

    def _task_result_time(self, write: WriteRecord) -> tuple[datetime, str, tuple[int, ...]]:
        placed = self.calls.place(write, PHASE_RESULT)
        return placed or (*self.checkpoints.completed(write.checkpoint_ns, write.checkpoint_id), NOT_A_CALL)

    def _messages_from_task_result(self, write: WriteRecord, placed: tuple[datetime, str, tuple[int, ...]]) -> None:
        """The messages a Functional API task returned or its entrypoint saved; other values are no steps."""
        ts, checkpoint_id, position = placed
        for stored in messages_in(write.decoded.value):
            if not self.messages.met(stored) and stored.type not in IGNORED_MESSAGE_TYPES:
                self._add_message(
                    stored=stored, ts=ts, checkpoint_ns=write.checkpoint_ns, checkpoint_id=checkpoint_id,
                    node=write.node, position=position,
                )

    def _run_inputs(self) -> None:
        """What each Functional API run was given: the customer's message, at the time the run started."""
        for (checkpoint_ns, checkpoint_id), decoded in self.thread.run_inputs.items():
            with self._salvaging(checkpoint_ns, checkpoint_id, channel="__start__", raw_type=None):
                if decoded.error is not None:
                    raise ValueError(decoded.error)
                ts = self.checkpoints.ts(checkpoint_ns, checkpoint_id)
                for stored in messages_in(decoded.value):
                    if stored.type not in IGNORED_MESSAGE_TYPES:
                        self._add_message(
                            stored=stored, ts=ts, checkpoint_ns=checkpoint_ns, checkpoint_id=checkpoint_id,
                            node=RUN_INPUT_NODE, position=(),  # before the calls of its run
                        )

    def _input_from_write(self, write: WriteRecord) -> None:
        """A run started with the user's message in another channel (an email assistant's ``email_input``)."""
        stored = input_message(channel=write.channel, value=write.decoded.value, checkpoint_id=write.checkpoint_id)
        if stored is not None:
            ts, checkpoint_id = self.checkpoints.completed(write.checkpoint_ns, write.checkpoint_id)
            self._add(
                kind="message", ts=ts, rank=RANK_MESSAGE, checkpoint_ns="", checkpoint_id=checkpoint_id, node=write.node,
                stored=stored, details={"input_channel": write.channel},
            )

    def _messages_from_write(self, write: WriteRecord, completed: tuple[datetime, str]) -> bool:
        """Place the messages of one write; False when some item was not a message."""
        ts, checkpoint_id = completed
        node = write.node
        value = write.decoded.value
        readable = True
        for item in message_items(value):
            if self.messages.met(item):
                continue  # a copy of a message already placed at an earlier time
            stored = as_stored_message(item)
            if stored is None:
                self._unknown(write, ts, f"not a message: {type(item).__name__}", raw=repr(item)[:500])
                readable = False
            elif stored.type not in IGNORED_MESSAGE_TYPES:
                self._add_message(
                    stored=stored, ts=ts, checkpoint_ns=write.checkpoint_ns, checkpoint_id=checkpoint_id, node=node
                )
        return readable

    def _messages_from_blobs(self, messages_written_at: set[tuple[str, str]]) -> None:
        """Steps that changed ``messages`` without leaving writes (``durability="exit"``): read the channel."""
        for checkpoint_ns, records in self.checkpoints.by_namespace.items():
            previous_version = None
            for record in records:
                version = record.messages_version
                changed = version is not None and version != previous_version
                previous_version = version if version is not None else previous_version
                explained = (checkpoint_ns, record.parent_checkpoint_id or "") in messages_written_at
                if not changed or explained:
                    continue
                with self._salvaging(checkpoint_ns, record.checkpoint_id, channel=MESSAGES_CHANNEL, version=version):
                    self._messages_from_blob(record, version)

    def _messages_from_blob(self, record: CheckpointRecord, version: str) -> None:
        decoded = self.thread.load_messages(checkpoint_ns=record.checkpoint_ns, version=version)
        if decoded is None:
            return  # its step's writes were read: what failed there is already an unknown step
        if decoded.error is not None:
            self._unknown_checkpoint(record, decoded.error, channel=MESSAGES_CHANNEL, version=version)
            return
        ts = self.checkpoints.ts(record.checkpoint_ns, record.checkpoint_id)
        for item in decoded.value if isinstance(decoded.value, list) else []:
            stored = as_stored_message(item)
            if stored is not None and stored.type not in IGNORED_MESSAGE_TYPES:
                self._add_message(
                    stored=stored, ts=ts, checkpoint_ns=record.checkpoint_ns, checkpoint_id=record.checkpoint_id,
                    node=record.step_node,
                )

    # -- interrupts ----------------------------------------------------------------------------
    def _interrupts_from_write(self, write: WriteRecord, interrupts: dict[str, Occurrence]) -> list[str]:
        value = write.decoded.value
        ids = []
        for position, item in enumerate(value if isinstance(value, (list, tuple)) else [value]):
            if not isinstance(item, Interrupt) and not (isinstance(item, dict) and "value" in item):
                ts, _ = self.checkpoints.completed(write.checkpoint_ns, write.checkpoint_id)
                self._unknown(write, ts, f"not an interrupt: {type(item).__name__}", raw=repr(item)[:500])
                continue
            interrupt_id = as_text(_attr(item, "id")) or _fallback_id(write, position)
            payload = _attr(item, "value") if _attr(item, "value") is not None else item
            ids.append(interrupt_id)
            ts, call_position = self.checkpoints.ts(write.checkpoint_ns, write.checkpoint_id), NOT_A_CALL
            placed = self.calls.place(write, PHASE_INTERRUPT)
            if placed is not None:
                ts, _, call_position = placed
            known = interrupts.get(interrupt_id)
            # Written once per namespace level (and by a task call and its entrypoint): the innermost one is
            # where (and when) it was raised.
            if known is not None and _depth(known) >= (namespace_depth(write.checkpoint_ns), call_position != NOT_A_CALL):
                continue
            if known is not None:
                self.occurrences.remove(known)
            interrupts[interrupt_id] = self._add(
                kind="interrupt", ts=ts, rank=RANK_INTERRUPT, checkpoint_ns=write.checkpoint_ns,
                checkpoint_id=write.checkpoint_id, node=write.node,
                details={"interrupt_id": interrupt_id, "value": payload}, position=call_position,
            )
        return ids

    def _resolutions(
        self,
        interrupts: dict[str, Occurrence],
        resumes: list[WriteRecord],
        ids_by_task: dict[tuple[str, str, str], list[str]],
        ids_by_checkpoint: dict[tuple[str, str], list[str]],
    ) -> None:
        resolved: dict[str, tuple[WriteRecord, Any]] = {}

        def claim(interrupt_id: str, write: WriteRecord, value: Any) -> None:
            known = resolved.get(interrupt_id)
            if known is None or namespace_depth(write.checkpoint_ns) > namespace_depth(known[0].checkpoint_ns):
                resolved[interrupt_id] = (write, value)

        # Task-level resumes name their task; do them first so a global resume only fills the gaps.
        for write in sorted(resumes, key=lambda w: w.task_id == NULL_TASK_ID):
            with self._salvaging(write.checkpoint_ns, write.checkpoint_id, channel=write.channel, raw_type=write.type):
                value = write.decoded.value
                if write.task_id != NULL_TASK_ID:
                    values = value if isinstance(value, list) else [value]
                    ids = ids_by_task.get((write.checkpoint_ns, write.checkpoint_id, write.task_id), [])
                    for interrupt_id, resume in zip(ids, values):
                        claim(interrupt_id, write, resume)
                elif isinstance(value, dict) and value and all(key in interrupts for key in value):
                    for interrupt_id, resume in value.items():
                        claim(interrupt_id, write, resume)
                else:
                    for interrupt_id in ids_by_checkpoint.get((write.checkpoint_ns, write.checkpoint_id), []):
                        if interrupt_id not in resolved:
                            claim(interrupt_id, write, value)

        for interrupt_id, interrupt in interrupts.items():
            with self._salvaging(interrupt.checkpoint_ns, interrupt.checkpoint_id, channel=RESUME_CHANNEL):
                self._resolution(interrupt_id, interrupt, resolved.get(interrupt_id))

    def _resolution(self, interrupt_id: str, interrupt: Occurrence, resolved: tuple[WriteRecord, Any] | None) -> None:
        if resolved is not None:
            write, value = resolved
            ts, checkpoint_id = self.checkpoints.completed(write.checkpoint_ns, write.checkpoint_id)
            details = {"interrupt_id": interrupt_id, "resume": value, "outcome_stored": True}
            namespace = write.checkpoint_ns
        else:
            child = self.checkpoints.first_child.get((interrupt.checkpoint_ns, interrupt.checkpoint_id))
            if child is None:
                return  # still waiting for a human
            # The run went on past the interrupt but stored no resume value (durability="exit").
            ts, checkpoint_id = self.checkpoints.ts(child.checkpoint_ns, child.checkpoint_id), child.checkpoint_id
            details = {"interrupt_id": interrupt_id, "resume": None, "outcome_stored": False}
            namespace = interrupt.checkpoint_ns
        interrupt.details["resolved"] = True
        position = interrupt.position
        if position != NOT_A_CALL:
            position = (*position[:-1], PHASE_RESOLUTION)  # right after it, before the call goes on
        self._add(
            kind="resolution", ts=max(ts, interrupt.ts), rank=RANK_RESOLUTION, checkpoint_ns=namespace,
            checkpoint_id=checkpoint_id, node=interrupt.node, details=details, position=position,
        )

    # -- errors, agents, unknowns --------------------------------------------------------------
    def _error_from_write(self, write: WriteRecord) -> None:
        # A step that raised was never saved as done: a checkpoint after it is a later attempt's (the app
        # retried), so the error belongs where the failed attempt started, before whatever the retry did.
        ts = self.checkpoints.ts(write.checkpoint_ns, write.checkpoint_id)
        self._add(
            kind="error", ts=ts, rank=RANK_ERROR, checkpoint_ns=write.checkpoint_ns, checkpoint_id=write.checkpoint_id,
            node=write.node, details={"error": _describe_error(write.decoded.value), "task_id": write.task_id},
        )

    def _agent_changes(self) -> None:
        previous_stack = None
        for record in self.checkpoints.by_namespace.get("", []):
            agent = record.channel_values.get(self.active_agent_channel)
            if isinstance(agent, list):
                # A stack of agents (the customer-support tutorial's dialog_state): the one on top is active;
                # an empty stack hands the conversation back to the graph's own entry agent (None here).
                if agent == previous_stack:
                    continue
                previous_stack = agent
                agent = as_text(agent[-1]) if agent else None
            elif not (isinstance(agent, str) and agent):
                continue
            self._add(
                kind="agent_change", ts=self.checkpoints.ts("", record.checkpoint_id), rank=RANK_AGENT_CHANGE, checkpoint_ns="",
                checkpoint_id=record.checkpoint_id, details={"agent": agent},
            )

    def _breakpoint_stops(self, interrupted: set[tuple[str, str]]) -> None:
        """Runs that stopped at a static breakpoint: an interrupt at the stop, and a resolution where what
        followed it shows the reviewer's decision."""
        for stop in find_breakpoint_stops(self.thread.checkpoints, interrupted=interrupted):
            ns, checkpoint_id = stop.record.checkpoint_ns, stop.record.checkpoint_id
            interrupt = self._add(
                kind="interrupt", ts=self.checkpoints.ts(ns, checkpoint_id), rank=RANK_INTERRUPT, checkpoint_ns=ns,
                checkpoint_id=checkpoint_id,
                details={"interrupt_id": stop.interrupt_id, "value": None, "pending_nodes": list(stop.pending_nodes)},
            )
            if stop.decided_at is None:
                continue
            interrupt.details["resolved"] = True
            decided = stop.decided_at
            self._add(
                kind="resolution", ts=max(self.checkpoints.ts(decided.checkpoint_ns, decided.checkpoint_id), interrupt.ts),
                rank=RANK_RESOLUTION, checkpoint_ns=decided.checkpoint_ns, checkpoint_id=decided.checkpoint_id,
                details={
                    "interrupt_id": stop.interrupt_id, "resume": None, "outcome_stored": True,
                    "breakpoint_outcome": stop.outcome, "via": stop.via,
                },
            )

    def _unknown_write(self, write: WriteRecord) -> None:
        ts, _ = self.checkpoints.completed(write.checkpoint_ns, write.checkpoint_id)
        self._unknown(write, ts, write.decoded.error or "undecodable")

    def _unknown(self, write: WriteRecord, ts: datetime, reason: str, **extra: Any) -> None:
        logger.warning(
            "thread %s: unreadable %s write at checkpoint %s (%s)",
            self.thread.thread_id, write.channel, write.checkpoint_id, reason,
        )
        self._add(
            kind="unknown", ts=ts, rank=RANK_UNKNOWN, checkpoint_ns=write.checkpoint_ns,
            checkpoint_id=write.checkpoint_id, node=write.node,
            details={"channel": write.channel, "raw_type": write.type, "reason": reason, **extra},
        )

    def _unknown_checkpoint(self, record: CheckpointRecord, reason: str, **details: Any) -> None:
        logger.warning(
            "thread %s: unreadable %s at checkpoint %s (%s)",
            self.thread.thread_id, details.get("channel") or "checkpoint", record.checkpoint_id, reason,
        )
        self._add(
            kind="unknown", ts=self.checkpoints.ts(record.checkpoint_ns, record.checkpoint_id), rank=RANK_UNKNOWN,
            checkpoint_ns=record.checkpoint_ns, checkpoint_id=record.checkpoint_id, details={**details, "reason": reason},
        )


def _depth(interrupt: Occurrence) -> tuple[int, bool]:
    return namespace_depth(interrupt.checkpoint_ns), interrupt.position != NOT_A_CALL


def _attr(item: Any, name: str) -> Any:
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None)


def _fallback_id(write: WriteRecord, position: int) -> str:
    raw = f"{write.checkpoint_ns}|{write.checkpoint_id}|{write.task_id}|{position}"
    return "anon-" + hashlib.sha1(raw.encode()).hexdigest()[:16]  # noqa: S324 - an identifier, not security


def _describe_error(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


