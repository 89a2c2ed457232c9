"""A failure is one step: an exception raised inside a subgraph is written as an ``__error__`` in the
subgraph's namespace and again in every graph it propagates through (the subgraph's node failed there
too). The innermost write is where it happened; the outer ones are the same failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replay.occurrences import Occurrence


def without_outer_copies(occurrences: list[Occurrence]) -> list[Occurrence]:
    """Given a thread's occurrences, drop each error that an error of a namespace nested in its own repeats."""
    errors = [occurrence for occurrence in occurrences if occurrence.kind == "error"]
    outer = {
        id(error)
        for error in errors
        for inner in errors
        if inner is not error
        and _nested_in(inner.checkpoint_ns, error.checkpoint_ns)
        and inner.details.get("error") == error.details.get("error")
        and inner.ts >= error.ts
    }
    return [occurrence for occurrence in occurrences if id(occurrence) not in outer] if outer else occurrences


def _nested_in(inner_ns: str, outer_ns: str) -> bool:
    """True when namespace ``inner_ns`` is a subgraph (at any depth) of ``outer_ns``."""
    if inner_ns == outer_ns:
        return False
    return outer_ns == "" or inner_ns.startswith(outer_ns + "|")
