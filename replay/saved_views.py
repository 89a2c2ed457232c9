"""Managers' saved conversation lists: a name for the filters, search and order of the list they are looking at."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import QueryDict

from replay.models import SavedView

# What a saved view leaves out of the list's query string: the page it was on, and the admin's own bookkeeping.
TRANSIENT_PARAMETERS = ("p", "all", "_changelist_filters", "_to_field", "_popup")
NAME_LENGTH = SavedView._meta.get_field("name").max_length


class InvalidViewName(ValueError):
    pass


def save_view(*, user: User, name: str, query: str) -> SavedView:
    """Keep the list's ``query`` under ``name`` for ``user``, replacing a view of the same name."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_LENGTH or not name.isprintable():
        raise InvalidViewName(name)
    kept = QueryDict(query.lstrip("?"), mutable=True)
    for parameter in TRANSIENT_PARAMETERS:
        kept.pop(parameter, None)
    view, _ = SavedView.objects.update_or_create(user=user, name=name, defaults={"query": kept.urlencode()})
    return view


def views_of(*, user: User) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user))


def delete_view(*, user: User, view_id: int) -> bool:
    """Delete one of ``user``'s views; False when it is not theirs (or gone)."""
    deleted, _ = SavedView.objects.filter(user=user, pk=view_id).delete()
    return deleted > 0
