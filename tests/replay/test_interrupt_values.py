"""What an interrupt payload is about, whatever shape an app gave it."""

import pytest

from replay.interrupt_values import interrupt_question, named_tools


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ({"action": "issue_refund", "question": "Refund $20?"}, {"issue_refund"}),
        ({"action_requests": [{"name": "send_email", "args": {}}, {"name": "call_customer"}]}, {"send_email", "call_customer"}),
        ([{"action_request": {"action": "book_hotel", "args": {}}, "config": {}}], {"book_hotel"}),
        ({"question": "Send this answer?"}, set()),
        ("Approve?", set()),
        ([], set()),
    ],
)
def test_the_tools_an_interrupt_names(value, names):
    assert named_tools(value) == names


def test_a_breakpoint_question_names_the_pending_calls_or_nodes():
    calls = {"pending_nodes": ["tools"], "tool_calls": [{"name": "book_hotel", "args": {"hotel_id": 8, "city": "Zürich"}}]}
    assert interrupt_question(calls) == 'book_hotel(hotel_id=8, city="Zürich")'
    assert interrupt_question({"pending_nodes": ["review", "notify"], "tool_calls": []}) == "Run review, notify?"
