"""An app built the way LangGraph's customer-support tutorial (part 4, "specialized workflows") builds
it: a primary assistant delegating through ``To…`` routing tools to flight, car-rental, hotel and
excursion assistants, ``CompleteOrEscalate`` back, a ``dialog_state`` stack pushed and popped by a
reducer, sensitive tools behind ``interrupt_before``, the tutorial's tool-error fallback, and each turn
sent as ``("user", text)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, Optional, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel

from smart_support.agent.chat_model import ReplyFor, ScriptedChatModel

ROUTING_TOOLS = ("ToFlightBookingAssistant", "ToBookCarRental", "ToHotelBookingAssistant", "ToBookExcursion", "CompleteOrEscalate")
AGENT_NODES = ("primary_assistant", "update_flight", "book_car_rental", "book_hotel", "book_excursion")


def update_dialog_stack(left: list[str], right: Optional[str]) -> list[str]:
    """Push or pop the dialog state (the tutorial's reducer)."""
    if right is None:
        return left
    if right == "pop":
        return left[:-1]
    return left + [right]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    user_info: str
    dialog_state: Annotated[
        list[Literal["assistant", "update_flight", "book_car_rental", "book_hotel", "book_excursion"]], update_dialog_stack
    ]


# -- tools ------------------------------------------------------------------------------------------
@tool
def fetch_user_flight_information() -> str:
    """Fetch the user's tickets."""
    return "ticket 7240005432906569 on flight LX0112 CDG→BSL"


@tool
def lookup_policy(query: str) -> str:
    """Consult the company policies."""
    return "Changes are free up to 24 hours before departure."


@tool
def search_flights(departure_airport: str, arrival_airport: str) -> str:
    """Search for flights."""
    if len(departure_airport) != 3:
        raise ValueError(f"unknown airport {departure_airport!r}")
    return f"LX0114 {departure_airport}→{arrival_airport} 18:05"


@tool
def update_ticket_to_new_flight(ticket_no: str, new_flight_id: str) -> str:
    """Move a ticket to another flight."""
    return f"Ticket {ticket_no} moved to {new_flight_id}."


@tool
def cancel_ticket(ticket_no: str) -> str:
    """Cancel a ticket."""
    return f"Ticket {ticket_no} cancelled."


@tool
def search_car_rentals(location: str) -> str:
    """Search for car rentals."""
    return f"Europcar {location}: compact, 45 EUR a day"


@tool
def book_car_rental(rental_id: int) -> str:
    """Book a car rental."""
    return f"Car rental {rental_id} booked."


@tool
def search_hotels(location: str) -> str:
    """Search for hotels."""
    return f"Hilton {location}: 180 EUR a night"


@tool
def book_hotel(hotel_id: int) -> str:
    """Book a hotel."""
    return f"Hotel {hotel_id} booked."


@tool
def search_trip_recommendations(location: str) -> str:
    """Search for excursions."""
    return f"Kunstmuseum {location}"


@tool
def book_excursion(recommendation_id: int) -> str:
    """Book an excursion."""
    return f"Excursion {recommendation_id} booked."


class CompleteOrEscalate(BaseModel):
    """Mark the current task as completed or escalate control of the dialog to the main assistant."""

    cancel: bool = True
    reason: str


class ToFlightBookingAssistant(BaseModel):
    """Transfer work to a specialized assistant to handle flight updates and cancellations."""

    request: str


class ToBookCarRental(BaseModel):
    """Transfer work to a specialized assistant to handle car rental bookings."""

    location: str
    request: str


class ToHotelBookingAssistant(BaseModel):
    """Transfer work to a specialized assistant to handle hotel bookings."""

    location: str
    request: str


class ToBookExcursion(BaseModel):
    """Transfer work to a specialized assistant to handle trip recommendations and bookings."""

    location: str
    request: str


SPECIALISTS = {
    # dialog state / node: (assistant name, routing tool, safe tools, sensitive tools)
    "update_flight": ("Flight Updates & Booking Assistant", ToFlightBookingAssistant, [search_flights], [update_ticket_to_new_flight, cancel_ticket]),
    "book_car_rental": ("Car Rental Assistant", ToBookCarRental, [search_car_rentals], [book_car_rental]),
    "book_hotel": ("Hotel Booking Assistant", ToHotelBookingAssistant, [search_hotels], [book_hotel]),
    "book_excursion": ("Trip Recommendation Assistant", ToBookExcursion, [search_trip_recommendations], [book_excursion]),
}
PRIMARY_TOOLS = [search_flights, lookup_policy]
SENSITIVE_NODES = [f"{name}_sensitive_tools" for name in SPECIALISTS]


# -- the tutorial's helpers -------------------------------------------------------------------------
def handle_tool_error(state) -> dict:
    error = state.get("error")
    tool_calls = state["messages"][-1].tool_calls
    return {
        "messages": [
            ToolMessage(content=f"Error: {repr(error)}\n please fix your mistakes.", tool_call_id=tc["id"])
            for tc in tool_calls
        ]
    }


def create_tool_node_with_fallback(tools: list):
    return ToolNode(tools).with_fallbacks([RunnableLambda(handle_tool_error)], exception_key="error")


class Assistant:
    def __init__(self, runnable) -> None:
        self.runnable = runnable

    def __call__(self, state: State) -> dict:
        return {"messages": self.runnable.invoke(state["messages"])}


def create_entry_node(assistant_name: str, new_dialog_state: str) -> Callable:
    def entry_node(state: State) -> dict:
        tool_call_id = state["messages"][-1].tool_calls[0]["id"]
        return {
            "messages": [
                ToolMessage(
                    content=f"The assistant is now the {assistant_name}. Reflect on the above conversation between the "
                    "host assistant and the user. The user's intent is unsatisfied. Use the provided tools to assist the user.",
                    tool_call_id=tool_call_id,
                )
            ],
            "dialog_state": new_dialog_state,
        }

    return entry_node


def pop_dialog_state(state: State) -> dict:
    messages = []
    if state["messages"][-1].tool_calls:
        messages.append(
            ToolMessage(
                content="Resuming dialog with the host assistant. Please reflect on the past conversation and assist the user as needed.",
                tool_call_id=state["messages"][-1].tool_calls[0]["id"],
            )
        )
    return {"dialog_state": "pop", "messages": messages}


def _model(name: str, reply_for: ReplyFor, tools: list):
    return ScriptedChatModel(agent_name=name, model_name="gpt-4o-mini", reply_for=reply_for).bind_tools(tools)


def _add_specialist(builder: StateGraph, name: str, reply_for: ReplyFor) -> None:
    title, _, safe, sensitive = SPECIALISTS[name]
    safe_names = {t.name for t in safe}
    builder.add_node(f"enter_{name}", create_entry_node(title, name))
    builder.add_node(name, Assistant(_model(name, reply_for, [*safe, *sensitive, CompleteOrEscalate])))
    builder.add_edge(f"enter_{name}", name)
    builder.add_node(f"{name}_sensitive_tools", create_tool_node_with_fallback(sensitive))
    builder.add_node(f"{name}_safe_tools", create_tool_node_with_fallback(safe))

    def route(state: State):
        if tools_condition(state) == END:
            return END
        tool_calls = state["messages"][-1].tool_calls
        if any(tc["name"] == CompleteOrEscalate.__name__ for tc in tool_calls):
            return "leave_skill"
        if all(tc["name"] in safe_names for tc in tool_calls):
            return f"{name}_safe_tools"
        return f"{name}_sensitive_tools"

    builder.add_edge(f"{name}_sensitive_tools", name)
    builder.add_edge(f"{name}_safe_tools", name)
    builder.add_conditional_edges(name, route, [f"{name}_sensitive_tools", f"{name}_safe_tools", "leave_skill", END])


def build_tutorial_app(*, reply_for: ReplyFor, checkpointer):
    """Compile the app; every model reply comes from ``reply_for(agent, messages)``."""
    builder = StateGraph(State)
    builder.add_node("fetch_user_info", lambda state: {"user_info": fetch_user_flight_information.invoke({})})
    builder.add_edge(START, "fetch_user_info")
    for name in SPECIALISTS:
        _add_specialist(builder, name, reply_for)
    builder.add_node("leave_skill", pop_dialog_state)
    builder.add_edge("leave_skill", "primary_assistant")
    routing = [spec[1] for spec in SPECIALISTS.values()]
    builder.add_node("primary_assistant", Assistant(_model("primary_assistant", reply_for, [*PRIMARY_TOOLS, *routing])))
    builder.add_node("primary_assistant_tools", create_tool_node_with_fallback(PRIMARY_TOOLS))

    def route_primary_assistant(state: State):
        if tools_condition(state) == END:
            return END
        first = state["messages"][-1].tool_calls[0]["name"]
        for name, spec in SPECIALISTS.items():
            if first == spec[1].__name__:
                return f"enter_{name}"
        return "primary_assistant_tools"

    builder.add_conditional_edges(
        "primary_assistant", route_primary_assistant, [*(f"enter_{name}" for name in SPECIALISTS), "primary_assistant_tools", END]
    )
    builder.add_edge("primary_assistant_tools", "primary_assistant")

    def route_to_workflow(state: State) -> Literal["primary_assistant", "update_flight", "book_car_rental", "book_hotel", "book_excursion"]:
        dialog_state = state.get("dialog_state")
        if not dialog_state:
            return "primary_assistant"
        return dialog_state[-1]

    builder.add_conditional_edges("fetch_user_info", route_to_workflow)
    return builder.compile(checkpointer=checkpointer, interrupt_before=SENSITIVE_NODES)


def reply(text: str = "", *calls: tuple[str, dict, str], message_id: str) -> AIMessage:
    """A scripted model reply: text and/or tool calls ``(name, args, id)``."""
    return AIMessage(
        content=text, id=message_id,
        tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"} for name, args, call_id in calls],
    )
