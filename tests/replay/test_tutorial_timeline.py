"""Replays of an app built the way LangGraph's customer-support tutorial builds it (tests/apps/tutorial_app.py),
read with only the two settings such an app needs: its agent nodes (ROUTER_TARGETS) and its routing tools."""

import pytest

from replay.timeline import StepType, build_timeline
from tests.apps.tutorial_app import AGENT_NODES, ROUTING_TOOLS
from tests.apps.tutorial_conversations import DENIAL, NOW, THREADS, run_tutorial_thread

THREADS_BY_ID = {thread.thread_id: thread for thread in THREADS}

USER, AGENT, CALL, RESULT, HANDOFF = "user_message", "agent_message", "tool_call", "tool_result", "handoff"
INTERRUPT, RESOLUTION = "interrupt", "interrupt_resolution"

EXPECTED = {
    "tut-flight-approved": [
        (USER, None, None, None),
        (HANDOFF, "update_flight", "ToFlightBookingAssistant", None),
        (CALL, "update_flight", "search_flights", None),
        (RESULT, "update_flight", "search_flights", "success"),
        (CALL, "update_flight", "update_ticket_to_new_flight", None),
        (INTERRUPT, "update_flight", None, "resolved"),
        (RESOLUTION, "update_flight", None, "approved"),
        (RESULT, "update_flight", "update_ticket_to_new_flight", "success"),
        (AGENT, "update_flight", None, None),
    ],
    "tut-car-rejected-by-update": [
        (USER, None, None, None),
        (HANDOFF, "book_car_rental", "ToBookCarRental", None),
        (CALL, "book_car_rental", "book_car_rental", None),
        (INTERRUPT, "book_car_rental", None, "resolved"),
        (RESOLUTION, "book_car_rental", None, "rejected"),
        (HANDOFF, "primary_assistant", "CompleteOrEscalate", None),
        (AGENT, "primary_assistant", None, None),
    ],
    "tut-hotel-rejected-by-tool-message": [
        (USER, None, None, None),
        (HANDOFF, "book_hotel", "ToHotelBookingAssistant", None),
        (CALL, "book_hotel", "search_hotels", None),
        (RESULT, "book_hotel", "search_hotels", "success"),
        (CALL, "book_hotel", "book_hotel", None),
        (INTERRUPT, "book_hotel", None, "resolved"),
        (RESOLUTION, "book_hotel", None, "rejected"),
        (AGENT, "book_hotel", None, None),
    ],
    "tut-flight-rejected-by-new-question": [
        (USER, None, None, None),
        (HANDOFF, "update_flight", "ToFlightBookingAssistant", None),
        (CALL, "update_flight", "update_ticket_to_new_flight", None),
        (INTERRUPT, "update_flight", None, "resolved"),
        (RESOLUTION, "update_flight", None, "rejected"),
        (USER, None, None, None),
        (AGENT, "update_flight", None, None),
    ],
    "tut-excursion-pending": [
        (USER, None, None, None),
        (HANDOFF, "book_excursion", "ToBookExcursion", None),
        (CALL, "book_excursion", "book_excursion", None),
        (INTERRUPT, "book_excursion", None, "pending"),
    ],
    "tut-cancel-expired": [
        (USER, None, None, None),
        (HANDOFF, "update_flight", "ToFlightBookingAssistant", None),
        (CALL, "update_flight", "cancel_ticket", None),
        (INTERRUPT, "update_flight", None, "expired"),
    ],
    "tut-tool-error": [
        (USER, None, None, None),
        (CALL, "primary_assistant", "search_flights", None),
        (RESULT, "primary_assistant", "search_flights", "error"),
        (AGENT, "primary_assistant", None, None),
    ],
    "tut-multi-turn": [
        (USER, None, None, None),
        (CALL, "primary_assistant", "lookup_policy", None),
        (RESULT, "primary_assistant", "lookup_policy", "success"),
        (AGENT, "primary_assistant", None, None),
        (USER, None, None, None),
        (HANDOFF, "book_hotel", "ToHotelBookingAssistant", None),
        (CALL, "book_hotel", "book_hotel", None),
        (INTERRUPT, "book_hotel", None, "resolved"),
        (RESOLUTION, "book_hotel", None, "approved"),
        (RESULT, "book_hotel", "book_hotel", "success"),
        (AGENT, "book_hotel", None, None),
        (USER, None, None, None),
        (HANDOFF, "primary_assistant", "CompleteOrEscalate", None),
        (AGENT, "primary_assistant", None, None),
    ],
}


