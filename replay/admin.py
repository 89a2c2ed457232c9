import copy
import json
from functools import cached_property

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, SEARCH_VAR, ChangeList
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import InvalidPage, Paginator
from django.db import connections
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from replay.admin_columns import CHANGELIST_FILTERS, ConversationColumns, customer_masked, customer_url, replay_url
from replay.admin_filters import AgentFilter, ApprovalFilter, RoutedToFilter, StartedFilter, metadata_filter
from replay.customers import customer_conversations, customer_of, customer_totals
from replay.exports import CsvExportTooLarge, check_csv_export_size, conversation_csv_lines
from replay.inspection import DEFAULT_THREADS, inspect_checkpoints
from replay.list_neighbours import list_neighbours
from replay.models import Conversation, TenantAccess
from replay.queries import search_conversations
from replay.redaction import holds_personal_data, redaction_for
from replay.saved_views import NAME_LENGTH, InvalidViewName, delete_view, save_view, views_of
from replay.services import PageOutOfRange, ThreadNotFound, ThreadPruned, get_replay
from replay.tenants import tenant_scope, visible_conversations

REPLAY_PAGE_SIZE = 100
ESTIMATE_ABOVE = 10_000
# A search the planner expects this far past ESTIMATE_ABOVE takes the planner's estimate as well: even a count
# stopped at the cap read 16,000 rows of a common word's matches at 100k conversations (17 ms, 50 ms cold), and
# more the more conversations match, where the estimate costs an EXPLAIN. Only a search over every tenant's
# conversations with no other filter: the planner multiplies the odds of several conditions as if unrelated
# (a word common in one tenant, searched in another, would be estimated in thousands where none match), and
# its statistics are every tenant's.
ESTIMATE_FILTERED_ABOVE = 5 * ESTIMATE_ABOVE
# an index, not something to read on a conversation's page: and the unmasked one would show personal data
SEARCH_DOCUMENTS = ("search_document", "masked_search_document")


