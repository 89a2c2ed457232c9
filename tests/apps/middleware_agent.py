"""A support agent built the way LangChain's docs build one with ``create_agent`` and its middleware:
SummarizationMiddleware (summaries written mid-thread by a scripted summariser), HumanInTheLoopMiddleware
(refunds approved, edited, rejected or left waiting), ToolRetryMiddleware (a carrier API that works on the
third try, a warehouse API that never does), ModelFallbackMiddleware (the primary model fails, a cheaper one
answers), ToolCallLimitMiddleware (one knowledge-base search per run) and a ``ToolStrategy`` structured
answer (``SupportTicket``). Like the docs' examples it gives the agent no ``name``.

Each thread plays a script through the real graph and the real PostgresSaver, two minutes between turns."""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import time_machine
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.types import Command
from pydantic import BaseModel, Field

from smart_support.agent.chat_model import ScriptedChatModel
from tests.apps.supervisor_app import call

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langchain.agents import create_agent
    from langchain.agents.middleware import (
        HumanInTheLoopMiddleware,
        ModelFallbackMiddleware,
        SummarizationMiddleware,
        ToolCallLimitMiddleware,
        ToolRetryMiddleware,
    )
    from langchain.agents.structured_output import ToolStrategy

PRIMARY_MODEL, FALLBACK_MODEL, SUMMARY_MODEL = "gpt-4o", "claude-haiku-4-5", "gpt-4o-mini"
PRIMARY_FAILS = AIMessage("")  # in a primary script: this call raises, and the fallback model answers it
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)  # when the back office reads the threads
# Summaries are written once the state holds this many messages, keeping the last two.
SUMMARY_TRIGGER, SUMMARY_KEEP = 6, 2


class SupportTicket(BaseModel):
    """A ticket for the support team."""

    category: str = Field(description="billing, login, delivery …")
    priority: str = Field(description="low, normal or high")
    summary: str


def _tools():
    attempts: dict[str, int] = {}

    @tool
    def lookup_order(order_id: str) -> str:
        """Find an order."""
        return f"Order {order_id}: delivered on 3 Nov, 80.00 EUR"

    @tool
    def issue_refund(order_id: str, amount: int) -> str:
        """Refund an order (needs a human's approval)."""
        return f"Refunded {amount} EUR on order {order_id}"

    @tool
    def check_carrier(tracking: str) -> str:
        """Ask the carrier where a parcel is (its API times out twice before it answers)."""
        attempts[tracking] = attempts.get(tracking, 0) + 1
        if attempts[tracking] <= 2:
            raise TimeoutError("carrier API timed out")
        return f"{tracking}: at the Basel depot"

    @tool
    def warehouse_stock(sku: str) -> str:
        """Ask the warehouse how many items are left (its API is down)."""
        raise ConnectionError("warehouse API unreachable")

    @tool
    def search_kb(query: str) -> str:
        """Search the help-centre articles."""
        return f"Article: how to {query}"

    return [lookup_order, issue_refund, check_carrier, warehouse_stock, search_kb]


def _scripted(model_name: str, replies: Sequence[AIMessage]) -> ScriptedChatModel:
    queue = deque(replies)

    def reply_for(agent_name: str, messages: Sequence[BaseMessage]) -> AIMessage:
        reply = queue.popleft() if queue else AIMessage("Is there anything else I can help you with?")
        if reply is PRIMARY_FAILS:
            raise RuntimeError("503 model overloaded")
        return reply

    return ScriptedChatModel(agent_name="support", model_name=model_name, reply_for=reply_for)


def build_middleware_agent(*, checkpointer, replies, fallback_replies=(), summaries=(), interrupt_mode="batched"):
    """The agent, its primary model answering ``replies`` in order, its fallback ``fallback_replies``, its
    summariser ``summaries``."""
    summariser = _scripted(SUMMARY_MODEL, [AIMessage(text) for text in summaries])
    return create_agent(
        _scripted(PRIMARY_MODEL, replies),
        tools=_tools(),
        middleware=[
            SummarizationMiddleware(summariser, trigger=("messages", SUMMARY_TRIGGER), keep=("messages", SUMMARY_KEEP)),
            HumanInTheLoopMiddleware(
                interrupt_on={"issue_refund": {"allowed_decisions": ["approve", "edit", "reject"]}},
                interrupt_mode=interrupt_mode,
            ),
            ToolRetryMiddleware(max_retries=2, tools=["check_carrier", "warehouse_stock"], initial_delay=0, jitter=False),
            ModelFallbackMiddleware(_scripted(FALLBACK_MODEL, fallback_replies)),
            ToolCallLimitMiddleware(tool_name="search_kb", run_limit=1),
        ],
        response_format=ToolStrategy(SupportTicket),
        checkpointer=checkpointer,
    )


def reply(text: str = "", *calls: tuple[str, dict, str], message_id: str | None = None) -> AIMessage:
    return AIMessage(text, tool_calls=[call(name, args, call_id) for name, args, call_id in calls], id=message_id)


def approve() -> dict:
    return {"decisions": [{"type": "approve"}]}


def edit(name: str, args: dict) -> dict:
    return {"decisions": [{"type": "edit", "edited_action": {"name": name, "args": args}}]}


def reject(message: str) -> dict:
    return {"decisions": [{"type": "reject", "message": message}]}


