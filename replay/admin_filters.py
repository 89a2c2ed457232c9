"""Changelist filters for conversations; the dashboard's drill-down links speak the same parameters."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from replay.models import Conversation
from replay.services import known_agent_names
from replay.steps import approval_expiry_cutoff
from replay.tenants import tenant_scope
from smart_support.time_zones import UnknownTimeZone, time_zone


RECENT_FOR_LOOKUPS = 1000


def choices_shown(request) -> bool:
    """False when the list is built only for its filtered order (the replay's Previous / Next links):
    no one sees the filters' choices, so their queries are skipped. A filter then offers only its chosen
    value: a filter with no choice at all is left out of the list, chosen value and all."""
    return not getattr(request, "order_only", False)


class StartedFilter(admin.ListFilter):
    """Conversations started on ``started_from``..``started_to`` (inclusive dates in ``tz``)."""

    title = gettext_lazy("started")
    parameters = ("started_from", "started_to", "tz")
    presets = ((1, gettext_lazy("Today")), (7, gettext_lazy("Last 7 days")), (30, gettext_lazy("Last 30 days")),
               (90, gettext_lazy("Last 90 days")))

    def __init__(self, request, params, model, model_admin) -> None:
        super().__init__(request, params, model, model_admin)
        self.values = {}
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                self.values[name] = value[-1] if isinstance(value, list) else value
        # the title names the zone the days are read in: a Tokyo day is not a UTC day
        self.title = _("started (%(zone)s)") % {"zone": self._zone()}

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return list(self.parameters)

    def _zone(self) -> ZoneInfo:
        """The link's zone, else the zone the page is shown in (the one the user chose on the dashboard)."""
        try:
            return time_zone(name=self.values["tz"]) if self.values.get("tz") else timezone.get_current_timezone()
        except UnknownTimeZone:
            return timezone.get_current_timezone()

    def queryset(self, request, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        tz = self._zone()
        try:
            start = date.fromisoformat(self.values["started_from"]) if self.values.get("started_from") else None
            end = date.fromisoformat(self.values["started_to"]) if self.values.get("started_to") else None
        except ValueError:
            return queryset.none()
        if start and start > date.min:  # the first day of the calendar bounds nothing (and has no UTC day before it)
            queryset = queryset.filter(started_at__gte=datetime.combine(start, time.min, tzinfo=tz))
        if end and end < date.max:  # the last day of the calendar has no day after it: no upper bound
            queryset = queryset.filter(started_at__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz))
        return queryset

    def choices(self, changelist):
        today = datetime.now(self._zone()).date()
        yield {
            "selected": not self.values,
            "query_string": changelist.get_query_string(remove=list(self.parameters)),
            "display": _("Any date"),
        }
        for days, label in self.presets:
            start = (today - timedelta(days=days - 1)).isoformat()
            selected = self.values.get("started_from") == start and self.values.get("started_to") == today.isoformat()
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string({"started_from": start, "started_to": today.isoformat()}),
                "display": label,
            }
        chosen = self.chosen_days()
        if chosen and not any(
            self.values.get("started_from") == (today - timedelta(days=days - 1)).isoformat()
            and self.values.get("started_to") == today.isoformat()
            for days, _label in self.presets
        ):
            yield {"selected": True, "query_string": changelist.get_query_string(), "display": chosen}

    def chosen_days(self) -> str:
        """The chosen days as a reader says them ("Nov 19, 2026", "Nov 1, 2026 – Nov 30, 2026"); "" for none."""
        start, end = self.values.get("started_from"), self.values.get("started_to")
        if not (start or end):
            return ""
        if start == end:
            return self._day(start)
        if not end:
            return _("from %(day)s") % {"day": self._day(start)}
        if not start:
            return _("until %(day)s") % {"day": self._day(end)}
        return f"{self._day(start)} – {self._day(end)}"

    @staticmethod
    def _day(value: str) -> str:
        try:
            return date_format(date.fromisoformat(value), _("M j, Y"))
        except ValueError:
            return value


class AgentFilter(admin.SimpleListFilter):
    """Conversations every given agent took part in: ``agent=billing&agent=orders`` is what the dashboard,
    narrowed to billing, counts for orders."""

    title = gettext_lazy("agent")
    parameter_name = "agent"

    def __init__(self, request, params, model, model_admin) -> None:
        given = params.get(self.parameter_name, [])
        self.agents = [name for name in ([given] if isinstance(given, str) else given) if name]
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        if not choices_shown(request):
            return [(self.value(), self.value())] if self.value() else []
        return [(name, name) for name in known_agent_names(tenants=tenant_scope(user=request.user))]

    def queryset(self, request, queryset):
        return queryset.filter(agents_used__contains=self.agents) if self.agents else queryset

    def choices(self, changelist):
        # every agent the list is narrowed to is marked, not only the last one given
        yield {
            "selected": not self.agents,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("All"),
        }
        for name, label in self.lookup_choices:
            yield {
                "selected": name in self.agents,
                "query_string": changelist.get_query_string({self.parameter_name: name}),
                "display": label,
            }


class RoutedToFilter(admin.SimpleListFilter):
    title = gettext_lazy("handed over to")
    parameter_name = "routed_to"

    def lookups(self, request, model_admin):
        if not choices_shown(request):
            return [(self.value(), self.value())] if self.value() else []
        return [(name, name) for name in known_agent_names(tenants=tenant_scope(user=request.user))]

    def queryset(self, request, queryset):
        return queryset.filter(handoffs__has_key=self.value()) if self.value() else queryset


class ApprovalFilter(admin.SimpleListFilter):
    """Conversations by the outcome of their approval interrupts (what the dashboard's interrupt numbers count)."""

    title = gettext_lazy("approvals")
    parameter_name = "approval"

    def lookups(self, request, model_admin):
        return [
            ("any", _("Any approval")),
            ("approved", _("Approved")),
            ("rejected", _("Rejected")),
            ("other", _("Resolved, outcome unknown")),
            ("pending", _("Awaiting approval")),
            ("expired", _("Expired")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "any":
            return queryset.filter(interrupt_count__gt=0)
        if value in {"approved", "rejected", "other"}:
            return queryset.filter(**{f"interrupts_{value}__gt": 0})
        cutoff = approval_expiry_cutoff(now=datetime.now(ZoneInfo("UTC")))
        if value == "expired":
            return queryset.filter(oldest_pending_interrupt_at__lt=cutoff)
        return queryset.filter(newest_pending_interrupt_at__gte=cutoff)


def metadata_filter(key: str) -> type[admin.SimpleListFilter]:
    """A filter on one key of the thread's config metadata (tenant, channel …)."""

    class MetadataFilter(admin.SimpleListFilter):
        title = key
        parameter_name = f"metadata_{key}"

        def lookups(self, request, model_admin):
            if not choices_shown(request):
                return [(self.value(), self.value())] if self.value() else []
            # the values of recent conversations: DISTINCT over every conversation would scan the table
            # of the conversations this user may see: another tenant's name is not theirs to learn
            recent = model_admin.get_queryset(request).order_by("-last_activity_at", "-id").values_list("metadata", flat=True)
            values = {str(metadata[key]) for metadata in recent[:RECENT_FOR_LOOKUPS] if metadata.get(key) is not None}
            if self.value():
                values.add(self.value())
            return [(value, value) for value in sorted(values)[:50]]

        def queryset(self, request, queryset):
            return queryset.filter(metadata__contains={key: self.value()}) if self.value() else queryset

    MetadataFilter.__name__ = f"Metadata{key.title()}Filter"
    return MetadataFilter
