import copy

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext_lazy as _

from analytics.models import AnalyticsEvent, DetachedEventMonth, FailedThread, ModelPrice
from analytics.pricing import (
    PriceChangeOutcome, RepriceResult, models_scope, reprice, reprice_after_price_change, reprice_or_queue,
)
from replay.redaction import redact_value, redaction_for
from replay.services import known_agent_names
from replay.tenants import tenant_scope
from smart_support.time_zones import in_current_zone


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "model", "matches", "input_usd_per_million", "cache_read_usd_per_million", "cache_write_usd_per_million",
        "output_usd_per_million", "effective_from",
    )
    list_filter = ("model",)
    search_fields = ("model", "match_pattern")
    ordering = ("model", "-effective_from")
    actions = ("reprice_selected_models",)
    empty_value_display = _("input price")  # the only empty columns are cache prices, which then cost as input
    fields = (
        "model", "match_pattern", "effective_from", "input_usd_per_million", "cache_read_usd_per_million",
        "cache_write_usd_per_million", "output_usd_per_million",
    )

    @admin.display(description=_("Also matches"), ordering="match_pattern")
    def matches(self, price: ModelPrice) -> str:
        return price.match_pattern or gettext("(exact name only)")

    def save_model(self, request, obj: ModelPrice, form, change: bool) -> None:
        before = ModelPrice.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        self._report_repricing(request, reprice_after_price_change(before=before, after=obj, reason=f"{obj} saved"))

    def delete_model(self, request, obj: ModelPrice) -> None:
        deleted = copy.copy(obj)  # the row's values, kept past its deletion
        super().delete_model(request, obj)
        self._report_repricing(request, reprice_after_price_change(before=deleted, after=None, reason=f"{deleted} deleted"))

    def delete_queryset(self, request, queryset) -> None:
        deleted = list(queryset)
        super().delete_queryset(request, queryset)
        for price in deleted:
            self._report_repricing(request, reprice_after_price_change(before=price, after=None, reason=f"{price} deleted"))

    def _report_repricing(self, request, outcome: PriceChangeOutcome) -> None:
        """Few calls: repriced in the transaction that saves the price, so every view shows the new costs at
        once. Many: queued for the sync worker, and the dashboard says "Repricing…" until it is done."""
        if outcome.repriced is not None:
            self.message_user(request, describe_repricing(outcome.repriced), messages.SUCCESS)
            return
        self.message_user(
            request,
            ngettext(
                "%(calls)s LLM call is being repriced in the background by backfill_events --follow; until it is "
                "done the dashboard says “Repricing…” and the conversation list keeps the old costs.",
                "%(calls)s LLM calls are being repriced in the background by backfill_events --follow; until it is "
                "done the dashboard says “Repricing…” and the conversation list keeps the old costs.",
                outcome.queued_calls,
            ) % {"calls": f"{outcome.queued_calls:,}"},
            messages.WARNING,
        )

    @admin.action(
        description=gettext_lazy(
            "Recompute stored costs of the selected models (and the names they match) at the current prices"
        ),
        permissions=["change"],
    )
    def reprice_selected_models(self, request, queryset):
        models = sorted(set(queryset.values_list("model", flat=True)))
        if not request.POST.get("post"):
            return self._confirm_reprice(request, queryset, reprice(models=models, dry_run=True))
        outcome = reprice_or_queue(
            scope=models_scope(models=models), reason=f"reprice of {', '.join(models)} asked in admin"
        )
        if outcome.repriced is not None and not outcome.repriced.lines:
            self.message_user(
                request, gettext("No LLM calls of %(models)s are stored yet.") % {"models": ", ".join(models)},
                messages.WARNING,
            )
            return None
        for line in outcome.repriced.lines if outcome.repriced is not None else ():
            self.message_user(request, gettext("Repriced %(line)s") % {"line": line.describe()}, messages.SUCCESS)
        self._report_repricing(request, outcome)
        return None

    def _confirm_reprice(self, request, queryset, preview: RepriceResult) -> TemplateResponse:
        """Like delete_selected: what the action would change, and a button that does it."""
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Recompute stored costs?"),
            "opts": self.model._meta,
            "prices": queryset,
            "preview": preview,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/analytics/modelprice/reprice_confirmation.html", context)


