"""Finding a conversation by what a manager types — an order, invoice, ticket or customer id, a part of
one, a word — in any message, tool argument, tool result or metadata value, in the admin and the API
alike; and never by personal data the reader sees masked."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from langchain_core.messages import AIMessage

from replay.models import Conversation, TenantAccess
from replay.queries import search_conversations
from smart_support.agent.graph import SUPERVISOR
from smart_support.agent.scenarios import ConversationPlan, Turn
from smart_support.agent.tools import escalate_to_human
from tests.factories import ConversationFactory

FOUND, OTHER = "search-acme-1", "search-globex-1"
ESCALATION_REASON = "Wants contract CTR-5521 reviewed by a person"
# the ticket exists only in the escalation tool's result
TICKET = json.loads(escalate_to_human.invoke({"reason": ESCALATION_REASON}))["ticket"]


class _Replies:
    """Scripted agent replies with the unique ids LangGraph's message reducer needs."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id, self.count = thread_id, 0

    def _id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}-{self.thread_id}-{self.count}"

    def call(self, agent: str, name: str, args: dict) -> AIMessage:
        tool_call = {"name": name, "args": args, "id": self._id("call"), "type": "tool_call"}
        return AIMessage(content="", tool_calls=[tool_call], name=agent, id=self._id("msg"))

    def route(self, agent: str) -> AIMessage:
        return self.call(SUPERVISOR, f"transfer_to_{agent}", {})

    def say(self, agent: str, text: str) -> AIMessage:
        return AIMessage(content=text, name=agent, id=self._id("msg"))


def _found_plan() -> ConversationPlan:
    """Each id in one place only: ORD-61744 in the customer's second message, INV-81527 in a tool call
    and its result, CTR-5521 in an escalation's argument, the ticket in its result, cus_870879 in the
    metadata; personal data in the first message; "virtual" only in an agent's reply."""
    s = _Replies(FOUND)
    turns = (
        Turn(
            user_text="Hi, are you a bot? I am grace.hopper@example.org, phone +44 20 7946 0123.",
            replies=(s.say(SUPERVISOR, "I'm Acme's virtual assistant. How can I help you today?"),),
        ),
        Turn(
            user_text="Where is my order ORD-61744?",
            replies=(
                s.route("billing"),
                s.call("billing", "lookup_invoice", {"invoice_id": "INV-81527"}),
                s.say("billing", "Your last charge covers the annual plan."),
            ),
        ),
        Turn(
            user_text="I want to speak to a person.",
            replies=(
                s.route("orders"),
                s.call("orders", "escalate_to_human", {"reason": ESCALATION_REASON}),
                s.say("orders", "A colleague will call you back today."),
            ),
        ),
    )
    metadata = {"tenant": "acme-eu", "channel": "web", "customer_id": "cus_870879"}
    return ConversationPlan(thread_id=FOUND, scenario="search", metadata=metadata, turns=turns)


def _other_plan() -> ConversationPlan:
    s = _Replies(OTHER)
    turns = (
        Turn(
            user_text="Where is my parcel ORD-99881?",
            replies=(s.route("orders"), s.call("orders", "track_order", {"order_id": "ORD-99881"}), s.say("orders", "On its way.")),
        ),
    )
    metadata = {"tenant": "globex-us", "channel": "email", "customer_id": "cus_100200"}
    return ConversationPlan(thread_id=OTHER, scenario="search", metadata=metadata, turns=turns)


@pytest.fixture
def conversations(run_reference_agent) -> None:
    run_reference_agent(_found_plan(), datetime(2026, 11, 10, 9, tzinfo=timezone.utc))
    run_reference_agent(_other_plan(), datetime(2026, 11, 11, 9, tzinfo=timezone.utc))
    call_command("backfill_events", verbosity=0)


def _client(*, name: str, permissions: tuple[str, ...], tenants: tuple[str, ...] = ()) -> Client:
    user = User.objects.create_user(name, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=("view_conversation", *permissions)))
    for tenant in tenants:
        TenantAccess.objects.create(user=user, tenant=tenant)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def auditor(db) -> Client:
    """Sees every tenant and personal data unmasked."""
    return _client(name="auditor", permissions=("view_all_tenants", "view_unredacted"))


@pytest.fixture
def masked(db) -> Client:
    """Sees every tenant, personal data masked."""
    return _client(name="masked", permissions=("view_all_tenants",))


def api_found(client: Client, text: str) -> set[str]:
    response = client.get("/api/conversations", {"search": text})
    assert response.status_code == 200, response.content
    return {row["thread_id"] for row in response.json()["results"]}


def admin_found(client: Client, text: str) -> set[str]:
    response = client.get("/admin/replay/conversation/", {"q": text})
    assert response.status_code == 200
    return {thread_id for thread_id in (FOUND, OTHER) if f"/replay/{thread_id}/".encode() in response.content}


def found(client: Client, text: str) -> set[str]:
    """What the API finds, after checking the admin's search finds the same."""
    in_api = api_found(client, text)
    assert admin_found(client, text) == in_api, text
    return in_api


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("ORD-61744", id="id in a later customer message"),
        pytest.param("INV-81527", id="id in a tool argument and result"),
        pytest.param("CTR-5521", id="id in an escalation's argument"),
        pytest.param(TICKET, id="id only in a tool result"),
        pytest.param("cus_870879", id="customer id in metadata"),
        pytest.param("ord-61744", id="any case"),
    ],
)
def test_a_whole_id_anywhere_in_the_conversation_finds_it(conversations, auditor, text):
    assert found(auditor, text) == {FOUND}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("61744", id="number of an order id"),
        pytest.param("81527", id="number of an invoice id"),
        pytest.param("870879", id="number of a customer id"),
        pytest.param("ORD-617", id="prefix of an id"),
        pytest.param("cus_8708", id="prefix of a customer id"),
        pytest.param("6174", id="prefix of an id's number"),
    ],
)
def test_a_part_or_prefix_of_an_id_finds_it(conversations, auditor, text):
    assert found(auditor, text) == {FOUND}


