"""Replays of an email assistant built the way the public Agent Inbox examples build it
(tests/apps/email_assistant_app.py), read with no setting at all."""

import pytest

from replay.timeline import StepType, build_timeline
from tests.apps.email_assistant_conversations import NOW, THREADS, run_inbox_thread

THREADS_BY_ID = {thread.thread_id: thread for thread in THREADS}

USER, CALL, RESULT, DECISION = "user_message", "tool_call", "tool_result", "decision"
INTERRUPT, RESOLUTION, AGENT = "interrupt", "interrupt_resolution", "response_agent"
EMAIL = (USER, None, None, None)  # the email the run was started with, in its own channel
PROMPT = (USER, None, None, None)  # the triage's "Respond to the email: …"
TRIAGE = "triage_interrupt_handler"
DONE = (DECISION, AGENT, "Done", None)


def reviewed(tool, outcome, result=None):
    return [
        (CALL, AGENT, tool, None), (INTERRUPT, AGENT, None, "resolved"), (RESOLUTION, AGENT, None, outcome),
        (RESULT, AGENT, tool, result or ("success" if outcome == "approved" else "rejected")),
    ]


EXPECTED = {
    "inbox-triaged-away": [EMAIL],
    "inbox-notify-ignored": [EMAIL, (INTERRUPT, TRIAGE, None, "resolved"), (RESOLUTION, TRIAGE, None, "rejected")],
    "inbox-accepted": [EMAIL, PROMPT, *reviewed("write_email", "approved"), DONE],
    "inbox-edited": [EMAIL, PROMPT, *reviewed("write_email", "approved"), DONE],
    "inbox-draft-ignored": [EMAIL, PROMPT, *reviewed("write_email", "rejected")],
    "inbox-feedback": [EMAIL, PROMPT, *reviewed("write_email", "rejected"), *reviewed("write_email", "approved"), DONE],
    "inbox-question-then-meeting": [
        EMAIL, PROMPT, *reviewed("Question", "rejected"), *reviewed("schedule_meeting", "approved"),
        *reviewed("write_email", "approved"), DONE,
    ],
    "inbox-draft-waiting": [EMAIL, PROMPT, (CALL, AGENT, "write_email", None), (INTERRUPT, AGENT, None, "pending")],
    "inbox-draft-expired": [EMAIL, PROMPT, (CALL, AGENT, "write_email", None), (INTERRUPT, AGENT, None, "expired")],
    "inbox-tool-raises": [
        EMAIL, PROMPT, (CALL, AGENT, "check_calendar_availability", None), (RESULT, AGENT, "check_calendar_availability", "error"),
    ],
    "inbox-notify-answered": [
        EMAIL, (INTERRUPT, TRIAGE, None, "resolved"), (RESOLUTION, TRIAGE, None, "rejected"),
        (USER, None, None, None), (USER, None, None, None), *reviewed("write_email", "approved"), DONE,
    ],
}


def shape(steps):
    return [
        (DECISION if step.details.get("decision") else step.type.value, step.agent, step.tool_name, step.status) for step in steps
    ]


def timeline_of(checkpointer, source, thread_id):
    run_inbox_thread(checkpointer, THREADS_BY_ID[thread_id])
    return build_timeline(source.get_thread(thread_id=thread_id), now=NOW)


@pytest.mark.parametrize("thread_id", list(EXPECTED))
def test_each_email_replays_step_by_step(thread_id, checkpointer, checkpoint_source):
    assert shape(timeline_of(checkpointer, checkpoint_source, thread_id)) == EXPECTED[thread_id]


def test_the_email_in_its_own_channel_is_the_customers_message(checkpointer, checkpoint_source):
    steps = timeline_of(checkpointer, checkpoint_source, "inbox-triaged-away")

    assert steps[0].content == (
        "author: Shop <deals@shop.example>\nto: Lance <lance@example.com>\nsubject: November deals\n"
        "email_thread: 50% off everything this week!"
    )
    assert steps[0].details["input_channel"] == "email_input"


