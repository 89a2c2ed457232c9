"""Every number on the dashboard that is a link opens a list of exactly that many rows, and the days and
times a manager reads are those of the zone chosen on the dashboard: real conversations through the
reference agent and the backfill."""

import random
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command

from replay.models import Conversation, TenantAccess
from smart_support.agent.scenarios import (
    ConversationPlan,
    _refund,
    _Script,
    plan_conversation,
    thread_id_for,
)

DAY = datetime(2026, 11, 10, 8, tzinfo=timezone.utc)
DASHBOARD = "/admin/analytics/dashboard/"
RANGE = {"from": "2026-11-10", "to": "2026-11-10", "tz": "UTC"}
SCENARIOS = ["refund_approved", "refund_rejected", "refund_pending", "multi_turn", "escalated_after_answer",
             "order_status", "cancel_order", "smalltalk"]
DRILL_DOWNS = ("/admin/replay/conversation/?", "/admin/analytics/analyticsevent/?")
# "8 conversations", "1 resolved conversation", "open these 5 approval requests" (not "37.5 %" nor "$0.0123")
COUNTED = re.compile(r"(?<![\d.,$])(\d[\d,]*)(?: [a-z]+)? (?:conversations?|approval requests?)\b")


def billing_twice(index: int) -> ConversationPlan:
    """A customer asks for two refunds in one conversation: billing is handed the conversation twice and
    a reviewer answers two approval requests, approving one and rejecting the other."""
    thread_id = thread_id_for(seed=73, index=index)
    script, rng = _Script(thread_id), random.Random(index)
    turns = (
        _refund(script, rng, {"approved": True, "reviewer": "maria.lopez"}, "Your refund has been issued."),
        _refund(script, rng, {"approved": False, "reviewer": "tom.becker"}, "The second refund was not approved."),
    )
    return ConversationPlan(thread_id=thread_id, scenario="billing_twice", turns=turns,
                            metadata={"tenant": "acme-eu", "channel": "web", "customer_id": f"cus_{index}"})


@pytest.fixture
def written(run_reference_agent):
    """Ten conversations on 2026-11-10, two of them multi-turn with a second billing visit and two approvals."""
    for index in range(2):
        run_reference_agent(billing_twice(index), DAY + timedelta(minutes=10 * index))
    for index, scenario in enumerate(SCENARIOS):
        run_reference_agent(plan_conversation(seed=74, index=index, scenario=scenario), DAY + timedelta(hours=index + 1))
    call_command("backfill_events", verbosity=0)
    return Conversation.objects.all()


