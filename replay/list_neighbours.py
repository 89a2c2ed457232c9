"""The conversations just before and just after one conversation in an ordered, filtered list (the
admin's changelist): the replay page's Previous / Next links."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from replay.models import Conversation


@dataclass(frozen=True)
class Neighbours:
    previous: Conversation | None
    next: Conversation | None


def list_neighbours(
    *, queryset: QuerySet[Conversation], current: Conversation, unfiltered: QuerySet[Conversation]
) -> Neighbours:
    """Given a list (ordered by field names, as the admin's changelist orders it), one conversation and
    the list before its filters (with the same annotations the ordering may name), return the rows
    before and after that conversation. Keyset comparisons, so a conversation deep in a million is as
    fast as the first; the conversation need not be in the list (a filter may have left it out)."""
    ordering = _ordering(queryset)
    if ordering is None:
        return Neighbours(previous=None, next=None)
    values = unfiltered.filter(pk=current.pk).values(*(name for name, _ in ordering)).first()
    if values is None:
        return Neighbours(previous=None, next=None)
    reversed_ordering = [f"{'' if descending else '-'}{name}" for name, descending in ordering]
    after = queryset.filter(_beyond(ordering, values, forward=True))
    before = queryset.filter(_beyond(ordering, values, forward=False)).order_by(*reversed_ordering)
    return Neighbours(previous=before.first(), next=after.first())


def _ordering(queryset: QuerySet[Conversation]) -> list[tuple[str, bool]] | None:
    """The list's ordering as (field, descending) pairs; None when it orders by something else (an
    expression), which has no keyset to compare."""
    ordering = []
    for item in queryset.query.order_by or queryset.model._meta.ordering:
        if not isinstance(item, str) or item == "?":
            return None
        ordering.append((item.lstrip("-"), item.startswith("-")))
    names = {name for name, _ in ordering}
    if not names & {"pk", "id", "thread_id"}:
        ordering.append(("pk", True))  # a tie-breaker, as the admin adds one
    return ordering


def _beyond(ordering: list[tuple[str, bool]], values: dict, *, forward: bool) -> Q:
    """Rows after (``forward``) or before the row with ``values`` in ``ordering``."""
    alternatives = []
    for position, (name, descending) in enumerate(ordering):
        equal = {earlier: values[earlier] for earlier, _ in ordering[:position]}
        lookup = "lt" if descending == forward else "gt"
        alternatives.append(Q(**equal, **{f"{name}__{lookup}": values[name]}))
    # the same rows, with the leading column's bound said on its own: an index range on it, not a scan
    # of every row before the current one
    first, descending = ordering[0]
    bound = Q(**{f"{first}__{'lte' if descending == forward else 'gte'}": values[first]})
    return bound & reduce(or_, alternatives)
