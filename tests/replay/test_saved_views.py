"""Saved views: a manager names the list they are looking at (filters, search, order) and opens it again later."""

import re

import pytest
from django.contrib.auth.models import User

from analytics.storage import rebuild_rollups
from replay.models import SavedView
from tests.factories import ConversationFactory

LIST = "/admin/replay/conversation/"


@pytest.fixture
def conversations(db):
    ConversationFactory(thread_id="billing-escalated", agents_used=["supervisor", "billing"], escalated=True, status="escalated")
    ConversationFactory(thread_id="billing-resolved", agents_used=["supervisor", "billing"], resolved=True, status="resolved")
    ConversationFactory(thread_id="orders-escalated", agents_used=["supervisor", "orders"], escalated=True, status="escalated")
    rebuild_rollups()  # the agent filter offers the agents the rollups know


def listed(client, query: str) -> set[str]:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200
    return {row.thread_id for row in response.context["cl"].result_list}


def test_a_saved_view_opens_the_same_list_again(admin_client, conversations):
    query = "agent=billing&escalated__exact=1&o=2"
    saved = admin_client.post(f"{LIST}saved-views/", {"name": "Billing escalations", "query": f"{query}&p=3"}, follow=True)

    assert saved.redirect_chain[-1][0] == f"{LIST}?{query}"  # without the page it was on
    assert "Saved the view “Billing escalations”." in saved.content.decode()
    page = admin_client.get(LIST).content.decode()
    link = re.search(r'<a href="\?([^"]*)">Billing escalations</a>', page)
    assert link and listed(admin_client, link.group(1).replace("&amp;", "&")) == {"billing-escalated"}


def test_saving_a_name_again_replaces_that_view(admin_client, conversations):
    admin_client.post(f"{LIST}saved-views/", {"name": "Mine", "query": "agent=billing"})
    admin_client.post(f"{LIST}saved-views/", {"name": "  Mine ", "query": "agent=orders"})

    assert list(SavedView.objects.values_list("name", "query")) == [("Mine", "agent=orders")]


def test_a_view_needs_a_name(admin_client, conversations):
    refused = admin_client.post(f"{LIST}saved-views/", {"name": "   ", "query": "agent=billing"}, follow=True)

    assert "Give the view a name of 1 to 100 characters." in refused.content.decode()
    assert not SavedView.objects.exists()


def test_each_manager_sees_and_deletes_only_their_own_views(admin_client, client, conversations):
    admin_client.post(f"{LIST}saved-views/", {"name": "Admin's list", "query": "agent=billing"})
    other = User.objects.create_superuser("other-manager", password="x")
    client.force_login(other)

    assert "Admin&#x27;s list" not in client.get(LIST).content.decode()
    view = SavedView.objects.get()
    assert client.post(f"{LIST}saved-views/{view.pk}/delete/").status_code == 404
    assert SavedView.objects.exists()

    admin_client.post(f"{LIST}saved-views/{view.pk}/delete/")
    assert not SavedView.objects.exists()


def test_saving_and_deleting_are_posts_only(admin_client, conversations):
    assert admin_client.get(f"{LIST}saved-views/").status_code == 405