def test_words_of_an_agent_reply_find_it_by_prefix(conversations, auditor):
    assert found(auditor, "virtual assistant") == {FOUND}
    assert found(auditor, "virt") == {FOUND}


def test_a_term_both_conversations_hold_finds_both(conversations, auditor):
    assert found(auditor, "cus") == {FOUND, OTHER}
    assert found(auditor, "ORD") == {FOUND, OTHER}


@pytest.mark.parametrize("text", ["ORD-61745", "1744", "INV-61744", "virtual parcel", "refund"])
def test_a_term_no_conversation_holds_finds_nothing(conversations, auditor, text):
    assert found(auditor, text) == set()


def test_a_thread_id_prefix_still_finds_it(conversations, auditor):
    assert found(auditor, "search-acme") == {FOUND}
    assert found(auditor, "search-") == {FOUND, OTHER}


def test_personal_data_finds_it_for_a_reader_allowed_to_see_it(conversations, auditor):
    for text in ("grace.hopper@example.org", "hopper@example.org", "example.org", "grace", "hopper", "0123", "7946 0123"):
        assert found(auditor, text) == {FOUND}, text


def test_personal_data_or_a_fragment_of_it_finds_nothing_for_a_masked_reader(conversations, masked):
    for text in ("grace.hopper@example.org", "hopper@example", "grace", "hopper", "example.org", "+44 20 7946 0123", "0123", "7946"):
        assert found(masked, text) == set(), text


def test_a_masked_reader_still_finds_it_by_what_is_not_masked(conversations, masked):
    for text in ("ORD-61744", TICKET, "cus_870879", "virtual"):
        assert found(masked, text) == {FOUND}, text


def test_a_masked_reader_does_not_find_it_by_the_masks_placeholder(conversations, masked):
    assert found(masked, "email") == {OTHER}  # its channel, in its metadata: not the mask of an address
    assert found(masked, "phone") == {FOUND}  # a word the customer typed ("phone +44 …"), not the mask


def test_the_admin_page_of_a_conversation_does_not_show_its_search_terms(conversations, masked):
    page = masked.get(f"/admin/replay/conversation/{Conversation.objects.get(thread_id=FOUND).pk}/change/", follow=True)

    assert page.status_code == 200 and page.redirect_chain  # a conversation's page is its replay
    assert b"cus_870879" in page.content  # its metadata, shown
    assert b"hopper" not in page.content and b"0123" not in page.content


def test_search_keeps_to_the_readers_tenants(conversations):
    acme_viewer = _client(name="acme-viewer", permissions=("view_unredacted",), tenants=("acme-eu",))
    assert found(acme_viewer, "cus") == {FOUND}
    assert found(acme_viewer, "ORD-99881") == set()


def test_a_conversation_derived_by_thread_or_rebuild_is_found(run_reference_agent, auditor):
    run_reference_agent(_found_plan(), datetime(2026, 11, 10, 9, tzinfo=timezone.utc))
    call_command("backfill_events", thread=FOUND, verbosity=0)
    assert found(auditor, "INV-81527") == {FOUND}

    call_command("backfill_events", rebuild=True, verbosity=0)

    assert found(auditor, "INV-81527") == {FOUND}
    assert found(auditor, "grace") == {FOUND}


HOSTILE = [
    "'", '"', "\\", "&|!:*()", "a & b | !c", "ORD-61744:*", "'ORD-61744'", "(ORD", "!ORD", "ORD:A", "<->", "%_",
    "x" * 10_000, " ".join(f"w{number}" for number in range(2_000)),
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_search_text_is_answered_not_a_server_error(conversations, auditor, text):
    admin = auditor.get("/admin/replay/conversation/", {"q": text})
    api = auditor.get("/api/conversations", {"search": text})

    assert admin.status_code == 200
    assert api.status_code in (200, 400)
    if api.status_code == 400:
        assert "search" in api.json()


def test_quoting_in_search_text_does_not_change_what_is_found(conversations, auditor):
    assert found(auditor, "'ORD-61744'") == {FOUND}
    assert found(auditor, "ORD-61744:*") == {FOUND}
    assert found(auditor, "!ORD-61744") == {FOUND}


def test_a_nul_character_is_refused_by_the_admin_and_the_api(conversations, auditor):
    assert auditor.get("/admin/replay/conversation/", {"q": "ORD\x00"}).status_code == 400
    response = auditor.get("/api/conversations", {"search": "ORD\x00"})
    assert response.status_code == 400
    assert "search" in response.json()


def test_the_planner_expects_about_as_many_conversations_as_an_id_prefix_matches(db):
    """What lets a prefix that many ids share ("ORD-6") walk the list in order and stop after a page, instead
    of reading and sorting every match: PostgreSQL estimates a prefix from its most common lexemes."""
    # ids spread over ORD-60000 to ORD-69584; a subject of 150 each in several, as words are in real text
    Conversation.objects.bulk_create(
        [ConversationFactory.build(first_message=f"Where is ORD-{60000 + 16 * number}? subject{number % 150}") for number in range(600)]
        + [ConversationFactory.build(first_message=f"Invoice INV-{number:05d}, subject{number % 150}") for number in range(1400)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations")
    matching = search_conversations(Conversation.objects.all(), "ORD-6")
    planned = json.loads(matching.explain(format="json"))[0]["Plan"]["Plan Rows"]
    assert matching.count() == 600
    assert planned >= 600 / 2
