"""Decoding what LangGraph stored: channel values and writes, with messages left as ``StoredMessage``.

Never import a module just because stored data names it: only LangGraph's list of safe types
(messages, Interrupt, Command, datetimes …) is revived by its serializer; anything else stays undecoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import ormsgpack
from langchain_core.messages import BaseMessage, convert_to_messages
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from replay.steps import TokenUsage

_serializer = JsonPlusSerializer(allowed_msgpack_modules=None)
_EXT_PYDANTIC_V2 = 5  # how LangGraph's msgpack stores pydantic models such as LangChain messages
# What LangGraph's serializer writes, less "pickle"; anything else in a row is not ours to interpret.
_DECODABLE_TYPES = frozenset({"msgpack", "json", "bytes", "bytearray"})

def as_text(value: Any) -> str | None:
    """A value stored where a string belongs, as a string: numbers and bytes spelled out, a list
    joined; None for nothing, for an empty string and for a mapping (no one name can be read from it)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace") or None
    if isinstance(value, (list, tuple)):
        parts = [text for text in (as_text(item) for item in value) if text]
        return ", ".join(parts) or None
    return None


def as_count(value: Any) -> int:
    """A stored token count as a non-negative int; 0 when it is not a number."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value.isdecimal() else 0
    if isinstance(value, (int, float)) and value == value and abs(value) != float("inf"):
        return max(0, int(value))
    return 0


# langchain-openai prefixes the cache and reasoning counts of the priority and flex service tiers.
_CACHE_READ_KEYS = ("cache_read", "priority_cache_read", "flex_cache_read")
_CACHE_WRITE_SPLIT_KEYS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
_REASONING_KEYS = ("reasoning", "priority_reasoning", "flex_reasoning")


def _token_details(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class StoredMessage(NamedTuple):
    """A LangChain message as stored, read without building the pydantic object: the ``messages``
    channel repeats the same messages in many writes, and building each copy would dominate a replay's
    cost. Building none also means no class is ever imported because stored data names it.

    Stored data is not validated, so every property returns its declared type whatever was stored."""

    class_name: str
    fields: dict[str, Any]

    @classmethod
    def of(cls, message: BaseMessage) -> StoredMessage:
        return cls(type(message).__name__, message.model_dump())

    @property
    def type(self) -> str:
        return as_text(self.fields.get("type")) or ""

    @property
    def id(self) -> str | None:
        return as_text(self.fields.get("id"))

    @property
    def name(self) -> str | None:
        return as_text(self.fields.get("name"))

    @property
    def tool_call_id(self) -> str | None:
        return as_text(self.fields.get("tool_call_id"))

    @property
    def text(self) -> str:
        """The text of the content, whether a string or a list of content blocks."""
        content = self.fields.get("content")
        if isinstance(content, str):
            return content
        parts = []
        for part in content if isinstance(content, list) else [content]:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                parts.append(as_text(part.get("text")) or "")
        return "".join(parts)

    @property
    def tool_calls(self) -> list[StoredToolCall]:
        calls = self.fields.get("tool_calls")
        return [StoredToolCall.of(call) for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []

    @property
    def token_usage(self) -> TokenUsage | None:
        """The call's tokens from LangChain's ``usage_metadata``; None when the message stored none."""
        usage = self.fields.get("usage_metadata")
        if not isinstance(usage, dict) or not usage:
            return None
        inputs = _token_details(usage.get("input_token_details"))
        outputs = _token_details(usage.get("output_token_details"))
        return TokenUsage(
            input_tokens=as_count(usage.get("input_tokens")),
            output_tokens=as_count(usage.get("output_tokens")),
            cache_read_tokens=sum(as_count(inputs.get(key)) for key in _CACHE_READ_KEYS),
            # langchain-anthropic splits writes by cache lifetime and then zeroes the generic count
            cache_write_tokens=max(
                as_count(inputs.get("cache_creation")), sum(as_count(inputs.get(key)) for key in _CACHE_WRITE_SPLIT_KEYS)
            ),
            reasoning_tokens=sum(as_count(outputs.get(key)) for key in _REASONING_KEYS),
        )

    @property
    def model_name(self) -> str | None:
        metadata = self.fields.get("response_metadata")
        if not isinstance(metadata, dict):
            return None
        return as_text(metadata.get("model_name")) or as_text(metadata.get("model"))

    @property
    def status(self) -> str:
        return as_text(self.fields.get("status")) or "success"

    @property
    def artifact(self) -> Any:
        return self.fields.get("artifact")


class StoredToolCall(NamedTuple):
    """One entry of an AI message's ``tool_calls``, each field of its declared type."""

    name: str
    id: str | None
    args: dict[str, Any]

    @classmethod
    def of(cls, call: dict[str, Any]) -> StoredToolCall:
        args = call.get("args")
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            args = {"value": args}  # kept for the reader, under a name any consumer of a dict can show
        return cls(name=as_text(call.get("name")) or "", id=as_text(call.get("id")), args=args)


