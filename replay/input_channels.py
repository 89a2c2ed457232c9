"""The user's message given in a channel other than ``messages``: an email assistant is started with
``{"email_input": {...}}``, and that email is what the customer said.

Only what a run was started with counts (the write of the ``__start__`` task in the root graph): a
subgraph is started with its parent's state, and nodes may copy the channel, neither of which is the
customer speaking again."""

from __future__ import annotations

import json
from typing import Any

from replay.message_copies import INPUT_NODE
from replay.stored_values import StoredMessage, as_text


def is_user_input(*, channel: str, node: str, checkpoint_ns: str, input_channels: frozenset[str]) -> bool:
    """True for the write that started a run of the root graph with a value in one of ``input_channels``."""
    return channel in input_channels and node == INPUT_NODE and not checkpoint_ns


def input_message(*, channel: str, value: Any, checkpoint_id: str) -> StoredMessage | None:
    """The input as the customer's message, identified by its channel and the checkpoint it started from;
    None when the channel was given nothing."""
    text = input_text(value)
    if not text:
        return None
    return StoredMessage(
        "HumanMessage", {"type": "human", "content": text, "id": f"{channel}:{checkpoint_id}", "input_channel": channel}
    )


def input_text(value: Any) -> str:
    """An input value as text: a string as it is, a mapping (an email) one ``key: value`` line per field."""
    if isinstance(value, dict):
        lines = []
        for key, field in value.items():
            text = as_text(field) if not isinstance(field, dict) else json.dumps(field, default=str, ensure_ascii=False)
            if text:
                lines.append(f"{key}: {text}")
        return "\n".join(lines)
    return as_text(value) or ""