def test_without_input_channels_an_email_triaged_away_shows_nothing(settings, checkpointer, checkpoint_source):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "INPUT_CHANNELS": []}

    assert timeline_of(checkpointer, checkpoint_source, "inbox-triaged-away") == []


def test_the_question_is_the_requested_action_and_the_description_is_kept(checkpointer, checkpoint_source):
    steps = timeline_of(checkpointer, checkpoint_source, "inbox-accepted")

    interrupt = next(step for step in steps if step.type == StepType.INTERRUPT)
    assert interrupt.content == 'write_email(to="alice@example.com", subject="Re: API docs", content="They are at docs.example.com/auth.")'
    assert interrupt.details["description"].startswith("## Original Email\n\n**Subject**: API docs")


def test_an_edited_draft_shows_what_was_sent_and_keeps_what_the_model_proposed(checkpointer, checkpoint_source):
    steps = timeline_of(checkpointer, checkpoint_source, "inbox-edited")

    call = next(step for step in steps if step.type == StepType.TOOL_CALL)
    assert call.tool_args["content"] == "Tuesday at 2pm works for me."
    assert call.details["proposed_args"]["content"] == "Sure, any time Tuesday."
    assert sum(step.input_tokens or 0 for step in steps if step.tool_call_id == "w4") > 0  # its tokens counted once, on the call


def test_an_edited_meeting_shows_the_duration_that_was_booked(checkpointer, checkpoint_source):
    steps = timeline_of(checkpointer, checkpoint_source, "inbox-question-then-meeting")

    meeting = next(step for step in steps if step.tool_name == "schedule_meeting" and step.type == StepType.TOOL_CALL)
    assert (meeting.tool_args["duration_minutes"], meeting.details["proposed_args"]["duration_minutes"]) == (45, 30)


def test_an_edit_the_app_did_not_write_back_is_read_from_the_response(checkpointer, checkpoint_source):
    from dataclasses import replace

    from replay.approval_steps import ApprovalSteps, ToolCallInfo

    steps = timeline_of(checkpointer, checkpoint_source, "inbox-accepted")
    call = replace(next(step for step in steps if step.type == StepType.TOOL_CALL), index=0)
    builder = ApprovalSteps()
    builder.steps = [call]
    info = ToolCallInfo(call_id=call.tool_call_id, agent=AGENT, tool_name="write_email", args=call.tool_args)

    builder._show_edits([{"action": "write_email", "args": {"to": "bob@example.com"}}], [info])

    edited = builder.steps[0]
    assert (edited.tool_args, edited.details["proposed_args"]) == ({"to": "bob@example.com"}, call.tool_args)


def test_a_response_is_a_rejection_whose_reason_is_the_reviewers_text(checkpointer, checkpoint_source):
    steps = timeline_of(checkpointer, checkpoint_source, "inbox-feedback")

    resolution = next(step for step in steps if step.type == StepType.INTERRUPT_RESOLUTION)
    assert (resolution.status, resolution.content, resolution.details["reason"]) == (
        "rejected", "Say it is ready by Friday", "Say it is ready by Friday",
    )


def test_done_is_the_agents_decision_not_a_tool_call(checkpointer, checkpoint_source):
    steps = timeline_of(checkpointer, checkpoint_source, "inbox-accepted")

    done = steps[-1]
    assert (done.type, done.tool_name, done.tool_args, done.details["decision"]) == (StepType.TOOL_CALL, "Done", {"done": True}, True)
    assert done.input_tokens > 0  # the model's reply that decided is still an LLM call


def test_a_tool_that_raised_inside_the_response_agent_is_one_error_after_its_call(checkpointer, checkpoint_source):
    steps = timeline_of(checkpointer, checkpoint_source, "inbox-tool-raises")

    assert [step.type for step in steps].count(StepType.UNKNOWN) == 0
    assert steps[-1].content == "ValueError(\"the calendar has no day called 'Someday'\")"