@pytest.fixture
def tutorial_settings(settings):
    """What a tutorial-style app is read with: its agent nodes and its routing tools, nothing else."""
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ROUTER_TARGETS": list(AGENT_NODES), "ROUTING_TOOLS": list(ROUTING_TOOLS)}
    return settings


def shape(steps):
    return [(step.type.value, step.agent, step.tool_name, step.status) for step in steps]


def timeline_of(source, thread_id):
    return build_timeline(source.get_thread(thread_id=thread_id), now=NOW)


@pytest.mark.parametrize("thread_id", list(EXPECTED))
def test_each_tutorial_conversation_replays_step_by_step(thread_id, tutorial_settings, checkpointer, checkpoint_source):
    run_tutorial_thread(checkpointer, THREADS_BY_ID[thread_id])

    assert shape(timeline_of(checkpoint_source, thread_id)) == EXPECTED[thread_id]


def test_one_user_message_per_turn_with_the_words_typed(tutorial_settings, checkpointer, checkpoint_source):
    thread = THREADS_BY_ID["tut-multi-turn"]
    run_tutorial_thread(checkpointer, thread)

    steps = timeline_of(checkpoint_source, thread.thread_id)

    typed = [arguments[0] for action, *arguments in thread.actions if action == "say"]
    assert [step.content for step in steps if step.type == StepType.USER_MESSAGE] == typed


def test_a_breakpoint_asks_what_the_pending_tools_were_about_to_do(tutorial_settings, checkpointer, checkpoint_source):
    run_tutorial_thread(checkpointer, THREADS_BY_ID["tut-flight-approved"])

    interrupt = next(step for step in timeline_of(checkpoint_source, "tut-flight-approved") if step.type == StepType.INTERRUPT)

    assert interrupt.content == 'update_ticket_to_new_flight(ticket_no="7240005432906569", new_flight_id="LX0114")'
    assert interrupt.details["value"]["pending_nodes"] == ["update_flight_sensitive_tools"]
    assert [call["id"] for call in interrupt.details["value"]["tool_calls"]] == ["u1"]


@pytest.mark.parametrize(
    ("thread_id", "via", "reason"),
    [
        ("tut-car-rejected-by-update", "update", DENIAL.format("too expensive")),
        ("tut-hotel-rejected-by-tool-message", "input", DENIAL.format("wrong dates")),
        ("tut-flight-rejected-by-new-question", "input", None),
    ],
)
def test_a_rejection_shows_the_message_it_injected_as_the_reason(
    thread_id, via, reason, tutorial_settings, checkpointer, checkpoint_source
):
    run_tutorial_thread(checkpointer, THREADS_BY_ID[thread_id])

    steps = timeline_of(checkpoint_source, thread_id)

    resolution = next(step for step in steps if step.type == StepType.INTERRUPT_RESOLUTION)
    assert (resolution.details["via"], resolution.details["reason"], resolution.content) == (via, reason, reason)
    assert all(reason is None or reason not in (step.content or "") for step in steps if step.type == StepType.TOOL_RESULT)


def test_the_wait_for_a_breakpoint_decision_is_measured(tutorial_settings, checkpointer, checkpoint_source):
    run_tutorial_thread(checkpointer, THREADS_BY_ID["tut-flight-approved"])

    resolution = next(step for step in timeline_of(checkpoint_source, "tut-flight-approved") if step.type == StepType.INTERRUPT_RESOLUTION)

    assert 120_000 <= resolution.details["wait_ms"] < 125_000  # the reviewer answered two minutes later


