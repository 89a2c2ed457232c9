"""The CSV export (admin action and ``/api/conversations?format=csv``): what a spreadsheet would run as a
formula is neutralised, and an export past the row limit is refused with a way to narrow it."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from replay.models import Conversation
from tests.factories import ConversationFactory

FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def export_from_admin(admin_client, conversations):
    return admin_client.post(
        "/admin/replay/conversation/",
        {"action": "export_csv", "_selected_action": [conversation.pk for conversation in conversations]},
    )


def export_from_api(admin_client, conversations):
    return admin_client.get("/api/conversations", {"format": "csv"})


@pytest.fixture
def formula_conversation(db, request):
    start = request.param
    return start, ConversationFactory(
        thread_id=f"{start}HYPERLINK(\"http://evil.example\")",
        first_message=f"{start}1+1",
        agents_used=[f"{start}agent"],
        unpriced_models=[f"{start}model"],
        metadata={f"{start}key": "value"},
        cache_savings_usd=Decimal("-0.00010000"),
    )


@pytest.mark.parametrize("export", [export_from_admin, export_from_api])
@pytest.mark.parametrize("formula_conversation", FORMULA_STARTS, indirect=True)
def test_cells_a_spreadsheet_would_run_get_a_leading_quote(admin_client, formula_conversation, export):
    start, conversation = formula_conversation

    (row,) = csv_rows(export(admin_client, [conversation]))

    assert row["thread_id"] == f"'{start}HYPERLINK(\"http://evil.example\")"
    assert row["first_message"] == f"'{start}1+1"
    assert row["agents_used"] == f"'{start}agent"
    assert row["unpriced_models"] == f"'{start}model"
    assert row["metadata"] == f"'{start}key=value"
    assert row["cache_savings_usd"] == "-0.00010000"  # a number the app computed stays a number


@pytest.mark.parametrize("export", [export_from_admin, export_from_api])
def test_ordinary_text_is_exported_as_it_is(admin_client, db, export):
    conversation = ConversationFactory(thread_id="chat 1=2", first_message="Refund of 3 - 1 items?", agents_used=["orders"])

    (row,) = csv_rows(export(admin_client, [conversation]))

    assert (row["thread_id"], row["first_message"], row["agents_used"]) == ("chat 1=2", "Refund of 3 - 1 items?", "orders")


@pytest.fixture
def three_conversations(db, settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "CSV_MAX_ROWS": 2}
    return [ConversationFactory(escalated=index == 0) for index in range(3)]


def test_api_refuses_an_export_past_the_row_limit_and_says_how_to_narrow_it(admin_client, three_conversations):
    response = admin_client.get("/api/conversations", {"format": "csv"})

    assert response.status_code == 400
    assert response.json() == {"format": [
        "a CSV export holds at most 2 conversations and these filters match more; narrow them (started_after, "
        "started_before, status, agent, search, metadata.<key>) or page through the JSON list"
    ]}


def test_api_exports_up_to_the_row_limit(admin_client, three_conversations):
    response = admin_client.get("/api/conversations", {"format": "csv", "escalated": "false"})

    assert response.status_code == 200
    assert len(csv_rows(response)) == 2


def test_admin_refuses_an_export_past_the_row_limit_with_an_error_message(admin_client, three_conversations):
    response = export_from_admin(admin_client, Conversation.objects.all())

    assert response.status_code == 302
    assert [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)] == [(
        "error",
        "Not exported: a CSV export holds at most 2 conversations and more are selected. "
        "Narrow the list with the filters or a search, then select again.",
    )]
