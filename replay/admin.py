from functools import cached_property

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import connection
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import re_path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from replay.admin_filters import AgentFilter, ApprovalFilter, RoutedToFilter, StartedFilter, metadata_filter
from replay.exports import CsvExportTooLarge, check_csv_export_size, conversation_csv_lines
from replay.inspection import DEFAULT_THREADS, inspect_checkpoints
from replay.models import Conversation, TenantAccess
from replay.queries import search_conversations
from replay.redaction import redaction_for
from replay.services import PageOutOfRange, ThreadNotFound, get_replay
from replay.tenants import tenant_scope, visible_conversations

REPLAY_PAGE_SIZE = 100
ESTIMATE_ABOVE = 10_000
# an index, not something to read on a conversation's page: and the unmasked one would show personal data
SEARCH_DOCUMENTS = ("search_document", "masked_search_document")


class EstimatedCountPaginator(Paginator):
    """Never counts a large table: the whole table takes PostgreSQL's estimate, a filtered list is
    counted up to ``ESTIMATE_ABOVE`` rows (pages past that are rarely opened, and COUNT(*) of every
    match was the slowest part of the changelist)."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is None:
            return super().count
        if not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [query.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return row[0]
        # unordered: the first matches in any order count the same, and a search matching most conversations
        # is then counted from a few pages read in a row instead of thousands read in list order
        return self.object_list.order_by().values("pk")[: ESTIMATE_ABOVE + 1].count()



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
        "replay_link",
    )
    list_filter = (
        "status",
        AgentFilter,
        RoutedToFilter,
        "escalated",
        "resolved",
        ApprovalFilter,
        StartedFilter,
        metadata_filter("tenant"),
        metadata_filter("channel"),
    )
    search_fields = ("thread_id", "first_message")
    search_help_text = _(
        "A thread id prefix, or ids and words from any message, tool call or result and metadata value: "
        "a whole id (ORD-61744, cus_870879), its number (61744) or its start (ORD-617); words by their start "
        "(refund finds refunds). Every term must match."
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_select_related = False  # no relation is displayed: one query per page
    list_per_page = 50
    ordering = ("-last_activity_at", "-id")
    actions = ("export_csv",)
    exclude = SEARCH_DOCUMENTS
    readonly_fields = [field.name for field in Conversation._meta.fields if field.name not in SEARCH_DOCUMENTS]

    @admin.display(description="Agents")
    def agents_list(self, conversation: Conversation) -> str:
        return ", ".join(conversation.agents_used)

    @admin.display(description="Replay")
    def replay_link(self, conversation: Conversation) -> str:
        url = reverse("admin:replay_conversation_replay", kwargs={"thread_id": conversation.thread_id})
        return format_html('<a href="{}">Replay</a>', url)

    def has_add_permission(self, request) -> bool:
        return False  # rows are derived from checkpoints, never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # derived rows; and a masked copy shown for reading must never be saved

    def get_queryset(self, request):
        return visible_conversations(user=request.user, queryset=super().get_queryset(request))

    def get_object(self, request, object_id, from_field=None):
        return redaction_for(user=request.user).conversation(super().get_object(request, object_id, from_field))

    @admin.action(description="Export selected conversations as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        try:
            check_csv_export_size(conversations=queryset)
        except CsvExportTooLarge as error:
            self.message_user(
                request,
                f"Not exported: a CSV export holds at most {error.limit:,} conversations and more are selected. "
                "Narrow the list with the filters or a search, then select again.",
                messages.ERROR,
            )
            return None
        redaction = redaction_for(user=request.user)
        rows = (redaction.conversation(row) for row in queryset.order_by("-last_activity_at", "-id").iterator(chunk_size=2000))
        response = StreamingHttpResponse(conversation_csv_lines(rows), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="conversations.csv"'
        return response

    def get_search_results(self, request, queryset, search_term):
        # The same indexed search as the API: icontains would scan every conversation.
        return search_conversations(queryset, search_term, redaction=redaction_for(user=request.user)), False

    def get_urls(self):
        replay = re_path(
            r"^replay/(?P<thread_id>[\s\S]+)/$",  # any thread id: '/', newlines and all
            self.admin_site.admin_view(self.replay_view),
            name="replay_conversation_replay",
        )
        return [replay, *super().get_urls()]

    def replay_view(self, request: HttpRequest, thread_id: str) -> TemplateResponse:
        if not self.has_view_permission(request) or "\x00" in thread_id:  # PostgreSQL stores no NUL: no such thread
            raise Http404
        viewer = {"tenants": tenant_scope(user=request.user), "redaction": redaction_for(user=request.user)}
        requested = request.GET.get("page", "")
        page = int(requested) if requested.isascii() and requested.isdigit() and int(requested) > 0 else 1
        try:
            try:
                replay = get_replay(thread_id=thread_id, page=page, page_size=REPLAY_PAGE_SIZE, **viewer)
            except PageOutOfRange as error:  # a stale link after the thread shrank: show its last page
                replay = get_replay(thread_id=thread_id, page=error.last_page, page_size=REPLAY_PAGE_SIZE, **viewer)
        except ThreadNotFound:
            raise Http404(f"No checkpoints for thread {thread_id!r}") from None
        context = dict(
            self.admin_site.each_context(request),
            opts=self.model._meta,
            title=f"Replay of {thread_id}",
            thread_id=thread_id,
            conversation=replay.conversation,
            page=replay.page,
            totals=replay.totals,
        )
        return TemplateResponse(request, "admin/replay/conversation/replay.html", context)


INSPECTION_MAX_THREADS = 2000


def inspection_view(site: admin.AdminSite):
    """"How your agent is read": the ``inspect_checkpoints`` report for staff who may view conversations."""

    def inspection(request: HttpRequest) -> TemplateResponse:
        # it reads every thread's checkpoints, whatever their tenant
        if not request.user.has_perm("replay.view_conversation") or not tenant_scope(user=request.user).all_tenants:
            raise PermissionDenied
        thread_id = request.GET.get("thread", "").strip() or None
        threads, error = _sample_size(request.GET.get("threads", ""))
        report = None
        if error is None:
            try:
                report = inspect_checkpoints(threads=threads, thread_id=thread_id)
            except ThreadNotFound:
                error = f"thread: no checkpoints for thread {thread_id!r}"
        context = dict(
            site.each_context(request),
            title="How your agent is read",
            report=report,
            error=error,
            threads=threads,
            thread_id=thread_id or "",
        )
        return TemplateResponse(request, "admin/replay/inspection.html", context, status=400 if error else 200)

    return inspection


def _sample_size(raw: str) -> tuple[int, str | None]:
    if not raw.strip():
        return DEFAULT_THREADS, None
    if raw.strip().isdecimal() and 1 <= int(raw) <= INSPECTION_MAX_THREADS:
        return int(raw), None
    return DEFAULT_THREADS, f"threads: must be a whole number from 1 to {INSPECTION_MAX_THREADS}; got {raw!r}"


class TenantAccessInline(admin.TabularInline):
    """The tenants a user may see, on the user's page (the view_all_tenants permission grants every one)."""

    model = TenantAccess
    extra = 1
    verbose_name = "tenant this user may see"
    verbose_name_plural = "tenants this user may see (none: no conversations, unless the user may view all tenants)"


class UserWithTenantsAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, TenantAccessInline]


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserWithTenantsAdmin)
