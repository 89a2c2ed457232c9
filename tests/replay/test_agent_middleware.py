"""LangChain agent middleware conventions, on values written out by hand (the awkward shapes included)."""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from langchain_core.messages import HumanMessage

from replay.agent_middleware import (
    decided_calls, decision_outcome, edited_action, edited_call_step, is_agent_name, is_summary,
)
from replay.steps import ReplayStep, StepType
from replay.stored_values import StoredMessage


@dataclass
class Call:
    tool_name: str
    args: dict = field(default_factory=dict)


def request(*actions):
    return {"action_requests": [{"name": name, "args": args, "description": "?"} for name, args in actions]}


def test_only_the_marked_message_is_a_summary():
    marked = HumanMessage("Here is a summary", additional_kwargs={"lc_source": "summarization"})
    assert is_summary(StoredMessage.of(marked))
    assert not is_summary(StoredMessage.of(HumanMessage("Here is a summary")))
    assert not is_summary(StoredMessage("HumanMessage", {"type": "human", "additional_kwargs": "summarization"}))


def test_create_agent_nodes_are_not_agent_names():
    assert [is_agent_name(node) for node in ("model", "tools", "HumanInTheLoopMiddleware.after_model", "", "billing")] == [
        False, False, False, False, True,
    ]


def test_each_decision_goes_to_the_call_it_is_about():
    small, large, other = Call("refund", {"amount": 5}), Call("refund", {"amount": 500}), Call("email")
    decided = decided_calls(
        request=request(("refund", {"amount": 500}), ("refund", {"amount": 5}), ("unknown", {})),
        resume={"decisions": [{"type": "reject"}, {"type": "approve"}, {"type": "approve"}]},
        calls=[small, large, other],
    )
    assert decided == [(large, {"type": "reject"}), (small, {"type": "approve"})]


def test_other_shapes_are_not_the_middlewares():
    calls = [Call("refund")]
    assert decided_calls(request={"question": "ok?"}, resume={"decisions": []}, calls=calls) is None
    assert decided_calls(request=request(("refund", {})), resume={"approved": True}, calls=calls) is None
    assert decided_calls(request={"action_requests": ["refund"]}, resume={"decisions": [{"type": "approve"}]}, calls=calls) == []


def test_what_a_decision_says():
    assert [decision_outcome(kind) for kind in ({"type": "approve"}, {"type": "edit"}, {"type": "reject"}, {"type": "respond"}, "approve")] == [
        "approved", "approved", "rejected", "resolved", "resolved",
    ]
    assert edited_action({"type": "edit", "edited_action": {"name": "refund", "args": {"amount": 1}}}) == ("refund", {"amount": 1})
    assert edited_action({"type": "approve"}) is None
    assert edited_action({"type": "edit", "edited_action": {"name": "refund", "args": "1"}}) is None
    assert edited_action("edit") is None


def test_an_edit_to_another_tool_keeps_what_was_proposed():
    step = ReplayStep(
        index=0, type=StepType.TOOL_CALL, timestamp=datetime(2026, 11, 1, tzinfo=timezone.utc), checkpoint_id="c",
        checkpoint_ns="", tool_name="refund", tool_args={"amount": 80}, details={"message_id": "m"},
    )
    edited = edited_call_step(step, tool_name="store_credit", args={"amount": 50})
    assert (edited.tool_name, edited.tool_args) == ("store_credit", {"amount": 50})
    assert edited.details == {
        "message_id": "m", "edited_by_reviewer": True, "proposed_args": {"amount": 80}, "proposed_tool_name": "refund",
    }
