"""The managers' dashboard in the admin: KPI cards, server-side SVG charts, drill-down links.

It reads only ``analytics.queries`` (through ``get_analytics``) and shapes the result for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from analytics.api import parse_analytics_query
from analytics.breakdowns import UsageBreakdown
from analytics.measures import MEASURES, Kind, Measure, measure
from analytics.models import EventType
from analytics.pricing import pending_reprice_calls
from analytics.queries import AnalyticsResult, agent_names, day_bounds, get_analytics
from analytics.sync_status import get_sync_status
from replay.tenants import tenant_scope
from smart_support.time_zones import time_zone

RANGE_CHOICES = (("7d", "Last 7 days"), ("30d", "Last 30 days"), ("90d", "Last 90 days"), ("custom", "Custom"))
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Kolkata",
                "Asia/Tokyo", "Australia/Sydney")
DEFINITIONS = {
    "conversations": "Conversations that started in the range.",
    "resolution_rate": "Share with a successful tool result (handoff and escalation tools excluded) and no escalation.",
    "escalation_rate": "Share with at least one escalation to a human.",
    "cost_per_conversation": "Total LLM cost of these conversations ÷ their number.",
    "total_cost": measure("cost_usd").definition,
    "tokens": f"{measure('input_tokens').definition} {measure('output_tokens').definition}",
    "cache_savings_usd": measure("cache_savings_usd").definition,
    "interrupts": "Human-approval requests by outcome; unanswered ones expire after the TTL.",
}


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def money(value: Decimal | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"


def count(value: int) -> str:
    return f"{value:,}"


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    definition: str
    url: str
    change: str = ""
    change_direction: str = ""  # up | down | ""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    url: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value: str
    url: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...] = ()
    lines: tuple[tuple[str, str, tuple[Point, ...]], ...] = ()  # (name, css class, points)
    axis_labels: tuple[tuple[float, str], ...] = ()
    max_label: str = ""
    horizontal: bool = False


class DrillDown:
    """URLs of the admin conversation list filtered to the conversations behind a number."""

    def __init__(self, result: AnalyticsResult) -> None:
        self.base = {"started_from": result.start.isoformat(), "started_to": result.end.isoformat(), "tz": result.tz}
        if result.agent:
            self.base["agent"] = result.agent
        self.changelist = reverse("admin:replay_conversation_changelist")

    def url(self, **filters: str) -> str:
        return f"{self.changelist}?{urlencode({**self.base, **filters})}"

    def day(self, day: date, **filters: str) -> str:
        return self.url(**{"started_from": day.isoformat(), "started_to": day.isoformat(), **filters})


def _change(current: float | Decimal | None, previous: float | Decimal | None, *, as_points: bool) -> tuple[str, str]:
    if current is None or previous is None:
        return "", ""
    delta = current - previous
    if as_points:
        text = f"{delta * 100:+.1f} pts"
    elif previous:
        text = f"{float(delta) / float(previous) * 100:+.0f} %"
    else:
        return "new", "up"
    return f"{text} vs previous period", ("up" if delta > 0 else "down" if delta < 0 else "")


def kpi_cards(result: AnalyticsResult, drill: DrillDown) -> list[Card]:
    previous = result.previous_period
    stats = result.interrupt_stats
    cards = [
        Card("conversations", "Conversations", count(result.conversations), DEFINITIONS["conversations"], drill.url(),
             *_change(result.conversations, previous.conversations, as_points=False)),
        Card("resolution_rate", "Resolution rate", percent(result.resolution_rate), DEFINITIONS["resolution_rate"],
             drill.url(resolved__exact="1"), *_change(result.resolution_rate, previous.resolution_rate, as_points=True)),
        Card("escalation_rate", "Escalation rate", percent(result.escalation_rate), DEFINITIONS["escalation_rate"],
             drill.url(escalated__exact="1"), *_change(result.escalation_rate, previous.escalation_rate, as_points=True)),
        Card("cost_per_conversation", "Cost per conversation", money(result.cost_per_conversation),
             DEFINITIONS["cost_per_conversation"], drill.url(),
             *_change(result.cost_per_conversation, previous.cost_per_conversation, as_points=False)),
        Card("total_cost", "Total cost", money(result.total_cost), DEFINITIONS["total_cost"], drill.url()),
        Card("tokens", "Tokens", f"{count(result.input_tokens)} in · {count(result.output_tokens)} out",
             DEFINITIONS["tokens"], drill.url()),
        Card("cache_savings_usd", "Caching saved", money(result.totals["cache_savings_usd"]),
             f"{DEFINITIONS['cache_savings_usd']} {count(result.totals['cache_read_tokens'])} input tokens read from "
             "the cache.", drill.url()),
        Card("interrupts", "Approval requests",
             f"{count(stats.total)} · {count(stats.approved)} approved · {count(stats.rejected)} rejected",
             DEFINITIONS["interrupts"], drill.url(approval="any")),
    ]
    return cards


@dataclass(frozen=True)
class MeasureRow:
    name: str
    label: str
    value: str
    definition: str


def measure_rows(result: AnalyticsResult) -> list[MeasureRow]:
    """Every measure of the registry summed over the range, formatted for its kind."""
    return [
        MeasureRow(item.name, item.label, _formatted(item, result.totals[item.name]), item.definition)
        for item in MEASURES
    ]


def _formatted(item: Measure, value: int | Decimal) -> str:
    if item.kind == Kind.USD:
        return money(value)
    if item.kind == Kind.FLAG:
        return f"{count(value)} conversations"
    return count(value)


CHART_WIDTH, CHART_HEIGHT, MARGIN = 640, 180, 24


def _column_chart(title: str, values: list[tuple[date, float, str, str]]) -> Chart:
    """Vertical bars, one per day: (day, value, value label, url)."""
    top = max((value for _, value, _, _ in values), default=0) or 1
    slot = (CHART_WIDTH - 2 * MARGIN) / max(len(values), 1)
    bars = tuple(
        Bar(
            x=MARGIN + index * slot + slot * 0.1, width=max(slot * 0.8, 1),
            height=(CHART_HEIGHT - 2 * MARGIN) * value / top, y=CHART_HEIGHT - MARGIN - (CHART_HEIGHT - 2 * MARGIN) * value / top,
            label=day.strftime("%b %d"), value=value_label, url=url,
        )
        for index, (day, value, value_label, url) in enumerate(values)
    )
    every = max(1, len(values) // 6)
    axis = tuple((bar.x + bar.width / 2, bar.label) for index, bar in enumerate(bars) if index % every == 0)
    highest = max(values, key=lambda item: item[1], default=None)
    return Chart(title=title, width=CHART_WIDTH, height=CHART_HEIGHT, bars=bars, axis_labels=axis,
                 max_label=highest[2] if highest else "")


def _rate_chart(result: AnalyticsResult, drill: DrillDown) -> Chart:
    slot = (CHART_WIDTH - 2 * MARGIN) / max(len(result.series), 1)
    lines = []
    for name, css, attribute, filters in (
        ("Resolution rate", "resolved", "resolved", {"resolved__exact": "1"}),
        ("Escalation rate", "escalated", "escalated", {"escalated__exact": "1"}),
    ):
        points = tuple(
            Point(
                x=MARGIN + index * slot + slot / 2,
                y=CHART_HEIGHT - MARGIN - (CHART_HEIGHT - 2 * MARGIN) * (getattr(point, attribute) / point.conversations),
                label=point.date.strftime("%b %d"),
                value=percent(getattr(point, attribute) / point.conversations),
                url=drill.day(point.date, **filters),
            )
            for index, point in enumerate(result.series)
            if point.conversations
        )
        lines.append((name, css, points))
    every = max(1, len(result.series) // 6)
    axis = tuple(
        (MARGIN + index * slot + slot / 2, point.date.strftime("%b %d"))
        for index, point in enumerate(result.series) if index % every == 0
    )
    return Chart(title="Resolution and escalation rate per day", width=CHART_WIDTH, height=CHART_HEIGHT,
                 lines=tuple(lines), axis_labels=axis, max_label="100 %")


def _bar_list(title: str, rows: list[tuple[str, float, str, str]]) -> Chart:
    """Horizontal bars: (label, value, value label, url)."""
    top = max((value for _, value, _, _ in rows), default=0) or 1
    row_height = 26
    bars = tuple(
        Bar(x=150, y=index * row_height + 4, width=max((CHART_WIDTH - 240) * value / top, 1 if value else 0),
            height=row_height - 8, label=label, value=value_label, url=url)
        for index, (label, value, value_label, url) in enumerate(rows)
    )
    return Chart(title=title, width=CHART_WIDTH, height=max(len(rows), 1) * row_height + 8, bars=bars, horizontal=True)


def charts(result: AnalyticsResult, drill: DrillDown) -> list[Chart]:
    series = result.series
    stats = result.interrupt_stats
    return [
        _column_chart("Conversations per day", [
            (point.date, point.conversations, count(point.conversations), drill.day(point.date)) for point in series
        ]),
        _rate_chart(result, drill),
        _column_chart("Cost per day", [(point.date, float(point.cost), money(point.cost), drill.day(point.date)) for point in series]),
        _bar_list("Agent usage (handoffs received)", [
            (usage.agent, usage.routings, f"{count(usage.routings)} · {percent(usage.share)}", drill.url(routed_to=usage.agent))
            for usage in result.agent_usage
        ]),
        _bar_list("Approval outcomes", [
            (label, value, count(value), drill.url(approval=key))
            for key, label, value in (
                ("approved", "Approved", stats.approved), ("rejected", "Rejected", stats.rejected),
                ("other", "Outcome unknown", stats.other), ("expired", "Expired", stats.expired),
                ("pending", "Awaiting approval", stats.pending),
            )
        ]),
    ]


def dashboard_view(site):
    def dashboard(request):
        if not request.user.has_perm("analytics.view_analyticsevent"):
            raise PermissionDenied
        errors: dict[str, list[str]] = {}
        params = {key: value for key, value in request.GET.items() if value and not (key == "range" and value == "custom")}
        try:
            query = parse_analytics_query(params)
        except ValidationError as error:
            errors = {key: [str(message) for message in messages] for key, messages in error.detail.items()}
            query = parse_analytics_query({"range": "30d"})
        tenants = tenant_scope(user=request.user)
        result = get_analytics(**query, tenants=tenants)
        drill = DrillDown(result)
        selected_range = request.GET.get("range") or ("custom" if request.GET.get("from") else "30d")
        sync = get_sync_status()
        context = dict(
            site.each_context(request),
            title="Analytics dashboard",
            result=result,
            cards=kpi_cards(result, drill),
            measure_rows=measure_rows(result),
            charts=charts(result, drill) if result.conversations else [],
            breakdown_tables=breakdown_tables(result, drill) if result.conversations else [],
            errors=errors,
            range_choices=RANGE_CHOICES,
            selected_range=selected_range,
            zones=COMMON_ZONES,
            agents=agent_names(tenants=tenants),
            price_add_url=reverse("admin:analytics_modelprice_add"),
            conversations_url=drill.url(),
            sync=sync,
            last_sync=sync.describe(now=timezone.now()),
            repricing_calls=pending_reprice_calls(),
        )
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)

    return dashboard


# -- breakdown tables: cost and tokens by model and by agent, latency by agent; each row leads to what
# is behind it (an agent: its conversations; a model: its LLM calls in the events admin)

USAGE_COLUMNS = ("Calls", "Input tokens", "Output tokens", "Cache read", "Cache write", "Reasoning", "Cost",
                 "Cache savings", "Unpriced calls")
LATENCY_COLUMNS = ("LLM p50", "LLM p95", "LLM calls", "Tool p50", "Tool p95", "Tool calls")


@dataclass(frozen=True)
class TableRow:
    name: str
    url: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    title: str
    first_column: str
    columns: tuple[str, ...]
    rows: tuple[TableRow, ...]
    note: str = ""


def milliseconds(value: int | None) -> str:
    return "–" if value is None else f"{value:,} ms"


def _usage_cells(row: UsageBreakdown) -> tuple[str, ...]:
    return (
        count(row.calls), count(row.input_tokens), count(row.output_tokens), count(row.cache_read_tokens),
        count(row.cache_write_tokens), count(row.reasoning_tokens), money(row.cost_usd), money(row.cache_savings_usd),
        count(row.unpriced_calls),
    )


def model_calls_url(result: AnalyticsResult, model: str) -> str:
    """The events admin: this model's LLM calls in the conversations that started in the range."""
    lower, upper = day_bounds(start=result.start, end=result.end, tz=time_zone(name=result.tz))
    query = {
        "event_type__exact": EventType.LLM_USAGE, "model": model,
        "conversation__started_at__gte": lower.isoformat(), "conversation__started_at__lt": upper.isoformat(),
    }
    return f"{reverse('admin:analytics_analyticsevent_changelist')}?{urlencode(query)}"


def breakdown_tables(result: AnalyticsResult, drill: DrillDown) -> list[Table]:
    def agent_url(agent: str) -> str:
        return drill.url(agent=agent) if agent else drill.url()

    return [
        Table("Cost and tokens by model", "Model", USAGE_COLUMNS, tuple(
            TableRow(row.name or "(not reported)", model_calls_url(result, row.name), _usage_cells(row)) for row in result.by_model
        )),
        Table("Cost and tokens by agent", "Agent", USAGE_COLUMNS, tuple(
            TableRow(row.name or "(no agent)", agent_url(row.name), _usage_cells(row)) for row in result.by_agent
        )),
        Table("Latency by agent (p50 / p95)", "Agent", LATENCY_COLUMNS, tuple(
            TableRow(row.agent or "(no agent)", agent_url(row.agent), (
                milliseconds(row.llm_p50_ms), milliseconds(row.llm_p95_ms), count(row.llm_calls),
                milliseconds(row.tool_p50_ms), milliseconds(row.tool_p95_ms), count(row.tool_calls),
            )) for row in result.latency
        ), note="Time between checkpoints; percentiles read within 1 % (exact up to 100 ms)."),
    ]
