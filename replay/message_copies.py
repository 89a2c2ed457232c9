"""Each message once: the ``messages`` channel stores the same message many times (in later writes, in
parent graphs' writes, in every blob), sometimes without its id, sometimes under another id."""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from replay.message_revisions import MessageRevisions
from replay.stored_values import StoredMessage

if TYPE_CHECKING:
    from replay.occurrences import Occurrence

INPUT_NODE = "__start__"  # the task that writes a run's input


class MessageCopies:
    """Collects the copies met while reading a thread and tells which copy is the message itself."""

    def __init__(self) -> None:
        # The decoder hands out one object per byte-identical stored copy; an object with an id met again
        # is that message again. Kept alive here so that no other object can take over its id().
        self._met: dict[int, Any] = {}
        self._earliest: dict[str, Occurrence] = {}  # by message id
        self._anonymous: list[Occurrence] = []
        # Every distinct copy of a tool result, by tool_call_id: copies made at different graph levels
        # can carry different ids, and an app may reuse a tool_call_id in a later turn.
        self._tool_results: dict[str, list[Occurrence]] = defaultdict(list)
        self._revisions = MessageRevisions()

    def met(self, item: Any) -> bool:
        return id(item) in self._met

    def add(self, *, stored: StoredMessage, ts: datetime, make: Callable[[], Occurrence]) -> None:
        """Note one copy of ``stored`` seen at ``ts``; ``make`` builds its occurrence when one is needed."""
        message_id = stored.id
        if message_id is not None:
            if id(stored) in self._met:
                return
            self._met[id(stored)] = stored
        if stored.type == "tool" and stored.tool_call_id:
            self._tool_results[stored.tool_call_id].append(make())
        elif message_id is None:
            # Identical bytes without an id are not the same message: a user can say "thanks" twice.
            self._anonymous.append(make())
        else:
            known = self._earliest.get(message_id)
            self._revisions.note(stored=stored, ts=ts, earliest=known.stored if known is not None else None)
            if known is None or ts < known.ts:
                self._earliest[message_id] = make()

    def each_once(self) -> list[Occurrence]:
        """The earliest copy of each message."""
        messages = self._merge_anonymous()
        for occurrence in messages:
            self._revisions.apply(occurrence)
        issued: dict[str, list[datetime]] = defaultdict(list)
        for occurrence in messages:
            if occurrence.stored.type == "ai":
                for call in occurrence.stored.tool_calls:
                    if call.id:
                        issued[call.id].append(occurrence.ts)
        return [*messages, *self._tool_results_once(issued)]

    def _merge_anonymous(self) -> list[Occurrence]:
        """A message stored without an id (input written before ``add_messages`` gave it one) is the same
        message as the first later copy with the same content — unless that copy is itself the input of
        a later run: whether an input write has its id is a race inside LangGraph, and a user may send
        the same words twice."""
        earliest = self._earliest
        by_content: dict[tuple[str, str, tuple[tuple[str | None, str, str], ...]], list[str]] = {}
        for key, occurrence in sorted(earliest.items(), key=lambda item: item[1].sort_key):
            if occurrence.node == INPUT_NODE and not occurrence.checkpoint_ns:
                continue
            by_content.setdefault(_content(occurrence.stored), []).append(key)
        unmatched = []
        for occurrence in sorted(self._anonymous, key=lambda item: item.sort_key):
            candidates = by_content.get(_content(occurrence.stored), [])
            match = next((key for key in candidates if earliest[key].ts >= occurrence.ts), None)
            if match is None:
                unmatched.append(occurrence)
                continue
            candidates.remove(match)
            if occurrence.sort_key < earliest[match].sort_key:
                earliest[match] = occurrence
        return [*earliest.values(), *unmatched]

    def _tool_results_once(self, issued: dict[str, list[datetime]]) -> list[Occurrence]:
        """One result per call: copies of a tool_call_id answer the latest call issued with that id at or
        before them, and a copy whose message id was met already belongs where that copy did."""
        results = []
        for call_id, copies in self._tool_results.items():
            issue_times = sorted(issued.get(call_id, []))
            call_of_message: dict[str, int] = {}
            first_copy: dict[int, Occurrence] = {}
            for occurrence in sorted(copies, key=lambda item: item.sort_key):
                message_id = occurrence.stored.id
                call_number = call_of_message.get(message_id) if message_id else None
                if call_number is None:
                    call_number = max(0, bisect_right(issue_times, occurrence.ts) - 1)
                if message_id:
                    call_of_message.setdefault(message_id, call_number)
                first_copy.setdefault(call_number, occurrence)
            results.extend(first_copy.values())
        return results


def _content(stored: StoredMessage) -> tuple[str, str, tuple[tuple[str | None, str, str], ...]]:
    """What two copies of one message share: its type, its text and the tool calls it makes (id, tool and
    arguments) — two replies with no text calling other tools are two replies, even under one call id
    (each agent's model numbers its calls from one)."""
    calls = tuple((call.id, call.name, json.dumps(call.args, sort_keys=True, default=str)) for call in stored.tool_calls)
    return stored.type, stored.text, calls
