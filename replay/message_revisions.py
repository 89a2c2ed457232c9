"""An AIMessage rewritten under its own id: an approver who edits a tool call before it runs (Agent Inbox's
``edit``, an app's own review step) re-adds the model's message with the arguments that ran, and
``add_messages`` replaces it in place. The replay shows a call with the arguments that ran, and keeps the
ones the model first proposed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from replay.stored_values import StoredMessage

if TYPE_CHECKING:
    from replay.occurrences import Occurrence

REVISED_ARGS = "revised_tool_args"  # occurrence detail: {tool call id: the arguments of its latest version}


class MessageRevisions:
    """The latest version of each AIMessage whose tool calls changed after it was first stored."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[datetime, StoredMessage]] = {}

    def note(self, *, stored: StoredMessage, ts: datetime, earliest: StoredMessage | None) -> None:
        """Note a copy of an AIMessage met at ``ts``; ``earliest`` is the copy placed so far under its id."""
        if earliest is None or stored.type != "ai" or stored.fields.get("tool_calls") == earliest.fields.get("tool_calls"):
            return
        known = self._latest.get(stored.id or "")
        if known is None or ts >= known[0]:
            self._latest[stored.id or ""] = (ts, stored)

    def apply(self, occurrence: Occurrence) -> None:
        """Tell the message's occurrence the arguments each of its calls last had, where they changed."""
        latest = self._latest.get(occurrence.stored.id or "")
        if latest is None:
            return
        first = {call.id: call.args for call in occurrence.stored.tool_calls if call.id}
        revised = {call.id: call.args for call in latest[1].tool_calls if call.id in first and call.args != first[call.id]}
        if revised:
            occurrence.details[REVISED_ARGS] = revised


def arguments_that_ran(occurrence: Occurrence, *, call_id: str | None, proposed: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A call's arguments as they ran, and the details to add to its step (the first proposal, when edited)."""
    revised = occurrence.details.get(REVISED_ARGS, {}).get(call_id or "")
    if revised is None:
        return proposed, {}
    return revised, {"proposed_args": proposed}
