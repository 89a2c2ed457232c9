"""What a conversation can be found by: the terms of its search document, and the query a typed search
becomes. Both sides cut text the same way here, so "ORD-61744", "ord-617", "61744" and "617" all reach
the conversation that mentions ORD-61744, whatever PostgreSQL's text-search parser would make of it.

A term is a run of letters and digits ("refund", "61744") or an identifier made of such runs joined by
one of ``-_.@/:#+`` ("ord-61744", "cus_870879", "jane.doe@example.com"); an identifier is a term, and so
are its tails ("doe@example.com", "example.com") and each of its runs. Terms are lower-cased. A search matches a conversation holding, for every typed term,
a term that starts with it: whole ids, their tails and parts, and prefixes ("refund" finds "refunds"),
never text from inside a run ("1744" does not find ORD-61744).

A document also holds the prefixes of each identifier whose last run has a digit, up to two characters of
that run ("ord-6" and "ord-61" of "ord-61744"). They change no result, since a search matches prefixes
anyway. They exist for PostgreSQL's planner, which estimates a prefix search from the most common lexemes.
No single order id is common, so without them it took "ORD-6" to match 135 of 100,000 conversations where
8,700 did; it then read and sorted every match instead of walking the list in order and stopping after a
page (24 ms against 0.8 ms)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from replay.redaction import PLACEHOLDER, redact_text

TERM = re.compile(r"[^\W_]+(?:[-_.@/:#+][^\W_]+)*")
PART = re.compile(r"[^\W_]+")
# PostgreSQL refuses a lexeme of 2 KB or more and a tsvector of 1 MB or more; a term this long is a blob
# (base64, a hash), not something anyone types.
LONGEST_TERM = 200
MOST_DOCUMENT_BYTES = 900_000
# A last run longer than this is a blob or a long number, which nobody types a part of.
LONGEST_PREFIXED_RUN = 12
# An id's start with three characters of its number matches about a thousandth of the ids: few enough to read
# them all. Each longer prefix kept made every document wider and a common word's count slower: with every
# prefix of ids and numbers, documents held 57 % more lexemes and counting the first 10,001 conversations
# holding "refu" took 30-37 ms instead of 12-14 at 100k (bench/README.md, sixth session).
PREFIXED_CHARACTERS = 2


def terms_of(text: str) -> list[str]:
    """The terms of a text: each identifier whole, from each of its runs on ("hopper@example.org",
    "example.org" of "grace.hopper@example.org") and cut into its runs; each word; lower-cased."""
    terms = []
    for match in TERM.finditer(text.lower()):
        term = match.group()
        terms.append(term)
        parts = list(PART.finditer(term))
        if len(parts) > 1:
            terms.extend(term[part.start():] for part in parts[1:-1])
            terms.extend(part.group() for part in parts)
    return terms


@dataclass(frozen=True)
class DocumentTerms:
    """A conversation's terms as stored, and as a reader without ``replay.view_unredacted`` sees them
    (no masked value, nor a part of one, is among those)."""

    terms: tuple[str, ...]
    masked_terms: tuple[str, ...]


def document_terms(*, texts: Iterable[str], values: Iterable[Any]) -> DocumentTerms:
    """The distinct terms of these texts and of every string in these JSON-like values (tool arguments,
    metadata), in order of first appearance, within PostgreSQL's limits."""
    strings = [*(text for text in texts if text), *(string for value in values for string in _strings_in(value))]
    text = "\n".join(strings)
    terms = _distinct_terms(text)
    # each string masked on its own, as the pages mask it: a pattern anchored at ^ and $ matches a whole value
    masked = "\n".join(redact_text(string) for string in strings)
    if masked == text:
        return DocumentTerms(terms=terms, masked_terms=terms)
    return DocumentTerms(terms=terms, masked_terms=_distinct_terms(PLACEHOLDER.sub(" ", masked)))


def prefixes_of(term: str) -> list[str]:
    """The prefixes of an identifier that end in the first ``PREFIXED_CHARACTERS`` of its last run, when that
    run has a digit: "ord-6" and "ord-61" of "ord-61744"; none of a word or a number alone."""
    runs = PART.findall(term)
    last_run = runs[-1]
    if len(runs) < 2 or len(last_run) > LONGEST_PREFIXED_RUN or not any(character.isdigit() for character in last_run):
        return []
    run_start = len(term) - len(last_run)
    return [term[:end] for end in range(run_start + 1, min(run_start + PREFIXED_CHARACTERS, len(term) - 1) + 1)]


def _distinct_terms(text: str) -> tuple[str, ...]:
    """The text's terms, then their prefixes (``prefixes_of``), each once, up to PostgreSQL's limits: a
    prefix never takes the place of a term."""
    seen: dict[str, None] = {}
    size = 0

    def add(term: str) -> bool:
        nonlocal size
        if term in seen or len(term.encode()) > LONGEST_TERM:
            return True
        size += len(term.encode()) + 8  # a lexeme's bytes and its entry in the tsvector
        if size > MOST_DOCUMENT_BYTES:
            return False
        seen[term] = None
        return True

    if all(add(term) for term in terms_of(text)):
        for term in list(seen):
            if not all(add(prefix) for prefix in prefixes_of(term)):
                break
    return tuple(seen)


def _strings_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings_in(item)
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