def test_the_dialog_stack_names_the_agent_on_top(settings, checkpointer, checkpoint_source):
    """With only the stack as the active-agent channel, each push and pop of dialog_state is a handoff,
    the pop to an empty stack handing back to the agent that answers next."""
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ACTIVE_AGENT_CHANNEL": "dialog_state"}
    run_tutorial_thread(checkpointer, THREADS_BY_ID["tut-multi-turn"])

    steps = timeline_of(checkpoint_source, "tut-multi-turn")

    handoffs = [(step.details["from_agent"], step.agent, step.details["via"]) for step in steps if step.type == StepType.HANDOFF]
    assert handoffs == [
        ("primary_assistant", "book_hotel", "dialog_state"),
        ("book_hotel", "primary_assistant", "dialog_state"),
    ]
    # the third turn goes straight to the agent on top of the stack: its reply is the hotel assistant's
    assert [step.agent for step in steps if step.type == StepType.TOOL_CALL][-1] == "book_hotel"


@pytest.mark.parametrize(
    "reading",
    [
        {"ACTIVE_AGENT_CHANNEL": "dialog_state"},
        {"ACTIVE_AGENT_CHANNEL": "dialog_state", "ROUTER_TARGETS": list(AGENT_NODES)},
    ],
    ids=["tool and stack", "tool, node entry and stack"],
)
def test_one_routing_seen_several_ways_is_one_handoff(reading, settings, checkpointer, checkpoint_source):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ROUTING_TOOLS": list(ROUTING_TOOLS), **reading}
    for thread_id in ("tut-car-rejected-by-update", "tut-multi-turn"):
        run_tutorial_thread(checkpointer, THREADS_BY_ID[thread_id])

        assert shape(timeline_of(checkpoint_source, thread_id)) == EXPECTED[thread_id]


def test_without_routing_tools_the_routing_calls_are_plain_tool_calls(settings, checkpointer, checkpoint_source):
    """The settings are what makes the difference: a To… call is a tool call until named a routing tool."""
    run_tutorial_thread(checkpointer, THREADS_BY_ID["tut-excursion-pending"])

    steps = timeline_of(checkpoint_source, "tut-excursion-pending")

    assert [step.tool_name for step in steps if step.type == StepType.TOOL_CALL] == ["ToBookExcursion", "book_excursion"]
    assert shape(steps)[-1] == (INTERRUPT, "book_excursion", None, "pending")


def test_of_two_routings_in_one_reply_the_one_the_app_followed_is_the_handoff(tutorial_settings, checkpointer, checkpoint_source):
    """The tutorial's router follows the first routing call; the entry node answers it. The other one
    was never acted on: it stays in the replay, marked as not followed, and is no handoff."""
    from tests.apps.tutorial_app import reply
    from tests.apps.tutorial_conversations import TutorialThread, _at

    thread = TutorialThread("tut-two-routings", _at(10, 13), (
        reply("", ("ToBookCarRental", {"location": "Basel", "request": "a car"}, "rc"),
              ("ToHotelBookingAssistant", {"location": "Basel", "request": "a room"}, "rh"), message_id="m9-1"),
        reply("Which dates do you need the car for?", message_id="m9-2"),
    ), (("say", "A car and a hotel in Basel please"),))
    run_tutorial_thread(checkpointer, thread)

    steps = timeline_of(checkpoint_source, thread.thread_id)

    handoffs = [(step.agent, step.tool_name, step.details.get("followed", True)) for step in steps if step.type == StepType.HANDOFF]
    assert handoffs == [("book_car_rental", "ToBookCarRental", True), (None, "ToHotelBookingAssistant", False)]
    assert steps[-1].type == StepType.AGENT_MESSAGE and steps[-1].agent == "book_car_rental"