class Links(HTMLParser):
    """Every link of a page with its text (an SVG link's text is its tooltip and label)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._open: list[list] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._open.append([dict(attrs).get("href", ""), ""])

    def handle_data(self, data):
        for link in self._open:
            link[1] += data

    def handle_endtag(self, tag):
        if tag == "a" and self._open:
            href, text = self._open.pop()
            self.links.append((href, " ".join(text.split())))


def drill_downs(page: str) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(page)
    return [(href, text) for href, text in parser.links if href.startswith(DRILL_DOWNS)]


def shown_count(text: str) -> int:
    """The number a link shows: the one before what it counts, or a bare number (a table cell)."""
    match = COUNTED.search(text)
    if match is None:
        assert re.fullmatch(r"\d[\d,]*", text), f"a drill-down link without a count: {text!r}"
        return int(text.replace(",", ""))
    return int(match[1].replace(",", ""))


def landing_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200 and "?e=1" not in response.get("Location", ""), url
    return response.context["cl"].result_count


# UTC days are read from the hourly rollups, India's half-hour days from the conversations themselves
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_every_drill_down_link_opens_as_many_rows_as_it_shows(admin_client, written, zone):
    page = admin_client.get(DASHBOARD, {**RANGE, "tz": zone}).content.decode()

    links = drill_downs(page)
    assert len(links) > 30
    mismatches = [(text, shown_count(text), landing_count(admin_client, href), href) for href, text in links
                  if shown_count(text) != landing_count(admin_client, href)]
    assert mismatches == []


def test_an_agent_handed_a_conversation_twice_counts_it_once_with_both_handoffs(admin_client, written):
    response = admin_client.get(DASHBOARD, RANGE)

    with_billing = written.filter(agents_used__contains=["billing"])
    (billing,) = [bar for bar in response.context["charts"][3].bars if bar.label == "billing"]
    handoffs = sum(conversation.handoffs["billing"] for conversation in with_billing)
    assert billing.value.startswith(f"{with_billing.count()} conversations (")
    assert billing.value.endswith(f"· {handoffs} handoffs received") and handoffs == with_billing.count() + 2
    assert landing_count(admin_client, billing.url) == with_billing.count()


def test_approval_requests_are_counted_and_listed_as_requests_not_conversations(admin_client, written):
    response = admin_client.get(DASHBOARD, RANGE)
    page = response.content.decode()

    card = {card.key: card for card in response.context["cards"]}["interrupts"]
    requests = sum(written.values_list("interrupt_count", flat=True))
    assert card.value == str(requests) and requests > written.filter(interrupt_count__gt=0).count()
    (link,) = card.links
    assert link.text == f"open these {requests} approval requests"
    assert "Counts approval requests, not conversations: one conversation may have several." in page
    listed = admin_client.get(link.url).context["cl"].queryset
    assert {event.event_type for event in listed} == {"interrupt_raised"} and len(listed) == requests


def test_narrowed_to_an_agent_every_link_keeps_the_agent(admin_client, written):
    response = admin_client.get(DASHBOARD, {**RANGE, "agent": "billing"})
    page = response.content.decode()
    orders = {bar.label: bar for bar in response.context["charts"][3].bars}["orders"]
    assert orders.value.startswith("1 conversation (")  # the one that saw both billing and orders
    agent_filter = admin_client.get(orders.url).content.decode().split('data-filter-title="agent"')[1].split("</details>")[0]
    assert re.findall(r'<li class="selected">\s*<a [^>]*>([^<]+)</a>', agent_filter) == ["billing", "orders"]

    links = drill_downs(page)
    for href, text in links:
        query = parse_qs(urlsplit(href).query)
        assert "billing" in query.get("agent", []) + query.get("conversation_agent", []), href
        assert shown_count(text) == landing_count(admin_client, href), (text, href)


def test_a_reader_of_one_tenant_lands_on_as_many_of_that_tenants_rows_as_shown(client, written):
    reader = User.objects.create_user("acme-lead", is_staff=True)
    reader.user_permissions.add(*Permission.objects.filter(codename__in=["view_conversation", "view_analyticsevent"]))
    TenantAccess.objects.create(user=reader, tenant="acme-eu")
    client.force_login(reader)

    response = client.get(DASHBOARD, RANGE)
    assert response.context["result"].conversations == written.filter(tenant="acme-eu").count() < written.count()
    for href, text in drill_downs(response.content.decode()):
        assert shown_count(text) == landing_count(client, href), (text, href)


# -- time zones


@pytest.fixture
def around_midnight(run_reference_agent):
    """Conversations just before and after midnight in Tokyo (15:00 UTC)."""
    starts = {
        "tokyo-nov-18-2330": datetime(2026, 11, 18, 14, 30, tzinfo=timezone.utc),
        "tokyo-nov-19-0030": datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc),
        "tokyo-nov-19-0910": datetime(2026, 11, 19, 0, 10, tzinfo=timezone.utc),
        "tokyo-nov-20-0010": datetime(2026, 11, 19, 15, 10, tzinfo=timezone.utc),
    }
    for index, started_at in enumerate(starts.values()):
        run_reference_agent(plan_conversation(seed=75, index=index, scenario="order_status"), started_at)
    call_command("backfill_events", verbosity=0)
    return {name: thread_id_for(seed=75, index=index) for index, name in enumerate(starts)}


def test_tokyo_days_on_the_dashboard_and_in_the_list(admin_client, around_midnight):
    response = admin_client.get(DASHBOARD, {"from": "2026-11-18", "to": "2026-11-19", "tz": "Asia/Tokyo"})

    assert "days and times in Asia/Tokyo" in response.content.decode()
    bars = {bar.label: bar for bar in response.context["charts"][0].bars}
    assert {label: bar.value for label, bar in bars.items()} == {"Nov 18": "1 conversation", "Nov 19": "2 conversations"}
    listed = admin_client.get(bars["Nov 19"].url)
    page = listed.content.decode()
    assert {c.thread_id for c in listed.context["cl"].queryset} == {
        around_midnight["tokyo-nov-19-0030"], around_midnight["tokyo-nov-19-0910"]
    }
    assert "Started (Asia/Tokyo)" in page
    assert "2026-11-19 00:30" in page and "2026-11-19 09:10" in page
    assert "2026-11-18" not in page


def test_the_list_shows_the_active_date_filter_with_its_zone_and_a_way_to_clear_it(admin_client, around_midnight):
    page = admin_client.get(
        "/admin/replay/conversation/", {"started_from": "2026-11-19", "started_to": "2026-11-19", "tz": "Asia/Tokyo"}
    ).content.decode()

    assert "By started (Asia/Tokyo)" in page
    assert re.search(r'<li class="selected">\s*<a href="\?[^"]*"[^>]*>Nov 19, 2026</a>', page)
    assert re.search(r'<a href="\?"[^>]*>Any date</a>', page)


def test_the_zone_chosen_on_the_dashboard_stays_for_the_session(admin_client, around_midnight):
    admin_client.get(DASHBOARD, {"from": "2026-11-18", "to": "2026-11-19", "tz": "Asia/Tokyo"})

    assert admin_client.get(DASHBOARD).context["result"].tz == "Asia/Tokyo"
    page = admin_client.get("/admin/replay/conversation/").content.decode()
    assert "Started (Asia/Tokyo)" in page and "2026-11-18 23:30" in page
    replay = admin_client.get(f"/admin/replay/conversation/replay/{around_midnight['tokyo-nov-18-2330']}/").content.decode()
    assert "2026-11-18 23:30" in replay and "JST" in replay and "Times in<strong>Asia/Tokyo</strong>" in replay
    assert "Occurred at (Asia/Tokyo)" in admin_client.get("/admin/analytics/analyticsevent/").content.decode()

    admin_client.get(DASHBOARD, {"tz": "UTC"})
    assert "2026-11-18 14:30" in admin_client.get("/admin/replay/conversation/").content.decode()


def test_a_new_session_reads_times_in_the_default_zone(admin_client, around_midnight, settings):
    page = admin_client.get("/admin/replay/conversation/").content.decode()
    assert f"Started ({settings.TIME_ZONE})" in page


# -- change against the previous period


def test_an_empty_range_says_no_conversations_instead_of_new(admin_client, db):
    response = admin_client.get(DASHBOARD, {"from": "2030-01-01", "to": "2030-01-07", "tz": "UTC"})
    cards = {card.key: card for card in response.context["cards"]}
    assert cards["conversations"].change.text == "no conversations in this range"
    assert "new" not in response.content.decode().split('id="card-conversations"')[1].split("</div>")[0]


def test_a_previous_period_of_few_conversations_shows_its_value_not_a_percentage(admin_client, written, run_reference_agent):
    for index in range(3):
        run_reference_agent(plan_conversation(seed=76, index=index, scenario="escalated_directly"), DAY - timedelta(days=1))
    call_command("backfill_events", verbosity=0)

    response = admin_client.get(DASHBOARD, RANGE)
    cards = {card.key: card for card in response.context["cards"]}
    assert cards["conversations"].change.text == "prev. 3"
    assert cards["escalation_rate"].change.text == "prev. 100.0 %"
    assert "%" not in cards["cost_per_conversation"].change.text.replace("prev.", "")
    assert all(card.change.arrow == "" for card in cards.values() if card.change)


def test_change_arrows_are_coloured_by_what_the_change_means_for_the_business(admin_client, run_reference_agent):
    day_before = DAY - timedelta(days=1)
    for index in range(20):  # the day before: nobody escalated
        run_reference_agent(plan_conversation(seed=77, index=index, scenario="order_status"), day_before + timedelta(minutes=index))
    for index in range(20):  # the day: a quarter escalated
        scenario = "escalated_directly" if index % 4 == 0 else "order_status"
        run_reference_agent(plan_conversation(seed=78, index=index, scenario=scenario), DAY + timedelta(minutes=index))
    call_command("backfill_events", verbosity=0)

    response = admin_client.get(DASHBOARD, RANGE)
    page = response.content.decode()
    cards = {card.key: card for card in response.context["cards"]}
    assert (cards["escalation_rate"].change.arrow, cards["escalation_rate"].change.verdict) == ("↑", "bad")
    assert cards["escalation_rate"].change.text == "+25.0 pts vs previous period"
    assert (cards["resolution_rate"].change.arrow, cards["resolution_rate"].change.verdict) == ("↓", "bad")
    assert (cards["conversations"].change.text, cards["conversations"].change.verdict) == ("+0 % vs previous period", "neutral")
    card_html = page.split('id="card-escalation_rate"')[1].split('<div class="definition">')[0]
    assert '<span class="change bad"><span aria-hidden="true">↑</span> +25.0 pts vs previous period</span>' in card_html
