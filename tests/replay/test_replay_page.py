"""The conversation list and the replay page as a support manager uses them: the list's columns, the
replay opened from a filtered list and back, its pages, jump links, JSON arguments and costs."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html import unescape
from urllib.parse import urlencode

import pytest
from django.core.management import call_command

from replay.models import Conversation
from smart_support.agent.scenarios import ConversationPlan, plan_conversation
from tests.tenant_world import ACME, ACME_THREAD, CUSTOMER_TEXT, GLOBEX_THREAD, tenant_world  # noqa: F401

DAY = datetime(2026, 11, 10, 9, tzinfo=timezone.utc)
LIST = "/admin/replay/conversation/"


def _plan(scenario: str, *, index: int, thread_id: str, tenant: str = ACME, customer: str = "cus_100001") -> ConversationPlan:
    plan = plan_conversation(seed=29, index=index, scenario=scenario)
    metadata = {"tenant": tenant, "channel": "email", "customer_id": customer}
    return dataclasses.replace(plan, thread_id=thread_id, metadata=metadata)


def _long_plan(*, thread_id: str, routine_turns: int) -> ConversationPlan:
    """One conversation of many turns: routine order questions first, then a failed tool call, an
    approval and an escalation, so each first one falls on a later page."""
    scenarios = ["order_status"] * routine_turns + ["password_failed", "refund_approved", "escalated_directly"]
    plans = [plan_conversation(seed=31, index=index, scenario=scenario) for index, scenario in enumerate(scenarios)]
    return ConversationPlan(
        thread_id=thread_id, scenario="long", metadata={"tenant": ACME, "channel": "web", "customer_id": "cus_long"},
        turns=tuple(turn for plan in plans for turn in plan.turns),
        latencies_s=tuple(latency for plan in plans for latency in plan.latencies_s),
    )


def _derive() -> None:
    call_command("backfill_events", verbosity=0)


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _links(page: str, css_class: str) -> list[str]:
    return [unescape(href) for href in re.findall(rf'<a href="([^"]*)"[^>]*class="{css_class}"', page)]


@pytest.fixture
def three_acme_conversations(run_reference_agent):
    """Three conversations of tenant acme (escalated, approved refund, order status) and one of globex."""
    plans = [
        _plan("escalated_directly", index=0, thread_id="acme-escalated-7f3c9a"),
        _plan("refund_approved", index=1, thread_id="acme-refund"),
        _plan("order_status", index=2, thread_id="acme-order"),
        _plan("order_status", index=3, thread_id="globex-order", tenant="globex", customer="cus_200002"),
    ]
    for offset, plan in enumerate(plans):
        run_reference_agent(plan, DAY + timedelta(hours=offset))
    _derive()
    return plans


# -- the list --------------------------------------------------------------------------------------

def test_conversation_list_is_titled_conversations_with_columns_that_fit_a_laptop(admin_client, three_acme_conversations):
    page = _html(admin_client.get(LIST))
    table = page[page.index('<table id="result_list">'):]

    assert "<h1>Conversations</h1>" in page
    assert "<title>Conversations |" in page
    headers = [unescape(text).strip() for text in re.findall(r'<th scope="col"[^>]*>.*?<(?:a|span)[^>]*>([^<]+)<', table, re.S)]
    assert headers == [
        "Thread", "Started (UTC)", "Customer", "First message", "Agents", "Steps", "Tokens", "Cost", "Escalated", "Resolved",
        "Replay",
    ]
    refund = Conversation.objects.get(thread_id="acme-refund")
    assert f'${refund.cost_usd.quantize(Decimal("0.0001"))}' in page  # dollars, four decimals
    assert f"{refund.input_tokens + refund.output_tokens:,}" in page
    assert 'title="acme-escalated-7f3c9a">acme-escalate…</a>' in page  # shortened, the whole id on hover
    assert 'src="/static/admin/img/icon-yes.svg" alt="True"' in page  # escalated / resolved as icons
    assert "Select conversation to change" not in page


def test_first_message_is_masked_in_the_list_for_readers_without_view_unredacted(tenant_world):  # noqa: F811
    masked = _html(tenant_world.clients["viewer of tenant A"].get(LIST))
    shown = _html(tenant_world.clients["superuser"].get(LIST))

    assert "ada@example.com" not in masked and "Hi, I am [email], call me on [phone]" in masked
    assert "Hi, I am ada@example.com" in shown


def test_derived_conversations_cannot_be_deleted_from_the_admin(admin_client, three_acme_conversations):
    conversation = Conversation.objects.get(thread_id="acme-order")

    page = _html(admin_client.get(LIST))
    assert "delete_selected" not in page and "Delete selected" not in page
    assert admin_client.get(f"{LIST}{conversation.pk}/delete/").status_code == 403
    response = admin_client.post(LIST, {"action": "delete_selected", "_selected_action": [conversation.pk], "post": "yes"})
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert response.status_code in {200, 302}


def test_a_conversations_change_page_opens_its_replay_with_the_lists_filters(admin_client, three_acme_conversations):
    conversation = Conversation.objects.get(thread_id="acme-order")
    filters = "metadata_tenant=acme-eu&o=-8"

    response = admin_client.get(f"{LIST}{conversation.pk}/change/", {"_changelist_filters": filters})

    assert response.status_code == 302
    assert response["Location"] == "/admin/replay/conversation/replay/acme-order/?" + urlencode({"_changelist_filters": filters})
    assert admin_client.get(f"{LIST}999999/change/").status_code == 404


def test_list_links_open_the_replay_with_the_lists_filters(admin_client, three_acme_conversations):
    page = _html(admin_client.get(LIST, {"metadata_tenant": ACME}))
    expected = "/admin/replay/conversation/replay/acme-order/?" + urlencode({"_changelist_filters": "metadata_tenant=acme-eu"})
    assert f'href="{expected.replace("&", "&amp;")}"' in page


# -- the replay's way back and sideways --------------------------------------------------------------

def test_replay_goes_back_to_the_same_filtered_list(admin_client, three_acme_conversations):
    filters = "metadata_tenant=acme-eu&escalated__exact=0"
    page = _html(admin_client.get("/admin/replay/conversation/replay/acme-refund/", {"_changelist_filters": filters}))

    assert _links(page, "back-to-list") == [f"{LIST}?{filters}"]


def test_previous_and_next_follow_the_filtered_list_in_its_order(admin_client, three_acme_conversations):
    # the list filtered to acme, newest activity first (globex's conversation, the newest, filtered out)
    listed = _html(admin_client.get(LIST, {"metadata_tenant": ACME}))
    newest, middle, oldest = re.findall(r'title="([a-z0-9-]+)">', listed[listed.index('<table id="result_list">'):])
    assert {newest, middle, oldest} == {"acme-order", "acme-refund", "acme-escalated-7f3c9a"}
    filters = urlencode({"metadata_tenant": ACME})

    def neighbours(thread_id: str) -> tuple[list[str], list[str]]:
        page = _html(admin_client.get(f"/admin/replay/conversation/replay/{thread_id}/", {"_changelist_filters": filters}))
        return _links(page, "previous-conversation"), _links(page, "next-conversation")

    def url(thread_id: str) -> str:
        return f"/admin/replay/conversation/replay/{thread_id}/?" + urlencode({"_changelist_filters": filters})

    assert neighbours(newest) == ([], [url(middle)])
    assert neighbours(middle) == ([url(newest)], [url(oldest)])
    assert neighbours(oldest) == ([url(middle)], [])


@pytest.mark.parametrize(
    ("column", "sort_key"),
    [
        ("8", lambda row: row.cost_usd),  # Cost, cheapest first
        ("7", lambda row: row.input_tokens + row.output_tokens),  # Tokens, fewest first
        ("-6", lambda row: -row.step_count),  # Steps, most first
    ],
)
def test_previous_and_next_follow_a_sort_the_manager_chose(admin_client, three_acme_conversations, column, sort_key):
    rows = Conversation.objects.filter(tenant=ACME)
    ordered = [row.thread_id for row in sorted(rows, key=lambda row: (sort_key(row), -row.pk))]  # ties: newest row first
    list_page = _html(admin_client.get(LIST, {"metadata_tenant": ACME, "o": column}))
    assert re.findall(r'title="(acme-[a-z0-9-]+)"', list_page) == ordered

    filters = urlencode({"metadata_tenant": ACME, "o": column})

    def url(thread_id: str) -> str:
        return f"/admin/replay/conversation/replay/{thread_id}/?" + urlencode({"_changelist_filters": filters})

    for position, thread_id in enumerate(ordered):
        page = _html(admin_client.get(f"/admin/replay/conversation/replay/{thread_id}/", {"_changelist_filters": filters}))
        assert _links(page, "previous-conversation") == ([url(ordered[position - 1])] if position else [])
        assert _links(page, "next-conversation") == ([url(ordered[position + 1])] if position + 1 < len(ordered) else [])


@pytest.mark.parametrize("filters", [{"agent": "billing"}, {"agent": "orders", "metadata_channel": "email"}, {"q": "acme-", "o": "-7"}])
def test_previous_and_next_leave_out_what_the_lists_filters_leave_out(admin_client, three_acme_conversations, filters):
    listed = _html(admin_client.get(LIST, filters))
    shown = re.findall(r'title="([a-z0-9-]+)">', listed[listed.index('<table id="result_list">'):])
    assert 0 < len(shown) < 4
    encoded = urlencode(filters)

    def url(thread_id: str) -> str:
        return f"/admin/replay/conversation/replay/{thread_id}/?" + urlencode({"_changelist_filters": encoded})

    for position, thread_id in enumerate(shown):
        page = _html(admin_client.get(f"/admin/replay/conversation/replay/{thread_id}/", {"_changelist_filters": encoded}))
        assert _links(page, "previous-conversation") == ([url(shown[position - 1])] if position else [])
        assert _links(page, "next-conversation") == ([url(shown[position + 1])] if position + 1 < len(shown) else [])


# -- pages, jump links -----------------------------------------------------------------------------

@pytest.fixture
def long_conversation(run_reference_agent):
    plan = _long_plan(thread_id="long-1", routine_turns=26)
    run_reference_agent(plan, DAY)
    _derive()
    return plan


def _steps_of(page: str) -> list[int]:
    return [int(index) for index in re.findall(r'<li id="step-(\d+)">', page)]


def test_a_long_replay_has_its_pager_above_and_below_the_steps(admin_client, long_conversation):
    page = _html(admin_client.get("/admin/replay/conversation/replay/long-1/"))

    steps = _steps_of(page)
    assert len(steps) == 100 and steps[0] == 0
    first_step, last_step = page.index('<li id="step-0">'), page.index('<li id="step-99">')
    pagers = [match.start() for match in re.finditer(r'<nav class="replay-pages paginator"', page)]
    assert len(pagers) == 2 and pagers[0] < first_step < last_step < pagers[1]
    assert _links(page, "next-page") == ["/admin/replay/conversation/replay/long-1/?page=2"] * 2


@pytest.mark.parametrize("page_number", ["0", "-1", "two", "1.5", "²"])
def test_a_page_that_is_no_page_number_is_a_404(admin_client, long_conversation, page_number):
    assert admin_client.get("/admin/replay/conversation/replay/long-1/", {"page": page_number}).status_code == 404


def test_a_page_past_the_end_redirects_to_the_last_page_and_says_so(admin_client, long_conversation):
    filters = "metadata_tenant=acme-eu"
    total = Conversation.objects.get(thread_id="long-1").step_count
    last = -(-total // 100)

    response = admin_client.get("/admin/replay/conversation/replay/long-1/", {"page": last + 1, "_changelist_filters": filters})

    assert response.status_code == 302
    assert response["Location"] == "/admin/replay/conversation/replay/long-1/?" + urlencode({"page": last, "_changelist_filters": filters})
    page = _html(admin_client.get(response["Location"]))
    assert f"This replay has {last} pages; page {last + 1} does not exist, here is the last one." in page
    assert _steps_of(page)[-1] == total - 1


def test_jump_links_open_the_page_and_step_of_the_first_error_approval_and_escalation(admin_client, long_conversation):
    from replay.services import get_timeline

    steps = get_timeline(thread_id="long-1", price_lookup=None)
    first = {
        "error": next(step.index for step in steps if step.status == "error"),
        "approval": next(step.index for step in steps if step.type == "interrupt"),
        "escalation": next(step.index for step in steps if step.type == "escalation"),
    }
    assert all(index >= 100 for index in first.values())  # all past the first page

    page = _html(admin_client.get("/admin/replay/conversation/replay/long-1/"))

    for kind, index in first.items():
        (link,) = _links(page, f"jump-{kind}")
        assert link == f"/admin/replay/conversation/replay/long-1/?page={index // 100 + 1}#step-{index}"
        target = _html(admin_client.get(link.split("#")[0]))
        assert f'<li id="step-{index}">' in target
    target = _html(admin_client.get(_links(page, "jump-escalation")[0].split("#")[0]))
    escalation = target[target.index(f'<li id="step-{first["escalation"]}">'):]
    assert escalation.split("</li>")[0].count('class="banner escalation"') == 1


def test_expand_and_collapse_all_need_no_script_from_elsewhere(admin_client, long_conversation):
    page = _html(admin_client.get("/admin/replay/conversation/replay/long-1/"))
    assert 'data-details="open"' in page and 'data-details="close"' in page
    assert not re.search(r'<script[^>]+src="https?://', page)


# -- what the replay shows ---------------------------------------------------------------------------

def test_replay_header_shows_tenant_channel_customer_and_metadata(admin_client, three_acme_conversations):
    page = _html(admin_client.get("/admin/replay/conversation/replay/acme-refund/"))

    assert '<strong class="tenant">acme-eu</strong>' in page
    assert '<strong class="channel">email</strong>' in page
    assert '<strong class="customer"><a href="/admin/replay/conversation/customer/cus_100001/">cus_100001</a></strong>' in page
    assert "<dt>customer_id</dt><dd>cus_100001</dd>" in page


def test_tool_arguments_are_shown_as_indented_json(admin_client, three_acme_conversations):
    refund = next(plan for plan in three_acme_conversations if plan.thread_id == "acme-refund")
    (arguments,) = [call["args"] for reply in refund.turns[0].replies for call in reply.tool_calls if call["name"] == "issue_refund"]
    import json

    page = _html(admin_client.get("/admin/replay/conversation/replay/acme-refund/"))

    escaped = json.dumps(arguments, indent=2).replace('"', "&quot;")
    assert f'<pre class="json">{escaped}</pre>' in page
    assert "{&#x27;" not in page  # no Python repr anywhere


def test_tool_arguments_keep_non_ascii_and_are_masked_for_readers_without_view_unredacted(tenant_world):  # noqa: F811
    masked = _html(tenant_world.clients["viewer of tenant A"].get(f"/admin/replay/conversation/replay/{ACME_THREAD}/"))
    assert "ada@example.com" not in masked and "[email]" in masked


def _cost(text: str) -> Decimal:
    return Decimal(text.removeprefix("$"))


def test_the_step_costs_shown_add_up_to_the_total_shown(admin_client, long_conversation):
    first = _html(admin_client.get("/admin/replay/conversation/replay/long-1/"))
    pages = [first, _html(admin_client.get("/admin/replay/conversation/replay/long-1/", {"page": 2}))]
    step_costs = [_cost(text) for page in pages for text in re.findall(r'<span class="step-cost">([^<]+)</span>', page)]
    (total,) = re.findall(r'<strong class="total-cost">([^<]+)</strong>', first)

    assert len(step_costs) > 50
    assert sum(step_costs) == _cost(total)
    decimals = {len(text.split(".")[1]) for page in pages for text in re.findall(r'class="step-cost">\$([^<]+)<', page)}
    assert decimals == {len(total.split(".")[1])}
    assert abs(_cost(total) - Conversation.objects.get(thread_id="long-1").cost_usd) < Decimal("0.0001")


def test_slash_opens_the_admin(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
