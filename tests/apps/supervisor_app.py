"""An app built with langgraph-supervisor: ``create_supervisor`` over prebuilt react agents, default
``output_mode="last_message"``, with an approval interrupt inside a sub-agent's tool."""

from __future__ import annotations

import warnings

from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.types import interrupt
from langgraph_supervisor import create_supervisor

from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


@tool
def lookup_flight(code: str) -> str:
    """Look up a flight by its code."""
    return f"{code}: on time, gate B12"


@tool
def book_hotel(city: str, nights: int) -> str:
    """Book a hotel; a human must approve it."""
    decision = interrupt({"question": f"Book {nights} nights in {city}?", "city": city})
    if decision.get("approved"):
        return f"Booked {nights} nights in {city}"
    return "Booking declined"


def call(name: str, args: dict, call_id: str) -> dict:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def build_supervisor_app(*, checkpointer):
    """Supervisor → flight_agent (lookup) and hotel_agent (booking with approval)."""
    supervisor_model = ScriptedChatModel(
        agent_name="supervisor", model_name="gpt-4o", reply_for=replies_in_order([
            AIMessage("", tool_calls=[call("transfer_to_flight_agent", {}, "sv-1")]),
            AIMessage("", tool_calls=[call("transfer_to_hotel_agent", {}, "sv-2")]),
            AIMessage("Your flight is on time and the hotel is booked."),
        ]),
    )
    flight_model = ScriptedChatModel(
        agent_name="flight_agent", model_name="gpt-4o-mini", reply_for=replies_in_order([
            AIMessage("", tool_calls=[call("lookup_flight", {"code": "LH123"}, "fl-1")]),
            AIMessage("LH123 is on time."),
        ]),
    )
    hotel_model = ScriptedChatModel(
        agent_name="hotel_agent", model_name="claude-haiku-4-5", reply_for=replies_in_order([
            AIMessage("", tool_calls=[call("book_hotel", {"city": "Lisbon", "nights": 2}, "ht-1")]),
            AIMessage("Hotel booked for two nights."),
        ]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flight_agent = create_react_agent(flight_model, [lookup_flight], name="flight_agent")
        hotel_agent = create_react_agent(hotel_model, [book_hotel], name="hotel_agent")
        workflow = create_supervisor([flight_agent, hotel_agent], model=supervisor_model)
    return workflow.compile(checkpointer=checkpointer)
