"""Eleven emails through the Agent Inbox style assistant (tests/apps/email_assistant_app.py), reviewed the
way Agent Inbox users review them: triaged away, a notification ignored, a notification answered, a draft
accepted, edited, ignored, sent back with feedback, a question answered and a meeting edited, a draft left
waiting (and one left until it expired), and a calendar lookup that raises inside the response agent.

Each email is the run's input in its own channel: ``{"email_input": {...}}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import time_machine
from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.types import Command

from smart_support.agent.chat_model import replies_in_order
from tests.apps.email_assistant_app import Classification, EmailInput, HumanResponse, build_email_assistant, reply

NOW = datetime(2026, 11, 12, 12, 0, tzinfo=timezone.utc)  # when the back office reads them

ACCEPT = HumanResponse(type="accept", args=None)
IGNORE = HumanResponse(type="ignore", args=None)


def respond(text: str) -> HumanResponse:
    return HumanResponse(type="response", args=text)


def edit(action: str, args: dict) -> HumanResponse:
    return HumanResponse(type="edit", args={"action": action, "args": args})


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


def _email(subject: str, body: str, author: str = "Alice Smith <alice@example.com>") -> EmailInput:
    return EmailInput(author=author, to="Lance <lance@example.com>", subject=subject, email_thread=body)


@dataclass(frozen=True)
class InboxThread:
    thread_id: str
    started_at: datetime
    email: EmailInput
    classification: Classification
    replies: tuple[AIMessage, ...] = ()
    resumes: tuple[list[HumanResponse], ...] = field(default=())


def _draft(to: str, subject: str, content: str) -> dict:
    return {"to": to, "subject": subject, "content": content}


THREADS = (
    InboxThread("inbox-triaged-away", _at(11, 9), _email("November deals", "50% off everything this week!", "Shop <deals@shop.example>"), "ignore"),
    InboxThread(
        "inbox-notify-ignored", _at(11, 9, 30), _email("Build failed", "The nightly build failed on main.", "CI <ci@example.com>"),
        "notify", resumes=([IGNORE],),
    ),
    InboxThread("inbox-accepted", _at(11, 10), _email("API docs", "Where are the docs for the /auth endpoint?"), "respond", (
        reply("", ("write_email", _draft("alice@example.com", "Re: API docs", "They are at docs.example.com/auth."), "w3"), message_id="m3-1"),
        reply("", ("Done", {"done": True}, "d3"), message_id="m3-2"),
    ), ([ACCEPT],)),
    InboxThread("inbox-edited", _at(11, 10, 30), _email("Quick call?", "Can we talk on Tuesday?"), "respond", (
        reply("", ("write_email", _draft("alice@example.com", "Re: Quick call?", "Sure, any time Tuesday."), "w4"), message_id="m4-1"),
        reply("", ("Done", {"done": True}, "d4"), message_id="m4-2"),
    ), ([edit("write_email", _draft("alice@example.com", "Re: Quick call?", "Tuesday at 2pm works for me."))],)),
    InboxThread("inbox-draft-ignored", _at(11, 11), _email("Survey", "Would you fill in our survey?", "Bob <bob@example.com>"), "respond", (
        reply("", ("write_email", _draft("bob@example.com", "Re: Survey", "Happy to!"), "w5"), message_id="m5-1"),
    ), ([IGNORE],)),
    InboxThread("inbox-feedback", _at(11, 11, 30), _email("Report", "When will the report be ready?"), "respond", (
        reply("", ("write_email", _draft("alice@example.com", "Re: Report", "Soon."), "w6a"), message_id="m6-1"),
        reply("", ("write_email", _draft("alice@example.com", "Re: Report", "It will be ready by Friday."), "w6b"), message_id="m6-2"),
        reply("", ("Done", {"done": True}, "d6"), message_id="m6-3"),
    ), ([respond("Say it is ready by Friday")], [ACCEPT])),
    InboxThread("inbox-question-then-meeting", _at(11, 12), _email("Planning", "Let's plan Q1 together."), "respond", (
        reply("", ("Question", {"content": "Which day suits you?"}, "q7"), message_id="m7-1"),
        reply("", ("schedule_meeting", {"attendees": ["alice@example.com"], "subject": "Q1 planning", "duration_minutes": 30,
                                        "preferred_day": "Tuesday"}, "s7"), message_id="m7-2"),
        reply("", ("write_email", _draft("alice@example.com", "Re: Planning", "Invite sent for Tuesday."), "w7"), message_id="m7-3"),
        reply("", ("Done", {"done": True}, "d7"), message_id="m7-4"),
    ), ([respond("Tuesday")],
        [edit("schedule_meeting", {"attendees": ["alice@example.com"], "subject": "Q1 planning", "duration_minutes": 45,
                                   "preferred_day": "Tuesday"})],
        [ACCEPT])),
    InboxThread("inbox-draft-waiting", _at(12, 11), _email("Invoice", "Please confirm you received the invoice."), "respond", (
        reply("", ("write_email", _draft("alice@example.com", "Re: Invoice", "Received, thanks."), "w8"), message_id="m8-1"),
    )),
    InboxThread("inbox-draft-expired", _at(11, 8), _email("Lunch", "Lunch on Thursday?"), "respond", (
        reply("", ("write_email", _draft("alice@example.com", "Re: Lunch", "Yes!"), "w9"), message_id="m9-1"),
    )),
    InboxThread("inbox-tool-raises", _at(11, 13), _email("Meet soon", "Are you free someday next week?"), "respond", (
        reply("", ("check_calendar_availability", {"day": "Someday"}, "c10"), message_id="m10-1"),
    )),
    InboxThread(
        "inbox-notify-answered", _at(11, 14), _email("Offsite", "The offsite is confirmed for May.", "HR <hr@example.com>"), "notify", (
            reply("", ("write_email", _draft("hr@example.com", "Re: Offsite", "I will be there."), "w11"), message_id="m11-1"),
            reply("", ("Done", {"done": True}, "d11"), message_id="m11-2"),
        ), ([respond("Tell them I will be there")], [ACCEPT]),
    ),
)


def run_inbox_thread(checkpointer, thread: InboxThread) -> None:
    """Play one email through the real graph and PostgresSaver, two minutes between a stop and its review."""
    graph = build_email_assistant(
        reply_for=replies_in_order(thread.replies), classify=lambda email: thread.classification, checkpointer=checkpointer
    )
    config = {"configurable": {"thread_id": thread.thread_id}, "metadata": {"tenant": "inbox"}}
    checkpoint_id_module._last_v6_timestamp = None  # each conversation has its own clock
    with time_machine.travel(thread.started_at, tick=True) as traveller:
        try:
            graph.invoke({"email_input": thread.email}, config)
            for resume in thread.resumes:
                traveller.shift(timedelta(minutes=2))
                graph.invoke(Command(resume=resume), config)
        except ValueError:
            pass  # the calendar lookup that raises: the run ends with the error stored


def run_inbox_threads(checkpointer) -> None:
    for thread in THREADS:
        run_inbox_thread(checkpointer, thread)