@dataclass(frozen=True)
class MiddlewareThread:
    thread_id: str
    started_at: datetime
    replies: tuple[AIMessage, ...]
    actions: tuple[tuple[str, object], ...]  # ("say", text) | ("resume", HITL response)
    fallback_replies: tuple[AIMessage, ...] = ()
    summaries: tuple[str, ...] = field(default=())


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


REFUND = ("issue_refund", {"order_id": "1001", "amount": 80})

THREADS = (
    MiddlewareThread("mw-refund-approved", _at(10, 9), (
        reply("", ("lookup_order", {"order_id": "1001"}, "a1")),
        reply("", (*REFUND, "a2")),
        reply("Done: 80 EUR are on their way back to you."),
    ), (("say", "My order 1001 arrived broken, I want my money back"), ("resume", approve()))),
    MiddlewareThread("mw-refund-edited", _at(10, 9, 30), (
        reply("", ("lookup_order", {"order_id": "1001"}, "e1")),
        reply("", (*REFUND, "e2")),
        reply("Done: 50 EUR are on their way back to you."),
    ), (("say", "Order 1001 was late, can I get a refund?"),
        ("resume", edit("issue_refund", {"order_id": "1001", "amount": 50})))),
    MiddlewareThread("mw-refund-rejected", _at(10, 10), (
        reply("", (*REFUND, "r1")),
        reply("I am sorry, I cannot refund this order."),
    ), (("say", "Refund order 1001 now"), ("resume", reject("over the refund limit")))),
    MiddlewareThread("mw-refund-pending", _at(10, 11), (
        reply("", (*REFUND, "p1")),
    ), (("say", "Please refund order 1001"),)),
    MiddlewareThread("mw-carrier-retried", _at(10, 8), (
        reply("", ("check_carrier", {"tracking": "TRK-1"}, "c1")),
        reply("Your parcel is at the Basel depot."),
    ), (("say", "Where is parcel TRK-1?"),)),
    MiddlewareThread("mw-warehouse-gave-up", _at(10, 8, 30), (
        reply("", ("warehouse_stock", {"sku": "SKU-9"}, "w1")),
        reply("Sorry, I cannot reach the warehouse right now."),
    ), (("say", "Is SKU-9 in stock?"),)),
    MiddlewareThread("mw-model-fallback", _at(9, 9), (
        PRIMARY_FAILS,
        reply("Order 1002 was delivered on 3 Nov."),
    ), (("say", "What happened to order 1002?"),), fallback_replies=(
        reply("", ("lookup_order", {"order_id": "1002"}, "f1")),
    )),
    MiddlewareThread("mw-search-limit", _at(9, 10), (
        reply("", ("search_kb", {"query": "reset a password"}, "k1"), ("search_kb", {"query": "unlock an account"}, "k2")),
        reply("Here is how to reset your password."),
    ), (("say", "I forgot my password"),)),
    MiddlewareThread("mw-ticket", _at(9, 11), (
        reply("", ("SupportTicket", {"category": "login", "priority": "high", "summary": "cannot log in since the update"}, "t1")),
    ), (("say", "I cannot log in since your update"),)),
    MiddlewareThread("mw-summarised", _at(9, 12), (
        reply("", ("check_carrier", {"tracking": "TRK-7"}, "s1")),
        reply("Your parcel TRK-7 is at the Basel depot."),
        reply("", ("lookup_order", {"order_id": "1003"}, "s2")),
        reply("Order 1003 ships tomorrow."),
        reply("Yes, until it ships you can change the address."),
        reply("Done, order 1003 will go to Bahnhofstrasse 1."),
    ), (
        ("say", "Where is parcel TRK-7?"),
        ("say", "And my order 1003?"),
        ("say", "Can I still change its address?"),
        ("say", "Then send it to Bahnhofstrasse 1"),
    ), summaries=("The customer asked about parcel TRK-7 (at the Basel depot).",
                  "TRK-7 is at the depot; order 1003 ships tomorrow; the customer wants a new address.")),
    MiddlewareThread("mw-summarised-ticket", _at(9, 13), (
        reply("", ("lookup_order", {"order_id": "1004"}, "u1")),
        reply("Order 1004 was delivered on 3 Nov."),
        reply("", ("search_kb", {"query": "return an item"}, "u2")),
        reply("", ("SupportTicket", {"category": "delivery", "priority": "normal", "summary": "return order 1004"}, "u3")),
    ), (
        ("say", "Was order 1004 delivered?"),
        ("say", "I want to send it back, open a ticket"),
    ), summaries=("Order 1004 was delivered on 3 Nov; the customer wants to return it.",)),
)


def run_middleware_thread(checkpointer, thread: MiddlewareThread) -> None:
    """Play one conversation through the real agent and PostgresSaver, two minutes between turns."""
    agent = build_middleware_agent(
        checkpointer=checkpointer, replies=thread.replies, fallback_replies=thread.fallback_replies,
        summaries=thread.summaries,
    )
    config = {"configurable": {"thread_id": thread.thread_id}, "metadata": {"tenant": "shop"}}
    checkpoint_id_module._last_v6_timestamp = None  # each conversation has its own clock
    with time_machine.travel(thread.started_at, tick=True) as traveller:
        for action, argument in thread.actions:
            if action == "say":
                agent.invoke({"messages": [("user", argument)]}, config)
            else:
                agent.invoke(Command(resume=argument), config)
            traveller.shift(timedelta(minutes=2))


def run_middleware_threads(checkpointer) -> None:
    for thread in THREADS:
        run_middleware_thread(checkpointer, thread)
