"""Eight conversations with the tutorial-style app, as its users and reviewers would have them: a booking
approved, one rejected by ``update_state`` as the sensitive-tools node, one rejected by a new
``ToolMessage`` input (the tutorial's own way), one by a new user message instead, one pending, one left to
expire, a tool error caught by the tutorial's fallback, and three turns over the dialog stack.

Each turn is sent as the tutorial sends it: ``{"messages": ("user", text)}``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import time_machine
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.base import id as checkpoint_id_module

from smart_support.agent.chat_model import replies_in_order
from tests.apps.tutorial_app import build_tutorial_app, reply

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)  # when the back office reads them
DENIAL = "API call denied by user. Reasoning: '{}'. Continue assisting, accounting for the user's input."


@dataclass(frozen=True)
class TutorialThread:
    thread_id: str
    started_at: datetime
    replies: tuple[AIMessage, ...]
    # ("say", text) | ("approve",) | ("deny_by_update", node, call id, reason) | ("deny_by_message", call id, reason)
    actions: tuple[tuple[str, ...], ...]


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


THREADS = (
    TutorialThread("tut-flight-approved", _at(10, 9), (
        reply("", ("ToFlightBookingAssistant", {"request": "move to an evening flight"}, "r1"), message_id="m1-1"),
        reply("", ("search_flights", {"departure_airport": "CDG", "arrival_airport": "BSL"}, "s1"), message_id="m1-2"),
        reply("", ("update_ticket_to_new_flight", {"ticket_no": "7240005432906569", "new_flight_id": "LX0114"}, "u1"), message_id="m1-3"),
        reply("Your ticket is now on LX0114 at 18:05.", message_id="m1-4"),
    ), (("say", "Please move my flight to this evening"), ("approve",))),
    TutorialThread("tut-car-rejected-by-update", _at(10, 9, 30), (
        reply("", ("ToBookCarRental", {"location": "Basel", "request": "a compact car"}, "r2"), message_id="m2-1"),
        reply("", ("book_car_rental", {"rental_id": 3}, "b2"), message_id="m2-2"),
        reply("", ("CompleteOrEscalate", {"reason": "the user declined the booking"}, "c2"), message_id="m2-3"),
        reply("Maybe another time then.", message_id="m2-4"),
    ), (("say", "I need a car in Basel"), ("deny_by_update", "book_car_rental_sensitive_tools", "b2", "too expensive"))),
    TutorialThread("tut-hotel-rejected-by-tool-message", _at(10, 10), (
        reply("", ("ToHotelBookingAssistant", {"location": "Basel", "request": "the Hilton"}, "r3"), message_id="m3-1"),
        reply("", ("search_hotels", {"location": "Basel"}, "s3"), message_id="m3-2"),
        reply("", ("book_hotel", {"hotel_id": 8}, "b3"), message_id="m3-3"),
        reply("Understood, I did not book it.", message_id="m3-4"),
    ), (("say", "Book the Hilton in Basel"), ("deny_by_message", "b3", "wrong dates"))),
    TutorialThread("tut-flight-rejected-by-new-question", _at(10, 10, 30), (
        reply("", ("ToFlightBookingAssistant", {"request": "move to Friday"}, "r8"), message_id="m8-1"),
        reply("", ("update_ticket_to_new_flight", {"ticket_no": "7240005432906569", "new_flight_id": "LX0120"}, "u8"), message_id="m8-2"),
        reply("OK, I left your ticket as it is.", message_id="m8-3"),
    ), (("say", "Move my flight to Friday"), ("say", "No wait, keep my flight"))),
    TutorialThread("tut-excursion-pending", _at(10, 11), (
        reply("", ("ToBookExcursion", {"location": "Basel", "request": "the museum tour"}, "r4"), message_id="m4-1"),
        reply("", ("book_excursion", {"recommendation_id": 2}, "b4"), message_id="m4-2"),
    ), (("say", "Book the Kunstmuseum tour"),)),
    TutorialThread("tut-cancel-expired", _at(9, 9), (
        reply("", ("ToFlightBookingAssistant", {"request": "cancel the ticket"}, "r5"), message_id="m5-1"),
        reply("", ("cancel_ticket", {"ticket_no": "7240005432906569"}, "k5"), message_id="m5-2"),
    ), (("say", "Cancel my ticket"),)),
    TutorialThread("tut-tool-error", _at(9, 10), (
        reply("", ("search_flights", {"departure_airport": "Paris", "arrival_airport": "BSL"}, "e6"), message_id="m6-1"),
        reply("Sorry, I could not search flights from Paris.", message_id="m6-2"),
    ), (("say", "Flights from Paris to Basel?"),)),
    TutorialThread("tut-multi-turn", _at(9, 11), (
        reply("", ("lookup_policy", {"query": "change fee"}, "p7"), message_id="m7-1"),
        reply("Yes, changes are free up to 24 hours before departure.", message_id="m7-2"),
        reply("", ("ToHotelBookingAssistant", {"location": "Basel", "request": "a room for tonight"}, "r7"), message_id="m7-3"),
        reply("", ("book_hotel", {"hotel_id": 5}, "b7"), message_id="m7-4"),
        reply("Booked: Hilton Basel, tonight.", message_id="m7-5"),
        reply("", ("CompleteOrEscalate", {"cancel": False, "reason": "the booking is done"}, "c7"), message_id="m7-6"),
        reply("Have a good trip!", message_id="m7-7"),
    ), (("say", "Can I change my flight for free?"), ("say", "Then book me a hotel in Basel"), ("approve",),
        ("say", "Thanks, that's all"))),
)


def run_tutorial_thread(checkpointer, thread: TutorialThread) -> None:
    """Play one conversation through the real graph and PostgresSaver, two minutes between actions."""
    graph = build_tutorial_app(reply_for=replies_in_order(thread.replies), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread.thread_id}, "metadata": {"tenant": "travel"}}
    checkpoint_id_module._last_v6_timestamp = None  # each conversation has its own clock
    with time_machine.travel(thread.started_at, tick=True) as traveller:
        for action, *arguments in thread.actions:
            if action == "say":
                graph.invoke({"messages": ("user", arguments[0])}, config)
            elif action == "approve":
                graph.invoke(None, config)
            elif action == "deny_by_update":
                node, call_id, reason = arguments
                graph.update_state(config, {"messages": [ToolMessage(DENIAL.format(reason), tool_call_id=call_id)]}, as_node=node)
                graph.invoke(None, config)
            elif action == "deny_by_message":
                call_id, reason = arguments
                graph.invoke({"messages": [ToolMessage(DENIAL.format(reason), tool_call_id=call_id)]}, config)
            traveller.shift(timedelta(minutes=2))


def run_tutorial_threads(checkpointer) -> None:
    for thread in THREADS:
        run_tutorial_thread(checkpointer, thread)