def describe_repricing(result: RepriceResult) -> str:
    calls = ngettext("%(count)s LLM call", "%(count)s LLM calls", result.changed_calls)
    conversations = ngettext("%(count)s conversation", "%(count)s conversations", result.changed_conversations)
    return gettext("Repriced %(calls)s in %(conversations)s; total cost change %(difference)s USD.") % {
        "calls": calls % {"count": f"{result.changed_calls:,}"},
        "conversations": conversations % {"count": f"{result.changed_conversations:,}"},
        "difference": f"{result.difference_usd:+,.6f}",
    }


class ConversationAgentFilter(admin.SimpleListFilter):
    """Events of the conversations an agent took part in (the dashboard's agent filter, carried into its links)."""

    title = _("conversation's agent")
    parameter_name = "conversation_agent"

    def lookups(self, request, model_admin):
        return [(name, name) for name in known_agent_names(tenants=tenant_scope(user=request.user))]

    def queryset(self, request, queryset):
        return queryset.filter(conversation__agents_used__contains=[self.value()]) if self.value() else queryset


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_in_zone", "event_type", "conversation", "agent", "tool_name", "model", "status", "cost_usd")
    list_filter = ("event_type", "source", "status", ConversationAgentFilter)
    search_fields = ("conversation__thread_id", "tool_name", "agent", "model")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)
    show_full_result_count = False
    date_hierarchy = "occurred_at"
    # the dashboard's "by model" rows lead here: one model's LLM calls in the conversations started in a range
    drill_down_lookups = frozenset({"model", "conversation__started_at__gte", "conversation__started_at__lt"})

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if lookup in self.drill_down_lookups:
            return True
        field, _separator, rest = lookup.partition("__")
        related = rest.split("__")[0] if field == "conversation" else ""
        if related in {"search_document", "masked_search_document"}:
            return False
        # payloads hold tool arguments and approval requests: a masked reader may not test them by their text
        if (request is None or redaction_for(user=request.user).masks) and (field == "payload" or related in {"metadata", "first_message"}):
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description=in_current_zone(_("Occurred at")), ordering="occurred_at")
    def occurred_in_zone(self, event: AnalyticsEvent):
        return event.occurred_at

    def get_queryset(self, request):
        return super().get_queryset(request).filter(tenant_scope(user=request.user).q(prefix="conversation__"))

    def get_object(self, request, object_id, from_field=None):
        event = super().get_object(request, object_id, from_field)
        if event is not None and redaction_for(user=request.user).masks:
            event = copy.copy(event)  # shown, never saved (no change permission)
            event.payload = redact_value(event.payload)
        return event

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # derived rows


class RecordedForEveryTenantAdmin(admin.ModelAdmin):
    """Rows a command records, never typed in or changed, that belong to no one tenant (a thread that could not be
    derived has no known tenant; a detached month held every tenant's events): only readers of every tenant
    see them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) and tenant_scope(user=request.user).all_tenants

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)


@admin.register(FailedThread)
class FailedThreadAdmin(RecordedForEveryTenantAdmin):
    """Threads the backfill could not read or derive: what went wrong, so staff can fix the data or report
    it; ``backfill_events --retry-failed`` tries them again."""

    list_display = ("thread_id", "short_error", "attempts", "first_failed_at", "last_failed_at", "replay_link")
    search_fields = ("thread_id", "error")
    readonly_fields = (
        "thread_id", "error", "traceback", "last_checkpoint_id", "attempts", "first_failed_at", "last_failed_at",
    )
    date_hierarchy = "last_failed_at"
    show_full_result_count = False

    @admin.display(description=_("Error"))
    def short_error(self, failure: FailedThread) -> str:
        return failure.error if len(failure.error) <= 160 else f"{failure.error[:159]}…"

    @admin.display(description=_("Replay"))
    def replay_link(self, failure: FailedThread) -> str:
        url = reverse("admin:replay_conversation_replay", kwargs={"thread_id": failure.thread_id})
        return format_html('<a href="{}">{}</a>', url, gettext("What can be read"))



@admin.register(DetachedEventMonth)
class DetachedEventMonthAdmin(RecordedForEveryTenantAdmin):
    """The months ``detach_event_partitions`` took out of ``analytics_events``: where their events went, for staff
    to archive or drop; their hours' breakdowns are kept from the rollups."""

    list_display = ("month", "table", "rows", "detached_at")
    readonly_fields = ("month", "table", "rows", "detached_at")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # forgetting one would let a rebuild recompute its hours from the events that are left
