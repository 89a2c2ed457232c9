"""The managers' dashboard in the admin: KPI cards, server-side SVG charts, drill-down links.

It reads only ``analytics.queries`` (through ``get_analytics``) and shapes the result for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext
from rest_framework.exceptions import ValidationError

from analytics.api import parse_analytics_query
from analytics.breakdowns import UsageBreakdown
from analytics.dashboard_links import (
    DrillDown,
    DrillLink,
    approval_requests_text,
    conversations_text,
    count,
    money,
    percent,
)
from analytics.measures import MEASURES, Kind, Measure, measure
from analytics.models import EventType
from analytics.period_change import Better, PeriodChange, period_change
from analytics.pricing import pending_reprice_calls
from analytics.queries import (
    AgentConversations,
    AnalyticsResult,
    agent_names,
    get_analytics,
)
from analytics.sync_status import get_sync_status
from replay.tenants import tenant_scope
from smart_support.time_zones import remember_time_zone

RANGE_CHOICES = (("7d", gettext_lazy("Last 7 days")), ("30d", gettext_lazy("Last 30 days")),
                 ("90d", gettext_lazy("Last 90 days")), ("custom", gettext_lazy("Custom")))
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Kolkata",
                "Asia/Tokyo", "Australia/Sydney")
DEFINITIONS = {
    "conversations": gettext_lazy("Conversations that started in the range."),
    "resolution_rate": gettext_lazy(
        "Share with a successful tool result (handoff and escalation tools excluded) and no escalation."
    ),
    "escalation_rate": gettext_lazy("Share with at least one escalation to a human."),
    "cost_per_conversation": gettext_lazy("Total LLM cost of these conversations ÷ their number."),
    "total_cost": measure("cost_usd").definition,
    # lazy: the definitions are translated into each request's language, not the first one's
    "tokens": format_lazy("{} {}", measure("input_tokens").definition, measure("output_tokens").definition),
    "cache_savings_usd": measure("cache_savings_usd").definition,
    "interrupts": gettext_lazy("Human-approval requests by outcome; unanswered ones expire after the TTL."),
}
# What each card's number counts, said on the card: a conversation may hold several approval requests.
COUNTS = {
    "conversations": gettext_lazy("Counts conversations."),
    "interrupts": gettext_lazy("Counts approval requests, not conversations: one conversation may have several."),
}


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    definition: str
    links: tuple[DrillLink, ...] = ()
    change: PeriodChange | None = None
    counts: str = ""  # what the number counts, when a reader could take it for conversations
    detail: str = ""


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
    note: str = ""


def _change(result: AnalyticsResult, *, current, previous, better: Better, as_points: bool, shown) -> PeriodChange:
    return period_change(
        current=current, previous=previous, current_conversations=result.conversations,
        previous_conversations=result.previous_period.conversations, better=better, as_points=as_points,
        previous_shown=shown(previous),
    )


def kpi_cards(result: AnalyticsResult, drill: DrillDown, *, now: datetime) -> list[Card]:
    previous = result.previous_period
    stats = result.interrupt_stats
    every = DrillLink(conversations_text(result.conversations, "over"), drill.url())
    cards = [
        Card("conversations", pgettext("count", "Conversations"), count(result.conversations), DEFINITIONS["conversations"],
             (DrillLink(conversations_text(result.conversations, "open"), drill.url()),),
             _change(result, current=result.conversations, previous=previous.conversations, better=Better.EITHER,
                     as_points=False, shown=count)),
        Card("resolution_rate", gettext("Resolution rate"), percent(result.resolution_rate), DEFINITIONS["resolution_rate"],
             (DrillLink(conversations_text(result.resolved, "resolved"), drill.url(resolved__exact="1")),),
             _change(result, current=result.resolution_rate, previous=previous.resolution_rate, better=Better.HIGHER,
                     as_points=True, shown=percent)),
        Card("escalation_rate", gettext("Escalation rate"), percent(result.escalation_rate), DEFINITIONS["escalation_rate"],
             (DrillLink(conversations_text(result.escalated, "escalated"), drill.url(escalated__exact="1")),),
             _change(result, current=result.escalation_rate, previous=previous.escalation_rate, better=Better.LOWER,
                     as_points=True, shown=percent)),
        Card("cost_per_conversation", gettext("Cost per conversation"), money(result.cost_per_conversation),
             DEFINITIONS["cost_per_conversation"], (every,),
             _change(result, current=result.cost_per_conversation, previous=previous.cost_per_conversation,
                     better=Better.LOWER, as_points=False, shown=money)),
        Card("total_cost", gettext("Total cost"), money(result.total_cost), DEFINITIONS["total_cost"], (every,)),
        Card("tokens", gettext("Tokens"), gettext("%(input)s in · %(output)s out") % {
                 "input": count(result.input_tokens), "output": count(result.output_tokens)},
             DEFINITIONS["tokens"], (every,)),
        Card("cache_savings_usd", gettext("Caching saved"), money(result.totals["cache_savings_usd"]),
             "{} {}".format(DEFINITIONS["cache_savings_usd"], ngettext(
                 "%(count)s input token read from the cache.", "%(count)s input tokens read from the cache.",
                 result.totals["cache_read_tokens"]) % {"count": count(result.totals["cache_read_tokens"])}),
             (every,)),
        Card("interrupts", pgettext("dashboard card", "Approval requests"), count(stats.total), DEFINITIONS["interrupts"],
             (DrillLink(gettext("open these %(requests)s") % {"requests": approval_requests_text(stats.total)},
                        drill.approval_requests(now=now)),),
             counts=COUNTS["interrupts"],
             detail=gettext("%(approved)s approved · %(rejected)s rejected") % {
                 "approved": count(stats.approved), "rejected": count(stats.rejected)}),
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
        return ngettext("%(count)s conversation", "%(count)s conversations", value) % {"count": count(value)}
    return count(value)


CHART_WIDTH, CHART_HEIGHT, MARGIN = 640, 180, 24


def _day(day: date) -> str:
    """A chart's day as the reader's language writes it short ("Nov 05", "11月5日")."""
    return date_format(day, gettext("M d"))


def _column_chart(title: str, values: list[tuple[date, float, str, str]]) -> Chart:
    """Vertical bars, one per day: (day, value, value label, url)."""
    top = max((value for _, value, _, _ in values), default=0) or 1
    slot = (CHART_WIDTH - 2 * MARGIN) / max(len(values), 1)
    bars = tuple(
        Bar(
            x=MARGIN + index * slot + slot * 0.1, width=max(slot * 0.8, 1),
            height=(CHART_HEIGHT - 2 * MARGIN) * value / top, y=CHART_HEIGHT - MARGIN - (CHART_HEIGHT - 2 * MARGIN) * value / top,
            label=_day(day), value=value_label, url=url,
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
        (gettext("Resolution rate"), "resolved", "resolved", {"resolved__exact": "1"}),
        (gettext("Escalation rate"), "escalated", "escalated", {"escalated__exact": "1"}),
    ):
        points = tuple(
            Point(
                x=MARGIN + index * slot + slot / 2,
                y=CHART_HEIGHT - MARGIN - (CHART_HEIGHT - 2 * MARGIN) * (getattr(point, attribute) / point.conversations),
                label=_day(point.date),
                value=gettext("%(rate_name)s %(rate)s · %(conversations)s") % {
                    "rate_name": name, "rate": percent(getattr(point, attribute) / point.conversations),
                    "conversations": conversations_text(getattr(point, attribute), attribute)},
                url=drill.day(point.date, **filters),
            )
            for index, point in enumerate(result.series)
            if point.conversations
        )
        lines.append((name, css, points))
    every = max(1, len(result.series) // 6)
    axis = tuple(
        (MARGIN + index * slot + slot / 2, _day(point.date))
        for index, point in enumerate(result.series) if index % every == 0
    )
    return Chart(title=gettext("Resolution and escalation rate per day"), width=CHART_WIDTH, height=CHART_HEIGHT,
                 lines=tuple(lines), axis_labels=axis, max_label="100 %")


def _bar_list(title: str, rows: list[tuple[str, float, str, str]], note: str = "") -> Chart:
    """Horizontal bars: (label, value, value label, url)."""
    top = max((value for _, value, _, _ in rows), default=0) or 1
    row_height = 26
    bars = tuple(
        Bar(x=150, y=index * row_height + 4, width=max((CHART_WIDTH - 240) * value / top, 1 if value else 0),
            height=row_height - 8, label=label, value=value_label, url=url)
        for index, (label, value, value_label, url) in enumerate(rows)
    )
    return Chart(title=title, width=CHART_WIDTH, height=max(len(rows), 1) * row_height + 8, bars=bars, horizontal=True,
                 note=note)


def _agent_value(agent: AgentConversations, population: int) -> str:
    handoffs = ngettext("%(count)s handoff received", "%(count)s handoffs received", agent.handoffs_received)
    return gettext("%(conversations)s (%(share)s) · %(handoffs)s") % {
        "conversations": conversations_text(agent.conversations), "share": percent(agent.conversations / population),
        "handoffs": handoffs % {"count": count(agent.handoffs_received)}}


def charts(result: AnalyticsResult, drill: DrillDown, *, now: datetime) -> list[Chart]:
    series = result.series
    stats = result.interrupt_stats
    return [
        _column_chart(gettext("Conversations per day"), [
            (point.date, point.conversations, conversations_text(point.conversations), drill.day(point.date))
            for point in series
        ]),
        _rate_chart(result, drill),
        _column_chart(gettext("Cost per day"), [
            (point.date, float(point.cost), gettext("%(cost)s · %(conversations)s") % {
                "cost": money(point.cost), "conversations": conversations_text(point.conversations, "over")},
             drill.day(point.date))
            for point in series
        ]),
        _bar_list(gettext("Conversations per agent"), [
            (agent.agent, agent.conversations, _agent_value(agent, result.conversations), drill.url(agent=agent.agent))
            for agent in result.agent_conversations
        ], note=gettext("Conversations the agent took part in; an agent handed a conversation twice counts it once, "
                        "its handoffs count both.")),
        _bar_list(gettext("Approval outcomes"), [
            (label, value, approval_requests_text(value), drill.approval_requests(key, now=now))
            for key, label, value in (
                ("approved", gettext("Approved"), stats.approved), ("rejected", gettext("Rejected"), stats.rejected),
                ("other", gettext("Outcome unknown"), stats.other), ("expired", gettext("Expired"), stats.expired),
                ("pending", gettext("Awaiting approval"), stats.pending),
            )
        ], note=COUNTS["interrupts"]),
    ]


def dashboard_view(site):
    def dashboard(request):
        if not request.user.has_perm("analytics.view_analyticsevent"):
            raise PermissionDenied
        errors: dict[str, list[str]] = {}
        params = {key: value for key, value in request.GET.items() if value and not (key == "range" and value == "custom")}
        # without a zone in the link, the zone this user chose last time
        params.setdefault("tz", timezone.get_current_timezone_name())
        try:
            query = parse_analytics_query(params)
        except ValidationError as error:
            errors = {key: [str(message) for message in messages] for key, messages in error.detail.items()}
            query = parse_analytics_query({"range": "30d", "tz": timezone.get_current_timezone_name()})
        remember_time_zone(session=request.session, zone=query["tz"])
        tenants = tenant_scope(user=request.user)
        now = timezone.now()
        result = get_analytics(**query, tenants=tenants, now=now)
        drill = DrillDown(result)
        selected_range = request.GET.get("range") or ("custom" if request.GET.get("from") else "30d")
        sync = get_sync_status()
        context = dict(
            site.each_context(request),
            title=gettext("Analytics dashboard"),
            result=result,
            cards=kpi_cards(result, drill, now=now),
            measure_rows=measure_rows(result),
            charts=charts(result, drill, now=now) if result.conversations else [],
            breakdown_tables=breakdown_tables(result, drill) if result.conversations else [],
            errors=errors,
            range_choices=RANGE_CHOICES,
            selected_range=selected_range,
            zones=COMMON_ZONES,
            agents=agent_names(tenants=tenants),
            price_add_url=reverse("admin:analytics_modelprice_add"),
            sync=sync,
            last_sync=sync.describe(now=timezone.now()),
            repricing_calls=pending_reprice_calls(),
        )
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)

    return dashboard


# -- breakdown tables: cost and tokens by model and by agent, latency by agent; each count leads to the
# events it counts (a model's or an agent's LLM calls, an agent's measured tool calls)

USAGE_COLUMNS = (
    gettext_lazy("Calls"), gettext_lazy("Input tokens"), gettext_lazy("Output tokens"), gettext_lazy("Cache read"),
    gettext_lazy("Cache write"), gettext_lazy("Reasoning"), gettext_lazy("Cost"), gettext_lazy("Cache savings"),
    gettext_lazy("Unpriced calls"),
)
LATENCY_COLUMNS = (gettext_lazy("LLM p50"), gettext_lazy("LLM p95"), gettext_lazy("LLM calls"),
                   gettext_lazy("Tool p50"), gettext_lazy("Tool p95"), gettext_lazy("Tool calls"))


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""  # the list of exactly the rows this number counts


@dataclass(frozen=True)
class TableRow:
    name: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    title: str
    first_column: str
    columns: tuple[str, ...]
    rows: tuple[TableRow, ...]
    note: str = ""


def milliseconds(value: int | None) -> str:
    return "–" if value is None else gettext("%(value)s ms") % {"value": f"{value:,}"}


def _usage_cells(row: UsageBreakdown, calls_url: str) -> tuple[Cell, ...]:
    return (
        Cell(count(row.calls), calls_url), *(Cell(text) for text in (
            count(row.input_tokens), count(row.output_tokens), count(row.cache_read_tokens), count(row.cache_write_tokens),
            count(row.reasoning_tokens), money(row.cost_usd), money(row.cache_savings_usd), count(row.unpriced_calls),
        )),
    )


def breakdown_tables(result: AnalyticsResult, drill: DrillDown) -> list[Table]:
    llm_calls = {"event_type__exact": EventType.LLM_USAGE}

    def measured(event_type: str, agent: str) -> str:
        return drill.events(event_type__exact=event_type, agent__exact=agent, latency_ms__isnull="0")

    return [
        Table(gettext("Cost and tokens by model"), gettext("Model"), USAGE_COLUMNS, tuple(
            TableRow(row.name or gettext("(not reported)"), _usage_cells(row, drill.events(**llm_calls, model__exact=row.name)))
            for row in result.by_model
        )),
        Table(gettext("Cost and tokens by agent"), gettext("Agent"), USAGE_COLUMNS, tuple(
            TableRow(row.name or gettext("(no agent)"), _usage_cells(row, drill.events(**llm_calls, agent__exact=row.name)))
            for row in result.by_agent
        )),
        Table(gettext("Latency by agent (p50 / p95)"), gettext("Agent"), LATENCY_COLUMNS, tuple(
            TableRow(row.agent or gettext("(no agent)"), (
                Cell(milliseconds(row.llm_p50_ms)), Cell(milliseconds(row.llm_p95_ms)),
                Cell(count(row.llm_calls), measured(EventType.LLM_USAGE, row.agent)),
                Cell(milliseconds(row.tool_p50_ms)), Cell(milliseconds(row.tool_p95_ms)),
                Cell(count(row.tool_calls), measured(EventType.TOOL_RESULT, row.agent)),
            )) for row in result.latency
        ), note=gettext("Time between checkpoints; percentiles read within 1 % (exact up to 100 ms).")),
    ]
