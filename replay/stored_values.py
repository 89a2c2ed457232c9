"""Decoding what LangGraph stored: channel values and writes, with messages left as ``StoredMessage``.

Never import a module just because stored data names it: only LangGraph's list of safe types
(messages, Interrupt, Command, datetimes …) is revived by its serializer; anything else stays undecoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import ormsgpack
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

_serializer = JsonPlusSerializer(allowed_msgpack_modules=None)
_EXT_PYDANTIC_V2 = 5  # how LangGraph's msgpack stores pydantic models such as LangChain messages

class StoredMessage(NamedTuple):
    """A LangChain message as stored, read without building the pydantic object: the ``messages``
    channel repeats the same messages in many writes, and building each copy would dominate a replay's
    cost. Building none also means no class is ever imported because stored data names it."""

    class_name: str
    fields: dict[str, Any]

    @classmethod
    def of(cls, message: BaseMessage) -> StoredMessage:
        return cls(type(message).__name__, message.model_dump())

    @property
    def type(self) -> str:
        return str(self.fields.get("type") or "")

    @property
    def id(self) -> str | None:
        return self.fields.get("id") or None

    @property
    def name(self) -> str | None:
        return self.fields.get("name") or None

    @property
    def tool_call_id(self) -> str | None:
        return self.fields.get("tool_call_id") or None

    @property
    def text(self) -> str:
        """The text of the content, whether a string or a list of content blocks."""
        content = self.fields.get("content")
        if isinstance(content, str):
            return content
        parts = []
        for part in content if isinstance(content, list) else []:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
        return "".join(parts)

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        calls = self.fields.get("tool_calls")
        return [call for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []

    @property
    def usage_metadata(self) -> dict[str, Any]:
        usage = self.fields.get("usage_metadata")
        return usage if isinstance(usage, dict) else {}

    @property
    def response_metadata(self) -> dict[str, Any]:
        metadata = self.fields.get("response_metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def status(self) -> str:
        return str(self.fields.get("status") or "success")

    @property
    def artifact(self) -> Any:
        return self.fields.get("artifact")


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
                self._messages[data] = StoredMessage(class_name, fields)
                return self._messages[data]
        # Anything else (Interrupt, Command, datetimes …) through LangGraph's own strict decoder.
        return _serializer.loads_typed(("msgpack", ormsgpack.packb(ormsgpack.Ext(code, data))))

    def decode(self, type_: str | None, blob: bytes | None) -> Decoded:
        """Decode one stored value; never raises."""
        if type_ is None or type_ == "empty":
            return Decoded(None)
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


