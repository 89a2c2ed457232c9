from django.contrib import admin, messages

from analytics.models import AnalyticsEvent, ModelPrice
from analytics.pricing import reprice


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model", "input_usd_per_million", "output_usd_per_million", "effective_from")
    list_filter = ("model",)
    search_fields = ("model",)
    ordering = ("model", "-effective_from")
    actions = ("reprice_selected_models",)

    @admin.action(description="Recompute stored costs of the selected models at the current prices", permissions=["change"])
    def reprice_selected_models(self, request, queryset):
        models = sorted(set(queryset.values_list("model", flat=True)))
        lines = reprice(models=models)
        if not lines:
            self.message_user(request, f"No LLM calls of {', '.join(models)} are stored yet.", messages.WARNING)
        for line in lines:
            self.message_user(request, f"Repriced {line.describe()}", messages.SUCCESS)


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
