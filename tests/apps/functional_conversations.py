"""Conversations with the Functional API app (tests/apps/functional_app.py) and the Send fan-out app
(tests/apps/fan_out_app.py), as their customers and reviewers would have them, on fixed dates.

Functional API: an order looked up, a refund approved, one rejected, one still waiting for the reviewer,
and two turns (a lookup that fails, then one that works). Fan-out: two orders tracked in parallel, two
where one lookup fails, and one order the worker answers without a tool. Every model call's usage is
recorded by LangChain's own usage callback, so the tests can check the tokens against it."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import time_machine
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.types import Command

from smart_support.agent.chat_model import replies_in_order
from tests.apps.fan_out_app import build_fan_out_app
from tests.apps.functional_app import build_functional_app
from tests.apps.tutorial_app import reply

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)  # when the back office reads them


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FunctionalThread:
    thread_id: str
    started_at: datetime
    replies: tuple[AIMessage, ...]
    # ("say", text) | ("resume", {"approved": bool, "reason": str})
    actions: tuple[tuple, ...]


FUNCTIONAL_THREADS = (
    FunctionalThread("func-order-status", _at(10, 9), (
        reply("", ("lookup_order", {"order_id": "42"}, "f1-c1"), message_id="f1-1"),
        reply("Order 42 shipped yesterday.", message_id="f1-2"),
    ), (("say", "Where is order 42?"),)),
    FunctionalThread("func-refund-approved", _at(10, 9, 30), (
        reply("", ("refund_order", {"order_id": "42", "amount": 30}, "f2-c1"), message_id="f2-1"),
        reply("Done: 30 EUR are on their way back to you.", message_id="f2-2"),
    ), (("say", "Please refund order 42, it arrived broken"), ("resume", {"approved": True}))),
    FunctionalThread("func-refund-rejected", _at(10, 10), (
        reply("", ("refund_order", {"order_id": "77", "amount": 900}, "f3-c1"), message_id="f3-1"),
        reply("I am sorry, I cannot refund this order.", message_id="f3-2"),
    ), (("say", "Refund order 77 in full"), ("resume", {"approved": False, "reason": "over the refund limit"}))),
    FunctionalThread("func-refund-pending", _at(10, 11), (
        reply("", ("lookup_order", {"order_id": "55"}, "f4-c1"), message_id="f4-1"),
        reply("", ("refund_order", {"order_id": "55", "amount": 12.5}, "f4-c2"), message_id="f4-2"),
    ), (("say", "Order 55 never came, refund it please"),)),
    FunctionalThread("func-two-turns", _at(9, 15), (
        reply("", ("lookup_order", {"order_id": "A-13"}, "f5-c1"), message_id="f5-1"),
        reply("I could not find order A-13. Could you check the number?", message_id="f5-2"),
        reply("", ("lookup_order", {"order_id": "13"}, "f5-c2"), message_id="f5-3"),
        reply("Order 13 shipped yesterday.", message_id="f5-4"),
    ), (("say", "Where is my order A-13?"), ("say", "Sorry, it is 13"))),
)


@dataclass(frozen=True)
class FanOutThread:
    thread_id: str
    started_at: datetime
    text: str
    order_ids: tuple[str, ...]
    worker_replies: dict[str, tuple[AIMessage, ...]]  # by order id
    reply: AIMessage


FAN_OUT_THREADS = (
    FanOutThread("fan-two-orders", _at(10, 8), "Where are my orders 42 and 43?", ("42", "43"), {
        "42": (reply("", ("track_order", {"order_id": "42"}, "s1-a"), message_id="s1-a1"),
               reply("Order 42 is in transit.", message_id="s1-a2")),
        "43": (reply("", ("track_order", {"order_id": "43"}, "s1-b"), message_id="s1-b1"),
               reply("Order 43 is in transit.", message_id="s1-b2")),
    }, reply("Both orders are on their way.", message_id="s1-r")),
    FanOutThread("fan-one-unknown", _at(10, 8, 30), "Track 61 and X-9", ("61", "X-9"), {
        "61": (reply("", ("track_order", {"order_id": "61"}, "s2-a"), message_id="s2-a1"),
               reply("Order 61 is in transit.", message_id="s2-a2")),
        "X-9": (reply("", ("track_order", {"order_id": "X-9"}, "s2-b"), message_id="s2-b1"),
                reply("There is no order X-9.", message_id="s2-b2")),
    }, reply("Order 61 is on its way; I found no order X-9.", message_id="s2-r")),
    FanOutThread("fan-no-tool", _at(9, 16), "Can I still change order 70?", ("70",), {
        "70": (reply("Order 70 can be changed until it ships.", message_id="s3-a1"),),
    }, reply("Yes, until it ships.", message_id="s3-r")),
)


@dataclass
class UsageLog:
    """Tokens every model call reported, per thread, as LangChain's usage callback counted them."""

    input_tokens: dict[str, int]
    output_tokens: dict[str, int]


def _record(log: UsageLog, thread_id: str, callback) -> None:
    for usage in callback.usage_metadata.values():
        log.input_tokens[thread_id] = log.input_tokens.get(thread_id, 0) + usage["input_tokens"]
        log.output_tokens[thread_id] = log.output_tokens.get(thread_id, 0) + usage["output_tokens"]


def run_functional_thread(checkpointer, thread: FunctionalThread, log: UsageLog) -> None:
    """Play one conversation through the real entrypoint and PostgresSaver, two minutes between actions."""
    app = build_functional_app(reply_for=replies_in_order(thread.replies), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread.thread_id}, "metadata": {"tenant": "shop"}}
    checkpoint_id_module._last_v6_timestamp = None  # each conversation has its own clock
    with time_machine.travel(thread.started_at, tick=True) as traveller:
        for action, argument in thread.actions:
            with get_usage_metadata_callback() as callback:
                if action == "say":
                    app.invoke([{"role": "user", "content": argument}], config)
                else:
                    app.invoke(Command(resume=argument), config)
            _record(log, thread.thread_id, callback)
            traveller.shift(timedelta(minutes=2))


def _replies_by_order(thread: FanOutThread):
    """Each worker gets its order's replies (they run in parallel), the reply node the final answer."""
    queues = defaultdict(deque, {order_id: deque(replies) for order_id, replies in thread.worker_replies.items()})
    queues["reply"].append(thread.reply)

    def reply_for(agent_name: str, messages: Sequence[BaseMessage]) -> AIMessage:
        prompt = next((message.content for message in messages if isinstance(message, SystemMessage)), "")
        order_id = prompt.rsplit(" ", 1)[-1].rstrip(".") if prompt else "reply"
        return queues[order_id].popleft()

    return reply_for


def run_fan_out_thread(checkpointer, thread: FanOutThread, log: UsageLog) -> None:
    app = build_fan_out_app(reply_for=_replies_by_order(thread), checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread.thread_id}, "metadata": {"tenant": "shop"}}
    checkpoint_id_module._last_v6_timestamp = None
    with time_machine.travel(thread.started_at, tick=True), get_usage_metadata_callback() as callback:
        app.invoke({"messages": [("user", thread.text)], "order_ids": list(thread.order_ids)}, config)
    _record(log, thread.thread_id, callback)


def run_all_threads(checkpointer) -> UsageLog:
    log = UsageLog({}, {})
    for thread in FUNCTIONAL_THREADS:
        run_functional_thread(checkpointer, thread, log)
    for thread in FAN_OUT_THREADS:
        run_fan_out_thread(checkpointer, thread, log)
    return log
