from django.contrib import admin

from replay.models import Conversation


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "thread_id",
        "status",
        "started_at",
        "last_activity_at",
        "agents_list",
        "step_count",
        "tool_error_count",
        "interrupt_count",
        "cost_usd",
        "escalated",
        "resolved",
    )
    list_filter = ("status", "escalated", "resolved", "started_at")
    search_fields = ("thread_id", "first_message")
    date_hierarchy = "started_at"
    show_full_result_count = False
    ordering = ("-last_activity_at", "-id")
    readonly_fields = [field.name for field in Conversation._meta.fields]

    @admin.display(description="Agents")
    def agents_list(self, conversation: Conversation) -> str:
        return ", ".join(conversation.agents_used)

    def has_add_permission(self, request) -> bool:
        return False  # rows are derived from checkpoints, never typed in
