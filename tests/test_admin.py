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
