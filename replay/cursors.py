"""Cursors of the conversation list, read strictly: a forged one is refused before it reaches a query."""

from __future__ import annotations

from base64 import b64decode
from datetime import datetime
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError
from django.db.models import Field
from rest_framework.pagination import Cursor

from smart_support.api import ascii_whole_number, offset_within_postgres_range


def parse_cursor(*, encoded: str, offset_cutoff: int) -> Cursor | None:
    """DRF's cursor format (base64 of o=offset&r=0|1&p=position), read strictly; None if malformed."""
    try:
        tokens = parse_qs(b64decode(encoded.encode("ascii"), validate=True).decode("ascii"), keep_blank_values=True)
    except ValueError:
        return None
    offset = ascii_whole_number(text=tokens.get("o", ["0"])[0])
    reverse = tokens.get("r", ["0"])[0]
    if offset is None or reverse not in {"0", "1"}:
        return None
    return Cursor(offset=min(offset, offset_cutoff), reverse=reverse == "1", position=tokens.get("p", [None])[0])


def position_fits(*, field: Field, position: str | None) -> bool:
    """Whether a cursor position is a value of the ordering column ``field`` PostgreSQL can compare with."""
    if position is None:
        return True
    try:
        value = field.clean(position, None)
    except ValidationError:
        return False
    return not isinstance(value, datetime) or offset_within_postgres_range(moment=value)
