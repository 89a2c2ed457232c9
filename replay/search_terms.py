"""What a conversation can be found by: the terms of its search document, and the query a typed search
becomes. Both sides cut text the same way here, so "ORD-61744", "ord-617", "61744" and "617" all reach
the conversation that mentions ORD-61744, whatever PostgreSQL's text-search parser would make of it.

A term is a run of letters and digits ("refund", "61744") or an identifier made of such runs joined by
one of ``-_.@/:#+`` ("ord-61744", "cus_870879", "jane.doe@example.com"); an identifier is a term and so is
each of its runs. Terms are lower-cased. A search matches a conversation holding, for every typed term,
a term that starts with it: whole ids, their parts and word prefixes ("refund" finds "refunds"), never
the middle or end of a term ("1744" does not find ORD-61744)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from replay.redaction import PLACEHOLDER, redact_text, redact_value

TERM = re.compile(r"[^\W_]+(?:[-_.@/:#+][^\W_]+)*")
PART = re.compile(r"[^\W_]+")
# PostgreSQL refuses a lexeme of 2 KB or more and a tsvector of 1 MB or more; a term this long is a blob
# (base64, a hash), not something anyone types.
LONGEST_TERM = 200
MOST_DOCUMENT_BYTES = 900_000


def terms_of(text: str) -> list[str]:
    """The terms of a text: each identifier whole and cut into its runs, each word, lower-cased."""
    terms = []
    for match in TERM.finditer(text.lower()):
        term = match.group()
        terms.append(term)
        if PART.fullmatch(term) is None:
            terms.extend(PART.findall(term))
    return terms


def document_terms(*, texts: Iterable[str], values: Iterable[Any], masked: bool) -> list[str]:
    """The distinct terms of these texts and of every string in these JSON-like values (tool arguments,
    metadata), in order of first appearance, within PostgreSQL's limits. ``masked``: of the texts as a
    reader without ``replay.view_unredacted`` sees them, so no masked value (nor a part of one) is in it."""
    seen: dict[str, None] = {}
    size = 0
    for text in _strings(texts=texts, values=values, masked=masked):
        for term in terms_of(text):
            if term in seen or len(term.encode()) > LONGEST_TERM:
                continue
            size += len(term.encode()) + 8  # a lexeme's bytes and its entry in the tsvector
            if size > MOST_DOCUMENT_BYTES:
                return list(seen)
            seen[term] = None
    return list(seen)


def _strings(*, texts: Iterable[str], values: Iterable[Any], masked: bool) -> Iterable[str]:
    for text in texts:
        if text:
            yield PLACEHOLDER.sub(" ", redact_text(text)) if masked else text
    for value in values:
        yield from _strings_in(redact_value(value) if masked else value, masked=masked)


def _strings_in(value: Any, *, masked: bool) -> Iterable[str]:
    if isinstance(value, str):
        yield PLACEHOLDER.sub(" ", value) if masked else value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item, masked=masked)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings_in(item, masked=masked)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


def tsquery_of(text: str) -> str | None:
    """A typed search as PostgreSQL tsquery text (every term, as a prefix), or None when it has no term.
    The lexemes are quoted as written: the tsquery is cast, not parsed, so an id stays one lexeme."""
    terms = list(dict.fromkeys(match.group() for match in TERM.finditer(text.lower())))
    terms = [term for term in terms if len(term.encode()) <= LONGEST_TERM]
    if not terms:
        return None
    return " & ".join(f"'{term}':*" for term in terms)
