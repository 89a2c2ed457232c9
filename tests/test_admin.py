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


# -- How your agent is read ------------------------------------------------------------------------

def _staff(django_user_model, *, can_view_conversations: bool):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="staff", password="pw", is_staff=True)
    if can_view_conversations:
        user.user_permissions.add(*Permission.objects.filter(
            codename__in=["view_conversation", "view_all_tenants"], content_type__app_label="replay"
        ))
    return user


def test_inspection_page_shows_the_reading_and_the_settings_to_paste(client, django_user_model, checkpointer):
    from tests.apps.routing_tools_app import build_routing_tools_app

    build_routing_tools_app(checkpointer=checkpointer).invoke(
        {"messages": [("user", "move my flight to LX 38")]}, {"configurable": {"thread_id": "travel-1"}}
    )
    client.force_login(_staff(django_user_model, can_view_conversations=True))

    response = client.get("/admin/replay/inspection/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>How your agent is read</h1>" in page
    assert "Read the 1 most recent threads (asked for up to 200), read-only" in page
    assert '<pre class="settings">SMART_SUPPORT_ROUTING_TOOLS=CompleteOrEscalate,ToFlightBookingAssistant</pre>' in page
    assert '<pre class="settings">SMART_SUPPORT_ACTIVE_AGENT_CHANNEL=dialog_state</pre>' in page
    assert "<code>enter_update_flight</code>" in page and "<code>dialog_state</code>" in page


def test_inspection_page_is_linked_from_the_admin_index(client, django_user_model):
    client.force_login(_staff(django_user_model, can_view_conversations=True))
    assert b'href="/admin/replay/inspection/"' in client.get("/admin/").content


def test_inspection_page_of_one_unknown_thread_says_so(client, django_user_model, checkpoint_db):
    client.force_login(_staff(django_user_model, can_view_conversations=True))
    response = client.get("/admin/replay/inspection/", {"thread": "nope"})
    assert response.status_code == 400
    assert "thread: no checkpoints for thread &#x27;nope&#x27;" in response.content.decode()


def test_inspection_page_refuses_a_bad_sample_size(client, django_user_model, checkpoint_db):
    client.force_login(_staff(django_user_model, can_view_conversations=True))
    response = client.get("/admin/replay/inspection/", {"threads": "0"})
    assert response.status_code == 400
    assert "threads: must be a whole number from 1 to 2000; got &#x27;0&#x27;" in response.content.decode()


def test_inspection_page_needs_the_view_permission_on_conversations(client, django_user_model, checkpoint_db):
    client.force_login(_staff(django_user_model, can_view_conversations=False))
    assert client.get("/admin/replay/inspection/").status_code == 403
    assert b"/admin/replay/inspection/" not in client.get("/admin/").content


def test_inspection_page_is_for_staff_only(client, django_user_model, checkpoint_db):
    client.force_login(django_user_model.objects.create_user(username="customer", password="pw"))
    response = client.get("/admin/replay/inspection/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_price_with_an_invalid_pattern_is_refused(manager_client):
    from analytics.models import ModelPrice

    form = {
        "model": "acme-chat", "match_pattern": "acme-chat(-v\\d+", "input_usd_per_million": "1",
        "output_usd_per_million": "4", "effective_from_0": "2026-01-01", "effective_from_1": "00:00:00",
    }
    response = manager_client.post("/admin/analytics/modelprice/add/", form)

    assert "Not a regular expression: missing ), unterminated subpattern at position 9." in response.content.decode()
    assert not ModelPrice.objects.filter(model="acme-chat").exists()
    manager_client.post("/admin/analytics/modelprice/add/", {**form, "match_pattern": "acme-chat(-v\\d+)?"})
    assert ModelPrice.objects.get(model="acme-chat").match_pattern == "acme-chat(-v\\d+)?"


def test_price_list_says_which_prices_match_only_their_exact_name(manager_client):
    page = manager_client.get("/admin/analytics/modelprice/", {"q": "gpt-4o-2024-05-13"}).content.decode()
    assert "(exact name only)" in page
    page = manager_client.get("/admin/analytics/modelprice/", {"model": "gpt-4o-mini"}).content.decode()
    assert "(?:openai/)?gpt-4o-mini(?:-\\d{4}-\\d{2}-\\d{2})?" in page


def test_replay_page_shows_cached_and_reasoning_tokens_of_a_call(manager_client, checkpointer):
    from datetime import datetime, timezone

    from tests.apps.provider_app import anthropic_result, openai_result, run_recorded_conversation

    started_at = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
    run_recorded_conversation(
        checkpointer=checkpointer, thread_id="cached", question="Where is ORD-10423?", started_at=started_at,
        results=[anthropic_result("anthropic_claude-sonnet-4-5_cache_write.json"),
                 anthropic_result("anthropic_claude-sonnet-4-5_cache_read.json")],
    )
    run_recorded_conversation(
        checkpointer=checkpointer, thread_id="reasoning", question="Refund ORD-10423?", started_at=started_at,
        results=[openai_result("openai_o4-mini_reasoning.json")],
    )

    cached = manager_client.get("/admin/replay/conversation/replay/cached/").content.decode()
    assert '3599 in (3187 cache write) / 87 out · <span class="step-cost">$0.0145</span>' in cached
    assert '3750 in (3187 cache read) / 64 out · <span class="step-cost">$0.0036</span> (cache savings $0.0086)' in cached
    assert '<strong class="total-cost">$0.0181</strong>' in cached
    assert "Cached input<strong>3187 read / 3187 written</strong>" in cached
    reasoning = manager_client.get("/admin/replay/conversation/replay/reasoning/").content.decode()
    assert '1187 in / 1466 out (1216 reasoning) · <span class="step-cost">$0.0078</span>' in reasoning
    assert "Reasoning tokens<strong>1216</strong>" in reasoning
