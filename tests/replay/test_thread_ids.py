"""Thread ids of any length and character reach their conversation everywhere: list, replay, CSV, admin."""

import csv
import dataclasses
import io
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from smart_support.agent.scenarios import plan_conversation
from tests.factories import ConversationFactory

ODD_THREAD_IDS = ["tenant/42/chat", "with space", "ünïcødé-会話", "x" * 300, "a.json", "50%?#&=+", "line\nbreak", "trailing/"]
STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def api(db) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser("boss"))
    return client


@pytest.mark.parametrize("thread_id", ODD_THREAD_IDS)
def test_list_links_each_conversation_to_its_replay_and_the_link_works(api, checkpoint_db, thread_id):
    ConversationFactory(thread_id=thread_id)

    listed = api.get("/api/conversations")
    (row,) = listed.json()["results"]
    replay = api.get(row["replay_url"])

    assert listed.status_code == 200 and row["thread_id"] == thread_id
    assert urlsplit(row["replay_url"]).path == "/api/replay/" + quote(thread_id, safe="")
    assert replay.status_code == 404  # reached the thread: it has a summary row but no checkpoints
    assert replay.json() == {"detail": f"no checkpoints for thread {thread_id!r}"}


def test_a_thread_id_with_a_slash_is_one_url_encoded_path_segment(api, checkpoint_db):
    assert api.get("/api/replay/a%2Fb").json() == {"detail": "no checkpoints for thread 'a/b'"}
    assert api.get("/api/replay/a/b").json() == {"detail": "no checkpoints for thread 'a/b'"}


@pytest.mark.parametrize("thread_id", ["tenant/7/chat 1", "ü/" + "y" * 300])
def test_replay_of_a_real_thread_with_an_odd_id_pages_through_its_steps(api, run_reference_agent, thread_id):
    plan = dataclasses.replace(plan_conversation(seed=4, index=0, scenario="refund_approved"), thread_id=thread_id)
    run_reference_agent(plan, STARTED_AT)

    first = api.get(f"/api/replay/{quote(thread_id, safe='')}", {"page_size": 4})
    second = api.get(first.json()["next"])

    assert first.status_code == 200 and first.json()["thread_id"] == thread_id
    assert first.json()["total_steps"] == 7
    assert second.status_code == 200 and [step["index"] for step in second.json()["steps"]] == [4, 5, 6]


def test_csv_export_carries_odd_thread_ids_intact(api):
    for thread_id in ODD_THREAD_IDS:
        ConversationFactory(thread_id=thread_id)

    response = api.get("/api/conversations", {"format": "csv"})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response.status_code == 200
    assert sorted(row["thread_id"] for row in rows) == sorted(ODD_THREAD_IDS)


def test_admin_changelist_links_odd_thread_ids_to_a_replay_page_that_opens(admin_client, run_reference_agent):
    thread_id = "tenant/7/chat ü"
    plan = dataclasses.replace(plan_conversation(seed=8, index=0, scenario="refund_rejected"), thread_id=thread_id)
    run_reference_agent(plan, STARTED_AT)
    ConversationFactory(thread_id=thread_id)

    changelist = admin_client.get("/admin/replay/conversation/")
    link = f"/admin/replay/conversation/replay/{quote(thread_id)}/"
    replay = admin_client.get(link)

    assert f'href="{link}"' in changelist.content.decode()
    assert replay.status_code == 200
    assert plan.turns[0].user_text in replay.content.decode()


@pytest.mark.parametrize("path", ["a%00b", "line%0Abreak", "x" * 300])
def test_admin_replay_of_an_unknown_or_impossible_thread_is_404(admin_client, checkpoint_db, path):
    assert admin_client.get(f"/admin/replay/conversation/replay/{path}/").status_code == 404
