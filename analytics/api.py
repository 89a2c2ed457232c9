"""HTTP API of the analytics app: the five metrics over a date range."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.measures import MEASURES
from analytics.models import AnalyticsEvent
from analytics.queries import AnalyticsResult, get_analytics
from replay.tenants import tenant_scope
from smart_support.api import ApiInputChecks, AsciiDateField, FieldsBuiltOnceSerializer, ViewModelPermission, error_responses
from smart_support.time_zones import UnknownTimeZone, time_zone

RANGE_PATTERN = re.compile(r"([0-9]{1,4})d")
MAX_RANGE_DAYS = 365
DEFAULT_RANGE = "30d"
DATE_ERROR = gettext_lazy("must be a date like 2026-11-01")
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2999, 12, 31)


class AnalyticsQuerySerializer(serializers.Serializer):
    range = serializers.CharField(required=False, help_text="Last N days including today, N from 1 to 365: 7d, 30d …")
    from_ = AsciiDateField(
        required=False, help_text="First day (YYYY-MM-DD), with `to`.", error_messages={"invalid": DATE_ERROR}
    )
    to = AsciiDateField(
        required=False, help_text="Last day, inclusive (YYYY-MM-DD), with `from`.", error_messages={"invalid": DATE_ERROR}
    )
    tz = serializers.CharField(required=False, help_text="IANA time zone for day boundaries; default TIME_ZONE.")
    agent = serializers.CharField(required=False, help_text="Only conversations this agent took part in.")

    def validate_tz(self, value: str) -> ZoneInfo:
        try:
            return time_zone(name=value)
        except UnknownTimeZone:
            raise serializers.ValidationError(
                gettext(
                    "must be an IANA time zone PostgreSQL knows, such as UTC, Europe/Berlin or America/New_York; "
                    "got %(value)r"
                ) % {"value": value}
            ) from None

    def validate(self, data: dict) -> dict:
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        start, end = data.get("from"), data.get("to")
        if "range" in data and (start or end):
            raise ValidationError({"range": [gettext("give either range or from and to, not both")]})
        if (start is None) != (end is None):
            missing = "to" if end is None else "from"
            raise ValidationError({missing: [gettext("is required together with %(other)s") % {
                "other": "from" if missing == "to" else "to"}]})
        if start is None:
            days = self._range_days(data.get("range", DEFAULT_RANGE))
            end = datetime.now(tz).date()
            start = end - timedelta(days=days - 1)
        elif start > end:
            raise ValidationError({"from": [gettext("must be on or before to (%(end)s); got %(start)s") % {"end": end, "start": start}]})
        elif not (EARLIEST_DATE <= start and end <= LATEST_DATE):
            raise ValidationError({"from": [gettext("from and to must lie between %(earliest)s and %(latest)s") % {
                "earliest": EARLIEST_DATE, "latest": LATEST_DATE}]})
        elif (end - start).days + 1 > MAX_RANGE_DAYS + 1:
            raise ValidationError({"to": [gettext("from and to may span at most %(most)s days; got %(days)s") % {
                "most": MAX_RANGE_DAYS + 1, "days": (end - start).days + 1}]})
        return {"start": start, "end": end, "tz": tz, "agent": data.get("agent") or None}

    def _range_days(self, value: str) -> int:
        match = RANGE_PATTERN.fullmatch(value)
        if not match or not 1 <= int(match.group(1)) <= MAX_RANGE_DAYS:
            raise ValidationError(
                {"range": [gettext("must be a number of days from 1d to %(most)sd, such as 7d or 30d; got %(value)r") % {
                    "most": MAX_RANGE_DAYS, "value": value}]}
            )
        return int(match.group(1))


# "from" is a Python keyword: declare the field as from_ and publish it under its real name.
AnalyticsQuerySerializer._declared_fields["from"] = AnalyticsQuerySerializer._declared_fields.pop("from_")


class AgentUsageSerializer(serializers.Serializer):
    agent = serializers.CharField()
    routings = serializers.IntegerField(help_text="Handoffs to this agent.")
    share = serializers.FloatField(help_text="routings ÷ all handoffs of the population.")


class InterruptStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    other = serializers.IntegerField(help_text="Resolved with no approve/reject outcome stored.")
    expired = serializers.IntegerField(help_text="Unresolved and older than INTERRUPT_TTL.")
    pending = serializers.IntegerField(help_text="Unresolved, not yet expired.")


class DailyPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    conversations = serializers.IntegerField()
    resolved = serializers.IntegerField()
    escalated = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=8)


class PeriodHeadlineSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    resolution_rate = serializers.FloatField(allow_null=True)
    escalation_rate = serializers.FloatField(allow_null=True)
    cost_per_conversation = serializers.DecimalField(max_digits=16, decimal_places=8, allow_null=True)


class RangeSerializer(serializers.Serializer):
    from_ = AsciiDateField(source="start")
    to = serializers.DateField(source="end")
    tz = serializers.CharField()


RangeSerializer._declared_fields["from"] = RangeSerializer._declared_fields.pop("from_")


class TokensSerializer(serializers.Serializer):
    input = serializers.IntegerField(source="input_tokens")
    output = serializers.IntegerField(source="output_tokens")
    cache_read = serializers.IntegerField(source="totals.measures.cache_read_tokens", help_text="Of input, read from the provider's cache.")
    cache_write = serializers.IntegerField(source="totals.measures.cache_write_tokens", help_text="Of input, written to the provider's cache.")
    reasoning = serializers.IntegerField(source="totals.measures.reasoning_tokens", help_text="Of output, spent on reasoning.")


# Every measure of the registry, summed over the population: one field each, named and documented by it.
MeasureTotalsSerializer = type(
    "MeasureTotalsSerializer", (serializers.Serializer,), {measure.name: measure.serializer_field() for measure in MEASURES}
)


class UsageSumsSerializer(serializers.Serializer):
    calls = serializers.IntegerField(help_text="LLM calls.")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField(help_text="Input tokens read from the provider's cache (inside input_tokens).")
    cache_write_tokens = serializers.IntegerField(help_text="Input tokens written to the provider's cache (inside input_tokens).")
    reasoning_tokens = serializers.IntegerField(help_text="Output tokens spent on reasoning (inside output_tokens).")
    cost_usd = serializers.DecimalField(max_digits=18, decimal_places=8, help_text="Cost of the priced calls.")
    cache_savings_usd = serializers.DecimalField(
        max_digits=18, decimal_places=8, help_text="What cached input saved against the plain input price (priced calls)."
    )
    unpriced_calls = serializers.IntegerField(help_text="Calls of a model with no price: counted in tokens, not in cost.")


class ModelUsageSerializer(UsageSumsSerializer):
    model = serializers.CharField(source="name", help_text="As the provider reported it; empty when it named none.")


class AgentCostSerializer(UsageSumsSerializer):
    agent = serializers.CharField(source="name", help_text="The agent that made the calls; empty when none is known.")


class AgentLatencySerializer(serializers.Serializer):
    agent = serializers.CharField(help_text="The agent that made the LLM calls and called the tools.")
    llm_p50_ms = serializers.IntegerField(allow_null=True, help_text="Median LLM call, ms (null with no measured call).")
    llm_p95_ms = serializers.IntegerField(allow_null=True, help_text="95th percentile LLM call, ms.")
    llm_calls = serializers.IntegerField(help_text="LLM calls whose latency is known.")
    tool_p50_ms = serializers.IntegerField(allow_null=True, help_text="Median tool call, ms (null with no measured call).")
    tool_p95_ms = serializers.IntegerField(allow_null=True, help_text="95th percentile tool call, ms.")
    tool_calls = serializers.IntegerField(help_text="Tool results whose latency is known.")


LATENCY_HELP = (
    "LLM and tool latency percentiles per agent, at checkpoint granularity: an LLM call takes from the step "
    "before it to its reply, a tool from its call (or the approval that let it run) to its result. "
    "Nearest-rank percentiles read from a histogram: within 1 % of the exact value, exact up to 100 ms."
)


@extend_schema_serializer(many=False)  # the list action answers one object, not an array
class AnalyticsResultSerializer(FieldsBuiltOnceSerializer):
    range = RangeSerializer(source="*")
    agent = serializers.CharField(allow_null=True)
    conversations = serializers.IntegerField(help_text="Conversations started in the range (the population).")
    resolution_rate = serializers.FloatField(
        allow_null=True, help_text="Share with a successful tool result (not handoff/escalation) and no escalation."
    )
    escalation_rate = serializers.FloatField(allow_null=True, help_text="Share with at least one escalation.")
    cost_per_conversation = serializers.DecimalField(max_digits=16, decimal_places=8, allow_null=True)
    total_cost = serializers.DecimalField(max_digits=16, decimal_places=8)
    tokens = TokensSerializer(source="*")
    unpriced_models = serializers.ListField(child=serializers.CharField(), help_text="Models whose tokens have no price.")
    totals = MeasureTotalsSerializer(
        source="totals.measures", help_text="Every per-conversation measure summed over the population (flags: how many hold)."
    )
    agent_usage = AgentUsageSerializer(many=True)
    interrupt_stats = InterruptStatsSerializer()
    series = DailyPointSerializer(many=True)
    previous_period = PeriodHeadlineSerializer()
    by_model = ModelUsageSerializer(many=True, help_text="The population's LLM calls by model, costliest first.")
    by_agent = AgentCostSerializer(many=True, help_text="The population's LLM calls by the agent that made them, costliest first.")
    latency = AgentLatencySerializer(many=True, help_text=LATENCY_HELP)


class AnalyticsViewSet(ApiInputChecks, viewsets.GenericViewSet):
    """Resolution, escalation, agent usage, cost and approval figures over a date range."""

    queryset = AnalyticsEvent.objects.none()
    permission_classes = [ViewModelPermission]
    serializer_class = AnalyticsResultSerializer
    filter_backends: list = []
    pagination_class = None

    @extend_schema(parameters=[AnalyticsQuerySerializer], responses={200: AnalyticsResultSerializer, **error_responses()})
    def list(self, request: Request) -> Response:
        query = AnalyticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result: AnalyticsResult = get_analytics(**query.validated_data, tenants=tenant_scope(user=request.user))
        return Response(AnalyticsResultSerializer(result).data)


def parse_analytics_query(params) -> dict[str, date | ZoneInfo | str | None]:
    """The same parameters for the admin dashboard: validated ``start``, ``end``, ``tz``, ``agent``."""
    query = AnalyticsQuerySerializer(data=params)
    query.is_valid(raise_exception=True)
    return query.validated_data