# The roles LangChain's convert_to_messages reads in a (role, content) pair.
_SHORTHAND_ROLES = frozenset({"human", "user", "ai", "assistant", "system", "developer", "function", "tool"})


def is_role_shorthand(value: Any) -> bool:
    """True for one message written as ``(role, content)``: ``{"messages": ("user", "hi")}`` is one
    message (``add_messages`` wraps a value that is not a list in one), but msgpack stores the tuple as a
    list, so a stored two-item list whose first item is a role is that one message, not two. (A bare list
    of two strings such as ``["user", "hi"]``, which add_messages reads as two messages, is stored with the
    same bytes; it is read as the far more common tuple.)"""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], str)
        and value[0] in _SHORTHAND_ROLES
        and isinstance(value[1], (str, list))
    )


def message_items(value: Any) -> list[Any]:
    """The messages a ``messages`` write holds, as ``add_messages`` reads it: a list, or one message."""
    return value if isinstance(value, list) and not is_role_shorthand(value) else [value]


def holds_only_messages(value: Any) -> bool:
    """Whether every item a ``messages`` write holds reads as a message (else the channel's blob is read)."""
    return all(as_stored_message(item) is not None for item in message_items(value))


def as_stored_message(item: Any) -> StoredMessage | None:
    """A stored message as is; an input shorthand (``("user", "hi")``, a dict, a string) converted."""
    if isinstance(item, StoredMessage):
        return item
    if isinstance(item, BaseMessage):
        return StoredMessage.of(item)
    try:
        converted = convert_to_messages([item])
    except Exception:  # noqa: BLE001 - whatever it is, it is not a message
        return None
    return StoredMessage.of(converted[0]) if converted else None


class ValueDecoder:
    """Decodes stored values, leaving messages as ``StoredMessage``. One decoder serves one batch of
    threads: the same message is stored byte for byte in many writes, so each copy is decoded once."""

    def __init__(self) -> None:
        self._messages: dict[bytes, Any] = {}

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == _EXT_PYDANTIC_V2:
            known = self._messages.get(data)
            if known is not None:
                return known
            module, class_name, fields, *_ = ormsgpack.unpackb(
                data, ext_hook=self._ext_hook, option=ormsgpack.OPT_NON_STR_KEYS
            )
            if str(module).startswith("langchain_core.messages") and isinstance(fields, dict):
                self._messages[data] = StoredMessage(as_text(class_name) or "", fields)
                return self._messages[data]
        # Anything else (Interrupt, Command, datetimes …) through LangGraph's own strict decoder.
        return _serializer.loads_typed(("msgpack", ormsgpack.packb(ormsgpack.Ext(code, data))))

    def decode(self, type_: str | None, blob: bytes | None) -> Decoded:
        """Decode one stored value; never raises."""
        if type_ is None or type_ in {"empty", "null"}:
            return Decoded(None)
        if type_ not in _DECODABLE_TYPES:
            # "pickle" above all: loading it would run whatever code the row names.
            return Decoded(error=f"unsupported stored type {type_!r}")
        try:
            if type_ == "msgpack":
                return Decoded(
                    ormsgpack.unpackb(bytes(blob or b""), ext_hook=self._ext_hook, option=ormsgpack.OPT_NON_STR_KEYS)
                )
            return Decoded(_serializer.loads_typed((type_, bytes(blob) if blob is not None else b"")))
        except Exception as error:  # noqa: BLE001 - any corrupt row must become an "unknown" step
            return Decoded(error=f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class Decoded:
    """A decoded value, or why it could not be decoded."""

    value: Any = None
    error: str | None = None


