"""HTTP API of the replay app: the conversation list and one conversation's replay."""

from __future__ import annotations

import dataclasses
from datetime import timezone
from urllib.parse import quote

import django_filters
from django import forms
from django.http import StreamingHttpResponse
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import BaseRenderer
from rest_framework.settings import api_settings
from rest_framework.request import Request
from rest_framework.response import Response

from replay.cursors import parse_cursor, position_fits
from replay.exports import CsvExportTooLarge, check_csv_export_size, conversation_csv_lines
from replay.models import Conversation, ConversationStatus
from replay.queries import search_conversations
from replay.customers import customer_conversations, customer_totals
from replay.redaction import holds_personal_data, redaction_for
from replay.services import PageOutOfRange, ThreadNotFound, ThreadPruned, get_replay
from replay.tenants import tenant_scope, visible_conversations
from replay.timeline import ReplayStep, StepType
from smart_support.api import (
    ApiInputChecks, FastJSONRenderer, PostgresDateTimeField, ViewModelPermission, WholeNumberField, ascii_whole_number,
    error_responses,
)

REPLAY_STEP_FIELDS = tuple(field.name for field in dataclasses.fields(ReplayStep))

CONVERSATION_ORDERINGS = ("last_activity_at", "started_at", "cost_usd", "step_count")
# One key: the cursor pagination positions pages on it (ties broken by id), so a list of keys has no place.
ORDERING_CHOICES = tuple(key for field in CONVERSATION_ORDERINGS for key in (field, f"-{field}"))
ISO_DATETIME_ERROR = (
    "must be an ISO 8601 date or date-time such as 2026-11-01 or 2026-11-01T08:00:00+01:00 (ASCII digits, "
    "UTC offset within ±15:59)"
)
BAD_CURSOR_ERROR = "is not a cursor this API gave out; follow the next/previous links"


def replay_path(*, thread_id: str) -> str:
    """The replay endpoint's path for a thread, the id as one percent-encoded path segment
    (reverse() leaves '/' as is, so 'a/b' would read as two segments to anything but this app)."""
    return reverse("replay-detail", kwargs={"thread_id": "-"}).removesuffix("-") + quote(thread_id, safe="")


# -- conversations ---------------------------------------------------------------------------------

class ConversationSerializer(serializers.ModelSerializer):
    replay_url = serializers.SerializerMethodField(help_text="URL of this conversation's replay.")
    has_interrupt = serializers.BooleanField(read_only=True, help_text="At least one approval interrupt.")

    class Meta:
        model = Conversation
        fields = (
            "thread_id", "status", "started_at", "last_activity_at", "metadata", "agents_used",
            *Conversation.measure_names(), "has_interrupt", "unpriced_models", "summarised", "first_message",
            "last_checkpoint_id", "replay_url",
        )

    def get_replay_url(self, conversation: Conversation) -> str:
        path = replay_path(thread_id=conversation.thread_id)
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class StrictBooleanField(forms.Field):
    """``true``/``false`` (or 1/0, yes/no); anything else is an error, not silently ignored."""

    def to_python(self, value: str | None) -> bool | None:
        if value in (None, ""):
            return None
        word = str(value).strip().lower()
        if word in {"true", "1", "yes"}:
            return True
        if word in {"false", "0", "no"}:
            return False
        # django-filter %-formats the message: the value goes in as a parameter ('%s' in it is no placeholder)
        raise forms.ValidationError(_("must be true or false; got %(value)r"), code="invalid", params={"value": value})


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class PostgresDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = PostgresDateTimeField


