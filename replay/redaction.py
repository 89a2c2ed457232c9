"""Personal data masked at read time for users without ``replay.view_unredacted``: e-mail addresses,
phone numbers, payment-card numbers (Luhn-checked) and the patterns of
``SMART_SUPPORT["REDACT_PATTERNS"]``. Stored data never changes; replay steps, conversation rows and
CSV lines are masked on their way out."""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from replay.models import Conversation
from replay.steps import ReplayStep

VIEW_UNREDACTED = "replay.view_unredacted"

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13 to 19 digits, spaces or dashes between groups. A digit run glued to a word or a dash (ORD-4111…,
# a reference such as INV4111…) is an identifier, not a card someone typed: it is kept.
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
# International (+ and 7 to 15 digits) or North-American (3-3-4) numbers; not dates (2026-11-01) nor
# times, whose groups are shorter.
PHONE = re.compile(
    r"(?<![\w+-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4})(?![\w-])"
)
# What masked text holds in place of personal data (``redact_text``).
PLACEHOLDER = re.compile(r"\[(?:email|card|phone|redacted)\]")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if luhn_valid(digits) else match.group()


@lru_cache(maxsize=8)
def _configured(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(pattern) for pattern in patterns if pattern)


def redact_text(text: str) -> str:
    """The text with every piece of personal data replaced by ``[email]``, ``[card]``, ``[phone]`` or ``[redacted]``."""
    if not text:
        return text
    for pattern in _configured(tuple(settings.SMART_SUPPORT.get("REDACT_PATTERNS", ()))):
        text = pattern.sub("[redacted]", text)
    text = EMAIL.sub("[email]", text)
    text = CARD.sub(_mask_card, text)  # before phones: a card's groups would read as a phone number
    return PHONE.sub("[phone]", text)


def redact_value(value: Any) -> Any:
    """A JSON-like value (tool arguments, details, metadata) with every string in it masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # a card or phone number stored as a JSON number is as personal as the same digits in a string
        masked = redact_text(str(value))
        return value if masked == str(value) else masked
    return value


def holds_personal_data(text: str) -> bool:
    return redact_text(text) != text


@dataclass(frozen=True)
class Redaction:
    """Whether a reader sees personal data, and the masking when they do not."""

    masks: bool

    def step(self, step: ReplayStep) -> ReplayStep:
        if not self.masks:
            return step
        return dataclasses.replace(
            step,
            content=redact_text(step.content) if step.content else step.content,
            tool_args=redact_value(step.tool_args),
            details=redact_value(step.details),
        )

    def conversation(self, conversation: Conversation | None) -> Conversation | None:
        """The row to show; a masked copy (never saved) when masking."""
        if conversation is None or not self.masks:
            return conversation
        shown = copy.copy(conversation)
        shown.first_message = redact_text(conversation.first_message)
        shown.metadata = redact_value(conversation.metadata)
        return shown


SHOW_ALL = Redaction(masks=False)
MASK = Redaction(masks=True)


def redaction_for(*, user) -> Redaction:
    """Given a request's user, return what they may see of personal data."""
    return SHOW_ALL if user is not None and user.is_authenticated and user.has_perm(VIEW_UNREDACTED) else MASK
