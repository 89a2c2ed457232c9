from django.contrib import admin

from analytics.models import AnalyticsEvent, ModelPrice


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model", "input_usd_per_million", "output_usd_per_million", "effective_from")
    list_filter = ("model",)
    search_fields = ("model",)
    ordering = ("model", "-effective_from")


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "event_type", "conversation", "agent", "tool_name", "model", "status", "cost_usd")
    list_filter = ("event_type", "source", "status")
    search_fields = ("conversation__thread_id", "tool_name", "agent", "model")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)
    show_full_result_count = False
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request) -> bool:
        return False