class ConversationFilter(django_filters.FilterSet):
    started_after = PostgresDateTimeFilter(
        field_name="started_at", lookup_expr="gte", help_text="Started at or after (ISO 8601).",
        error_messages={"invalid": ISO_DATETIME_ERROR},
    )
    started_before = PostgresDateTimeFilter(
        field_name="started_at", lookup_expr="lt", help_text="Started before (ISO 8601).",
        error_messages={"invalid": ISO_DATETIME_ERROR},
    )
    status = django_filters.ChoiceFilter(
        choices=ConversationStatus.choices,
        error_messages={"invalid_choice": f"must be one of {', '.join(ConversationStatus.values)}; got %(value)r"},
    )
    agent = django_filters.CharFilter(method="filter_agent", help_text="An agent that took part.")
    escalated = StrictBooleanFilter(help_text="Escalated to a human (true/false).")
    resolved = StrictBooleanFilter(help_text="Resolved by the agent (true/false).")
    has_interrupt = StrictBooleanFilter(method="filter_has_interrupt", help_text="Had an approval interrupt.")
    search = django_filters.CharFilter(
        method="filter_search",
        help_text=_(
            "A thread id prefix, or terms searched in every message (the customer's and the agents'), tool argument, "
            "tool result and metadata value of a conversation: ids whole (ORD-61744, cus_870879), by their parts "
            "(61744, example.org) or by their start (ORD-617), words by their start ('refund' finds 'refunds'); every "
            "term must match, case aside. Not from inside a run of letters or digits ('1744' does not find "
            "ORD-61744). For readers who see personal data masked, personal data and its fragments find nothing."
        ),
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(key, key) for key in ORDERING_CHOICES],
        method="filter_ordering",
        help_text="One sort key, '-' for descending; default -last_activity_at. Ties are ordered by id.",
        error_messages={
            "invalid_choice": f"must be one of {', '.join(CONVERSATION_ORDERINGS)}, optionally with a leading '-' "
            "(one key, not a list); got %(value)r"
        },
    )

    class Meta:
        model = Conversation
        fields: list[str] = []

    def filter_agent(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(agents_used__contains=[value])

    def filter_has_interrupt(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(interrupt_count__gt=0) if value else queryset.filter(interrupt_count=0)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return search_conversations(queryset, value, redaction=redaction_for(user=self.request.user))

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.order_by(*conversation_ordering(key=value))

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        metadata = {
            key.removeprefix("metadata."): value
            for key, value in self.data.items()
            if key.startswith("metadata.") and key != "metadata."
        }
        if not metadata:
            return queryset
        if redaction_for(user=self.request.user).masks and any(holds_personal_data(value) for value in metadata.values()):
            # a reader who sees personal data masked finds nobody by it, as in the search
            return queryset.none()
        return queryset.filter(metadata__contains=metadata)


class ConversationCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = "-last_activity_at"

    def get_page_size(self, request: Request) -> int:
        return validated_page_size(request, default=self.page_size, maximum=self.max_page_size)

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        cursor = parse_cursor(encoded=encoded, offset_cutoff=self.offset_cutoff)
        # The position is compared with the ordering column: a forged one must fail here, not in the query.
        column = Conversation._meta.get_field(self.ordering[0].lstrip("-"))
        if cursor is None or not position_fits(field=column, position=cursor.position):
            raise ValidationError({"cursor": [BAD_CURSOR_ERROR]})
        return cursor

    def check_parameters(self, request: Request) -> None:
        """400 for a malformed page_size or cursor even where no page is cut (the CSV export)."""
        self.get_page_size(request)
        self.ordering = self.get_ordering(request, Conversation.objects.none(), None)
        self.decode_cursor(request)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size}
                parameter["description"] = f"Conversations per page (1-{self.max_page_size})."
        return parameters

    def get_ordering(self, request: Request, queryset: QuerySet, view) -> tuple[str, ...]:
        # ConversationFilter has refused any other value before the page is cut.
        return conversation_ordering(key=request.query_params.get("ordering") or self.ordering)


def conversation_ordering(*, key: str) -> tuple[str, str]:
    return (key, "-id" if key.startswith("-") else "id")


def validated_page_size(request: Request, *, default: int, maximum: int) -> int:
    raw = request.query_params.get("page_size")
    if not raw:  # blank is unset, as for every parameter
        return default
    size = ascii_whole_number(text=raw)
    if size is None or not 1 <= size <= maximum:
        raise ValidationError({"page_size": [
            _("must be a whole number from 1 to %(maximum)s (ASCII digits); got %(raw)r") % {"maximum": maximum, "raw": raw}
        ]})
    return size


class ConversationCSVRenderer(BaseRenderer):
    """``?format=csv``: the filtered conversation list as CSV (the view streams it)."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ConversationViewSet(ApiInputChecks, viewsets.GenericViewSet):
    """Conversations summarised from checkpoints, newest activity first; ``?format=csv`` exports them."""

    queryset = Conversation.objects.all()
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    pagination_class = ConversationCursorPagination
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, ConversationCSVRenderer]
    permission_classes = [ViewModelPermission]

    def get_queryset(self) -> QuerySet[Conversation]:
        return visible_conversations(user=self.request.user)

    def handle_exception(self, exc: Exception) -> Response:
        if getattr(getattr(self.request, "accepted_renderer", None), "format", None) == "csv":
            # errors are JSON whatever format was asked for
            self.request.accepted_renderer, self.request.accepted_media_type = FastJSONRenderer(), "application/json"
        return super().handle_exception(exc)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "metadata.<key>",
                OpenApiTypes.STR,
                description="Match a key of the thread's config metadata exactly, e.g. metadata.tenant=acme-eu.",
            ),
        ],
        responses={
            (200, "application/json"): ConversationSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="With ?format=csv: every match, one per line."),
            **error_responses(),
        },
    )
    def list(self, request: Request) -> Response:
        conversations = self.filter_queryset(self.get_queryset())
        redaction = redaction_for(user=request.user)
        if request.accepted_renderer.format == "csv":
            # every conversation the filters select, streamed, not one page
            self.paginator.check_parameters(request)
            try:
                check_csv_export_size(conversations=conversations)
            except CsvExportTooLarge as error:
                raise ValidationError({"format": [
                    f"a CSV export holds at most {error.limit:,} conversations and these filters match more; "
                    "narrow them (started_after, started_before, status, agent, search, metadata.<key>) "
                    "or page through the JSON list"
                ]}) from None
            rows = (redaction.conversation(row) for row in conversations.iterator(chunk_size=2000))
            response = StreamingHttpResponse(conversation_csv_lines(rows), content_type="text/csv")
            response["Content-Disposition"] = 'attachment; filename="conversations.csv"'
            return response
        page = [redaction.conversation(row) for row in self.paginate_queryset(conversations)]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


# -- replay ----------------------------------------------------------------------------------------

class ReplayQuerySerializer(serializers.Serializer):
    page = WholeNumberField(min_value=1, default=1, help_text="1-based page number.")
    page_size = WholeNumberField(min_value=1, max_value=500, default=50, help_text="Steps per page (1-500).")


class ReplayStepSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position in the whole timeline, from 0.")
    type = serializers.ChoiceField(choices=[(step.value, step.value) for step in StepType])
    timestamp = serializers.DateTimeField(help_text="When it happened (checkpoint time).")
    checkpoint_id = serializers.CharField(help_text="The checkpoint that first holds this step.")
    checkpoint_ns = serializers.CharField(allow_blank=True, help_text="'' for the root graph, else the subgraph.")
    agent = serializers.CharField(allow_null=True, help_text="Agent that acted; for a handoff, the receiving agent.")
    content = serializers.CharField(allow_null=True, help_text="Message text, tool output, question or reason.")
    tool_name = serializers.CharField(allow_null=True)
    tool_call_id = serializers.CharField(allow_null=True)
    tool_args = serializers.JSONField(allow_null=True)
    status = serializers.CharField(
        allow_null=True,
        help_text="success/error (tool result), pending/expired/resolved (interrupt), approved/rejected/resolved (resolution).",
    )
    model = serializers.CharField(allow_null=True, help_text="LLM that produced this step.")
    input_tokens = serializers.IntegerField(allow_null=True, help_text="On the first step of each LLM call only.")
    output_tokens = serializers.IntegerField(allow_null=True)
    cache_read_tokens = serializers.IntegerField(allow_null=True, help_text="Of input_tokens, read from the provider's cache.")
    cache_write_tokens = serializers.IntegerField(allow_null=True, help_text="Of input_tokens, written to the provider's cache.")
    reasoning_tokens = serializers.IntegerField(allow_null=True, help_text="Of output_tokens, spent on reasoning.")
    cost_usd = serializers.DecimalField(
        max_digits=16, decimal_places=8, allow_null=True, help_text="null when the model has no price."
    )
    cache_savings_usd = serializers.DecimalField(
        max_digits=16, decimal_places=8, allow_null=True,
        help_text="What the cached input saved against the plain input price (negative when cache writes cost more).",
    )
    latency_ms = serializers.IntegerField(allow_null=True, help_text="Time since the previous step.")
    details = serializers.JSONField(help_text="interrupt_id, value, reviewer, reason, wait_ms, from_agent …")

    def to_representation(self, step: ReplayStep) -> dict:
        # The fields above document the shape; building it directly is several times faster than DRF's
        # field-by-field path, which matters on 500-step pages (see bench/replay.py).
        data = {name: getattr(step, name) for name in REPLAY_STEP_FIELDS}
        data["type"] = step.type.value
        data["timestamp"] = step.timestamp.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        data["cost_usd"] = None if step.cost_usd is None else f"{step.cost_usd:.8f}"
        data["cache_savings_usd"] = None if step.cache_savings_usd is None else f"{step.cache_savings_usd:.8f}"
        return data


class ReplayPageSerializer(serializers.Serializer):
    thread_id = serializers.CharField()
    conversation = ConversationSerializer(allow_null=True, help_text="The summary row, once derived.")
    total_steps = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    next = serializers.URLField(allow_null=True)
    steps = ReplayStepSerializer(many=True)


class PrunedReplaySerializer(serializers.Serializer):
    """410 Gone: the thread's checkpoints were deleted by retention; its analytics remain."""

    thread_id = serializers.CharField()
    detail = serializers.CharField(help_text="That the checkpoints were pruned, when, and that the analytics remain.")
    checkpoints_pruned_at = serializers.DateTimeField(help_text="When prune_checkpoints deleted the checkpoints.")
    conversation = ConversationSerializer(help_text="The conversation's summary row, as derived before pruning.")


class ReplayViewSet(ApiInputChecks, viewsets.GenericViewSet):
    """Every step one conversation took, in order, built from its checkpoints."""

    queryset = Conversation.objects.all()
    lookup_field = "thread_id"
    # Any thread id, '/' included: WSGI servers decode %2F before routing.
    lookup_value_regex = "[\\s\\S]+"
    permission_classes = [ViewModelPermission]
    serializer_class = ReplayPageSerializer
    filter_backends: list = []

    @extend_schema(
        parameters=[
            ReplayQuerySerializer,
            OpenApiParameter(
                "thread_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                description="The LangGraph thread id, URL-encoded ('/' as %2F); any length and character.",
            ),
        ],
        responses={
            200: ReplayPageSerializer,
            (410, "application/json"): PrunedReplaySerializer,
            **error_responses(not_found="No checkpoints for this thread, or a page past the last one."),
        },
    )
    def retrieve(self, request: Request, thread_id: str) -> Response:
        query = ReplayQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise ValidationError(_explain_query_errors(query.errors))
        page, page_size = query.validated_data["page"], query.validated_data["page_size"]
        try:
            replay = get_replay(
                thread_id=thread_id, page=page, page_size=page_size,
                tenants=tenant_scope(user=request.user), redaction=redaction_for(user=request.user),
            )
        except ThreadNotFound:
            raise NotFound(_("no checkpoints for thread %(thread_id)r") % {"thread_id": thread_id}) from None
        except ThreadPruned as pruned:
            payload = {
                "thread_id": thread_id, "detail": pruned.message, "checkpoints_pruned_at": pruned.pruned_at,
                "conversation": pruned.conversation,
            }
            return Response(PrunedReplaySerializer(payload, context={"request": request}).data, status=410)
        except PageOutOfRange as error:
            raise NotFound({"page": [
                _("must be at most %(last)s, the last page; got %(page)s") % {"last": error.last_page, "page": page}
            ]}) from None
        next_url = None
        if replay.page.has_next:
            next_url = request.build_absolute_uri(f"{replay_path(thread_id=thread_id)}?page={page + 1}&page_size={page_size}")
        payload = {
            "thread_id": thread_id,
            "conversation": replay.conversation,
            "total_steps": replay.page.total_steps,
            "page": page,
            "page_size": page_size,
            "has_next": replay.page.has_next,
            "next": next_url,
            "steps": replay.page.steps,
        }
        return Response(ReplayPageSerializer(payload, context={"request": request}).data)


def _explain_query_errors(errors: dict) -> dict:
    accepted = {"page": "a whole number of at least 1", "page_size": "a whole number from 1 to 500"}
    return {field: [f"must be {accepted.get(field, 'valid')}; {' '.join(map(str, messages))}"] for field, messages in errors.items()}


# -- customers -------------------------------------------------------------------------------------

class CustomerTotalsSerializer(serializers.Serializer):
    conversations = serializers.IntegerField(help_text="Conversations of this customer you may see.")
    resolved = serializers.IntegerField(help_text="Of them, resolved by the agent.")
    escalated = serializers.IntegerField(help_text="Of them, escalated to a human.")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    tokens = serializers.IntegerField(help_text="Input plus output tokens.")
    cost_usd = serializers.DecimalField(max_digits=18, decimal_places=8)


class CustomerPageSerializer(serializers.Serializer):
    customer_id = serializers.CharField()
    totals = CustomerTotalsSerializer(help_text="Over every conversation of the customer, not only this page.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ConversationSerializer(many=True)


class CustomerConversationPagination(ConversationCursorPagination):
    def get_ordering(self, request: Request, queryset: QuerySet, view) -> tuple[str, ...]:
        return conversation_ordering(key=ConversationCursorPagination.ordering)  # no ordering parameter here


class CustomerViewSet(ApiInputChecks, viewsets.GenericViewSet):
    """Every conversation of one customer (the metadata key ``SMART_SUPPORT_CUSTOMER_KEY``), newest
    activity first, with their totals; only the tenants the reader may see."""

    queryset = Conversation.objects.all()
    lookup_field = "customer_id"
    lookup_value_regex = "[\\s\\S]+"
    permission_classes = [ViewModelPermission]
    serializer_class = ConversationSerializer
    pagination_class = CustomerConversationPagination
    filter_backends: list = []

    @extend_schema(
        parameters=[OpenApiParameter("customer_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The customer id, URL-encoded.")],
        responses={200: CustomerPageSerializer, **error_responses(not_found="No conversation of this customer that you may see.")},
    )
    def retrieve(self, request: Request, customer_id: str) -> Response:
        redaction = redaction_for(user=request.user)
        if redaction.masks and holds_personal_data(customer_id):  # as a search by it: it would tell who holds it
            raise NotFound(f"no conversations of customer {customer_id!r}")
        conversations = customer_conversations(customer_id=customer_id, tenants=tenant_scope(user=request.user))
        totals = customer_totals(conversations=conversations)
        if not totals.conversations:
            raise NotFound(f"no conversations of customer {customer_id!r}")
        page = [redaction.conversation(row) for row in self.paginate_queryset(conversations)]
        listed = self.get_paginated_response(self.get_serializer(page, many=True).data).data
        return Response({"customer_id": customer_id, "totals": CustomerTotalsSerializer(totals).data, **listed})