class EstimatedCountPaginator(Paginator):
    """Never counts a large table: the whole table takes PostgreSQL's estimate, and so does a search alone
    (``estimates_search``) the planner expects to match more than ``ESTIMATE_FILTERED_ABOVE`` rows; any other
    filtered list is counted up to ``ESTIMATE_ABOVE`` rows (pages past that are rarely opened, and COUNT(*) of
    every match was the slowest part of the changelist)."""

    estimates_search = False

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is None:
            return super().count
        if not query.where:
            with connections[self.object_list.db].cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [query.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return row[0]
        matches = self.object_list.order_by().values("pk")
        estimate = _planned_rows(matches) if self.estimates_search else None
        if estimate is not None and estimate > ESTIMATE_FILTERED_ABOVE:
            return estimate
        # unordered: the first matches in any order count the same, and a search matching most conversations
        # is then counted from a few pages read in a row instead of thousands read in list order
        return matches[: ESTIMATE_ABOVE + 1].count()



def _planned_rows(queryset) -> int | None:
    """The rows PostgreSQL's planner expects the query to return; None for a query that matches nothing
    whatever the data (Django explains it as nothing)."""
    plan = queryset.explain(format="json")
    return int(json.loads(plan)[0]["Plan"]["Plan Rows"]) if plan else None


class OrderOnlyChangeList(ChangeList):
    """The list's rows, filtered and ordered, without fetching or counting a page of them: what the
    replay page's Previous / Next links need."""

    def get_results(self, request):
        self.result_count = self.full_result_count = None
        self.result_list = []
        self.can_show_all = self.multi_page = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    # The columns come from get_list_display: some depend on who reads (masking, the list's filters).
    list_display_links = None  # a row opens its replay, from the thread column and the Replay link
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

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        # a search over every tenant's conversations and nothing else: see ESTIMATE_FILTERED_ABOVE
        paginator.estimates_search = tenant_scope(user=request.user).all_tenants and set(request.GET) <= {
            SEARCH_VAR, ORDER_VAR, PAGE_VAR
        }
        return paginator

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        """Django admin filters by any field of the URL; not by the search terms (a masked reader would test
        personal data against the unmasked ones), and for a masked reader not by message or metadata text."""
        field = lookup.split("__")[0]
        if field in {"search_document", "masked_search_document"}:
            return False
        if field in {"first_message", "metadata"} and (request is None or redaction_for(user=request.user).masks):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_list_display(self, request):
        columns = ConversationColumns(
            redaction=redaction_for(user=request.user), changelist_filters=self._changelist_filters_of(request)
        )
        return columns.list_display()

    def get_queryset(self, request):
        queryset = visible_conversations(user=request.user, queryset=super().get_queryset(request))
        return queryset.annotate(total_tokens=F("input_tokens") + F("output_tokens"))  # the Tokens column sorts by it

    def has_add_permission(self, request) -> bool:
        return False  # rows are derived from checkpoints, never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # derived rows; and a masked copy shown for reading must never be saved

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the next sync would derive a deleted row again from its checkpoints

    def get_object(self, request, object_id, from_field=None):
        return redaction_for(user=request.user).conversation(super().get_object(request, object_id, from_field))

    def changelist_view(self, request, extra_context=None):
        context = {"title": _("Conversations"), "saved_views": views_of(user=request.user), **(extra_context or {})}
        return super().changelist_view(request, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A conversation's page is its replay: the row itself is derived bookkeeping."""
        conversation = self.get_object(request, unquote(object_id))
        if conversation is None or not self.has_view_permission(request, conversation):
            raise Http404
        filters = request.GET.get(CHANGELIST_FILTERS, "")
        return HttpResponseRedirect(replay_url(thread_id=conversation.thread_id, changelist_filters=filters))

    @admin.action(description=_("Export selected conversations as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        try:
            check_csv_export_size(conversations=queryset)
        except CsvExportTooLarge as error:
            self.message_user(
                request,
                _(
                    "Not exported: a CSV export holds at most %(limit)s conversations and more are selected. "
                    "Narrow the list with the filters or a search, then select again."
                ) % {"limit": f"{error.limit:,}"},
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
        customer = re_path(
            r"^customer/(?P<customer_id>[\s\S]+)/$",
            self.admin_site.admin_view(self.customer_view),
            name="replay_conversation_customer",
        )
        save_view = path("saved-views/", self.admin_site.admin_view(self.save_view_view), name="replay_conversation_save_view")
        delete_view = path(
            "saved-views/<int:view_id>/delete/", self.admin_site.admin_view(self.delete_view_view),
            name="replay_conversation_delete_view",
        )
        return [replay, customer, save_view, delete_view, *super().get_urls()]

    # -- saved views: a manager's named lists (filters, search, order), shown above the filters

    @method_decorator(require_POST)
    def save_view_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = request.POST.get("query", "").replace("\x00", "")
        try:
            view = save_view(user=request.user, name=request.POST.get("name", ""), query=query)
        except InvalidViewName:
            self.message_user(
                request, _("Give the view a name of 1 to %(length)d characters.") % {"length": NAME_LENGTH}, messages.ERROR
            )
            return HttpResponseRedirect(f"{reverse('admin:replay_conversation_changelist')}?{query.lstrip('?')}")
        self.message_user(request, _("Saved the view “%(name)s”.") % {"name": view.name}, messages.SUCCESS)
        return HttpResponseRedirect(f"{reverse('admin:replay_conversation_changelist')}?{view.query}")

    @method_decorator(require_POST)
    def delete_view_view(self, request: HttpRequest, view_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not delete_view(user=request.user, view_id=view_id):
            raise Http404
        self.message_user(request, _("Deleted the saved view."), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:replay_conversation_changelist"))

    @staticmethod
    def _changelist_filters_of(request: HttpRequest) -> str:
        """The list's query string, as a replay link carries it (the admin's preserved-filters convention)."""
        if request.resolver_match and request.resolver_match.url_name == "replay_conversation_changelist":
            return request.GET.urlencode()
        return request.GET.get(CHANGELIST_FILTERS, "")

    def get_changelist(self, request, **kwargs):
        return OrderOnlyChangeList if getattr(request, "order_only", False) else super().get_changelist(request, **kwargs)

    def _filtered_list(self, request: HttpRequest, changelist_filters: str):
        """The changelist these filters show (its queryset filtered and ordered), or None when they are invalid."""
        listed = copy.copy(request)
        listed.GET = QueryDict(changelist_filters, mutable=True)
        listed.GET.pop("p", None)  # its page does not matter, only its order
        listed.order_only = True
        try:
            return self.get_changelist_instance(listed)
        except (IncorrectLookupParameters, ValidationError, ValueError, OverflowError):
            return None

    def replay_view(self, request: HttpRequest, thread_id: str) -> HttpResponse:
        if not self.has_view_permission(request) or "\x00" in thread_id:  # PostgreSQL stores no NUL: no such thread
            raise Http404
        filters = request.GET.get(CHANGELIST_FILTERS, "")
        requested = request.GET.get("page", "1")
        if not (requested.isascii() and requested.isdigit() and int(requested) > 0):
            raise Http404(_("No page %(page)r of this replay: pages are numbered from 1.") % {"page": requested})
        viewer = {"tenants": tenant_scope(user=request.user), "redaction": redaction_for(user=request.user)}
        try:
            replay = get_replay(thread_id=thread_id, page=int(requested), page_size=REPLAY_PAGE_SIZE, **viewer)
        except ThreadNotFound:
            raise Http404(_("No checkpoints for thread %(thread_id)r") % {"thread_id": thread_id}) from None
        except ThreadPruned as pruned:
            return self._pruned_replay(request, pruned, filters)
        except PageOutOfRange as error:  # a stale link after the thread shrank, or a mistyped page
            messages.warning(
                request,
                _("This replay has %(count)s pages; page %(page)s does not exist, here is the last one.")
                % {"count": error.last_page, "page": requested},
            )
            return HttpResponseRedirect(replay_url(thread_id=thread_id, page=error.last_page, changelist_filters=filters))
        context = dict(
            self.admin_site.each_context(request),
            opts=self.model._meta,
            title=_("Replay of %(thread_id)s") % {"thread_id": thread_id},
            thread_id=thread_id,
            replay=replay,
            conversation=replay.conversation,
            page=replay.page,
            totals=replay.totals,
            header=self._replay_header(request, replay.conversation),
            navigation=self._replay_navigation(request, replay, filters),
        )
        return TemplateResponse(request, "admin/replay/conversation/replay.html", context)

    def _pruned_replay(self, request: HttpRequest, pruned: ThreadPruned, filters: str) -> TemplateResponse:
        """410 Gone: what remains of a thread whose checkpoints retention deleted — its summary row."""
        context = dict(
            self.admin_site.each_context(request),
            opts=self.model._meta,
            title=_("Replay of %(thread_id)s") % {"thread_id": pruned.conversation.thread_id},
            thread_id=pruned.conversation.thread_id,
            conversation=pruned.conversation,
            message=pruned.message,
            header=self._replay_header(request, pruned.conversation),
            back_url=reverse("admin:replay_conversation_changelist") + (f"?{filters}" if filters else ""),
        )
        return TemplateResponse(request, "admin/replay/conversation/pruned.html", context, status=410)

    def _replay_header(self, request: HttpRequest, conversation: Conversation | None) -> dict:
        if conversation is None:
            return {}
        redaction = redaction_for(user=request.user)
        customer = customer_of(metadata=conversation.metadata)
        if redaction.masks:  # the row shown is masked: whether its customer id is personal data, the stored one says
            stored = Conversation.objects.filter(pk=conversation.pk).values_list("metadata", flat=True).first() or {}
            linkable = not customer_masked(customer_id=customer_of(metadata=stored), redaction=redaction)
        else:
            linkable = True
        return {
            "tenant": conversation.tenant,
            "channel": conversation.metadata.get("channel"),
            "customer": customer,
            "customer_url": customer_url(customer_id=customer) if customer and linkable else None,
            "metadata": sorted(conversation.metadata.items()),
        }

    def _replay_navigation(self, request: HttpRequest, replay, filters: str) -> dict:
        thread_id, page = replay.thread_id, replay.page

        def page_url(number: int, anchor: str = "") -> str:
            return replay_url(thread_id=thread_id, page=number, changelist_filters=filters, anchor=anchor)

        navigation = {
            "back_url": reverse("admin:replay_conversation_changelist") + (f"?{filters}" if filters else ""),
            "previous_page_url": page_url(page.page - 1) if page.has_previous else None,
            "next_page_url": page_url(page.page + 1) if page.has_next else None,
            "first_page_url": page_url(1) if page.page > 2 else None,
            "last_page_url": page_url(page.last_page) if page.page < page.last_page - 1 else None,
            "landmarks": [
                {"kind": landmark.kind, "label": LANDMARK_LABELS[landmark.kind], "step": landmark.step_index + 1,
                 "url": page_url(landmark.page, anchor=f"step-{landmark.step_index}")}
                for landmark in replay.landmarks
            ],
            "previous_conversation_url": None,
            "next_conversation_url": None,
        }
        changelist = self._filtered_list(request, filters) if replay.conversation is not None else None
        if changelist is not None:
            neighbours = list_neighbours(
                queryset=changelist.queryset, current=replay.conversation, unfiltered=self.get_queryset(request)
            )
            for side, row in (("previous", neighbours.previous), ("next", neighbours.next)):
                if row is not None:
                    navigation[f"{side}_conversation_url"] = replay_url(thread_id=row.thread_id, changelist_filters=filters)
        return navigation

    def customer_view(self, request: HttpRequest, customer_id: str) -> TemplateResponse:
        redaction = redaction_for(user=request.user)
        # a reader who sees personal data masked does not look customers up by it
        if not self.has_view_permission(request) or "\x00" in customer_id or (redaction.masks and holds_personal_data(customer_id)):
            raise Http404
        conversations = customer_conversations(customer_id=customer_id, tenants=tenant_scope(user=request.user))
        totals = customer_totals(conversations=conversations)
        if not totals.conversations:
            raise Http404(_("No conversations of customer %(customer)r") % {"customer": customer_id})
        paginator = Paginator(conversations, CUSTOMER_PAGE_SIZE)
        try:
            page = paginator.page(request.GET.get("page", "1"))
        except InvalidPage:
            raise Http404(_("No such page of this customer's conversations")) from None
        context = dict(
            self.admin_site.each_context(request),
            opts=self.model._meta,
            title=_("Customer %(customer)s") % {"customer": customer_id},
            customer_id=customer_id,
            totals=totals,
            page=page,
            rows=[
                {"conversation": redaction.conversation(row), "replay_url": replay_url(thread_id=row.thread_id)}
                for row in page.object_list
            ],
        )
        return TemplateResponse(request, "admin/replay/conversation/customer.html", context)


CUSTOMER_PAGE_SIZE = 50
LANDMARK_LABELS = {
    "error": _("First error"),
    "approval": _("First approval"),
    "escalation": _("First escalation"),
}


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
                error = _("thread: no checkpoints for thread %(thread_id)r") % {"thread_id": thread_id}
        context = dict(
            site.each_context(request),
            title=_("How your agent is read"),
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
    return DEFAULT_THREADS, _("threads: must be a whole number from 1 to %(max)s; got %(raw)r") % {
        "max": INSPECTION_MAX_THREADS, "raw": raw}


class TenantAccessInline(admin.TabularInline):
    """The tenants a user may see, on the user's page (the view_all_tenants permission grants every one)."""

    model = TenantAccess
    extra = 1
    verbose_name = _("tenant this user may see")
    verbose_name_plural = _("tenants this user may see (none: no conversations, unless the user may view all tenants)")


class UserWithTenantsAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, TenantAccessInline]


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserWithTenantsAdmin)
