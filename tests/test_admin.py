"""The admin pages managers open."""

import pytest

from tests.factories import AnalyticsEventFactory, ConversationFactory


@pytest.fixture
def manager_client(admin_client):
    return admin_client


def test_conversation_changelist_lists_and_searches(manager_client):
    ConversationFactory(thread_id="thread-refund", first_message="I want a refund for my broken kettle")
    ConversationFactory(thread_id="thread-tracking", first_message="Where is my parcel?")

    response = manager_client.get("/admin/replay/conversation/", {"q": "kettle"})
    assert response.status_code == 200
    assert b"thread-refund" in response.content
    assert b"thread-tracking" not in response.content


def test_model_prices_are_seeded_and_listed(manager_client):
    response = manager_client.get("/admin/analytics/modelprice/")
    assert response.status_code == 200
    for model in (b"gpt-4o-mini", b"claude-haiku-4-5"):
        assert model in response.content


def test_event_changelist_shows_events(manager_client):
    AnalyticsEventFactory(tool_name="track_order")
    response = manager_client.get("/admin/analytics/analyticsevent/")
    assert response.status_code == 200
    assert b"track_order" in response.content


def test_changelist_links_each_conversation_to_its_replay(manager_client):
    ConversationFactory(thread_id="thread-with-replay")
    response = manager_client.get("/admin/replay/conversation/")
    assert b'href="/admin/replay/conversation/replay/thread-with-replay/"' in response.content


def test_replay_page_shows_the_conversation_like_a_transcript(manager_client, run_reference_agent):
    from datetime import datetime, timezone

    from smart_support.agent.scenarios import plan_conversation

    plan = plan_conversation(seed=8, index=0, scenario="refund_rejected")
    run_reference_agent(plan, datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc))

    response = manager_client.get(f"/admin/replay/conversation/replay/{plan.thread_id}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert plan.turns[0].user_text in page
    assert "supervisor hands over to <strong>billing</strong>" in page
    assert "<code>issue_refund</code>" in page
    assert '<span class="badge rejected">rejected</span>' in page
    assert "Return window has passed" in page
    assert "gpt-4o-mini" in page and "UTC" in page
    assert "waited " in page


def test_replay_page_of_unknown_thread_is_404(manager_client, checkpoint_db):
    assert manager_client.get("/admin/replay/conversation/replay/nope/").status_code == 404


@pytest.mark.parametrize("zone", ["posixrules", "localtime", "posix/Europe/Berlin", "right/UTC"])
def test_dashboard_refuses_zones_postgresql_does_not_know_and_shows_the_default_range(manager_client, zone):
    response = manager_client.get("/admin/analytics/dashboard/", {"tz": zone})

    assert response.status_code == 200
    assert response.context["errors"] == {
        "tz": [f"must be an IANA time zone PostgreSQL knows, such as UTC, Europe/Berlin or America/New_York; got {zone!r}"]
    }
    assert response.context["result"].tz == "UTC"


@pytest.mark.parametrize(
    "query", ["q=a%00b", "metadata_tenant=acme%00", "agent=bil%00ling", "tz=UTC%00&started_from=2026-11-01"]
)
def test_changelist_filters_holding_a_nul_character_are_a_400_not_a_500(manager_client, query):
    ConversationFactory()
    response = manager_client.get(f"/admin/replay/conversation/?{query}")
    assert response.status_code == 400
    assert response.content == b"Query parameters must not contain NUL characters."
