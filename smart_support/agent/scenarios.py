"""Seeded conversation scripts for the reference agent: who says what, which tools run, how reviewers decide.

A ``ConversationPlan`` is pure data chosen by ``plan_conversation(seed=..., index=...)``; the same
seed and index always give the same plan. The mix covers every outcome the analytics report:
resolved, unresolved, escalated, tool errors, approvals approved, rejected and left pending; and
conversations of every length, up to one of over 250 steps in every ``MARATHON_EVERY``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from langchain_core.messages import AIMessage

from smart_support.agent.graph import SUPERVISOR


@dataclass(frozen=True)
class Turn:
    user_text: str
    replies: tuple[AIMessage, ...]
    # One resume value per interrupt the turn raises, in order; a missing one leaves it pending.
    decisions: tuple[dict[str, Any], ...] = ()
    review_wait: timedelta = timedelta(minutes=5)
    # how long the customer takes before this turn; None: 1 to 20 minutes, as one who comes back later
    pause_before: timedelta | None = None


@dataclass(frozen=True)
class ConversationPlan:
    thread_id: str
    scenario: str
    metadata: dict[str, str]
    turns: tuple[Turn, ...]
    latencies_s: tuple[float, ...] = field(default=())


class _Script:
    """Builds the replies of one conversation with deterministic ids."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.count = 0

    def _next_id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}-{self.thread_id}-{self.count}"

    def route(self, agent: str) -> AIMessage:
        return self.call(SUPERVISOR, (f"transfer_to_{agent}", {}))

    def call(self, agent: str, *calls: tuple[str, dict[str, Any]]) -> AIMessage:
        tool_calls = [{"name": name, "args": args, "id": self._next_id("call"), "type": "tool_call"} for name, args in calls]
        return AIMessage(content="", tool_calls=tool_calls, name=agent, id=self._next_id("msg"))

    def say(self, agent: str, text: str) -> AIMessage:
        return AIMessage(content=text, name=agent, id=self._next_id("msg"))


TENANTS = ("acme-eu", "acme-us", "globex")
CHANNELS = ("web", "email", "whatsapp")

# scenario name → relative weight
SCENARIO_WEIGHTS = {
    "order_status": 14,
    "order_status_parallel": 6,
    "invoice_question": 10,
    "invoice_retry": 7,
    "password_failed": 7,
    "escalated_after_answer": 8,
    "escalated_directly": 5,
    "refund_approved": 9,
    "refund_rejected": 6,
    "refund_pending": 6,
    "cancel_order": 6,
    "smalltalk": 5,
    "multi_turn": 11,
    # a handoff, a tool error and an approval in one conversation
    "refund_after_failed_lookup": 5,
    # 12 to 20 questions in one conversation: 50 to 110 steps
    "long_session": 2,
    # never drawn: the conversation at MARATHON_AT in every MARATHON_EVERY is this one
    "marathon": 0,
}
# One very long conversation (over 250 steps, for paging through a replay) in every this many.
MARATHON_EVERY = 300
MARATHON_AT = 150
MARATHON_TURNS = 50


def _order_status(s: _Script, rng: random.Random) -> Turn:
    order = f"ORD-{rng.randint(10000, 99999)}"
    return Turn(
        user_text=f"Where is my order {order}? It should have arrived by now.",
        replies=(
            s.route("orders"),
            s.call("orders", ("track_order", {"order_id": order})),
            s.say("orders", f"Your order {order} is on its way with DHL and should arrive within two days."),
        ),
    )


def _order_status_parallel(s: _Script, rng: random.Random) -> Turn:
    first, second = (f"ORD-{rng.randint(10000, 99999)}" for _ in range(2))
    return Turn(
        user_text=f"Can you check both of my orders, {first} and {second}?",
        replies=(
            s.route("orders"),
            s.call("orders", ("track_order", {"order_id": first}), ("track_order", {"order_id": second})),
            s.say("orders", f"Both {first} and {second} are with the carrier; I've emailed you the tracking links."),
        ),
    )


def _invoice_question(s: _Script, rng: random.Random) -> Turn:
    invoice = f"INV-{rng.randint(10000, 99999)}"
    return Turn(
        user_text=f"I don't understand a charge on invoice {invoice}.",
        replies=(
            s.route("billing"),
            s.call("billing", ("lookup_invoice", {"invoice_id": invoice})),
            s.say("billing", f"Invoice {invoice} covers your annual plan renewal; it was paid in full."),
        ),
    )


def _invoice_retry(s: _Script, rng: random.Random) -> Turn:
    number = rng.randint(10000, 99999)
    return Turn(
        user_text=f"Please explain invoice {number}.",
        replies=(
            s.route("billing"),
            s.call("billing", ("lookup_invoice", {"invoice_id": str(number)})),
            s.call("billing", ("lookup_invoice", {"invoice_id": f"INV-{number}"})),
            s.say("billing", f"Found it as INV-{number}: it is your monthly subscription."),
        ),
    )


def _password_failed(s: _Script, rng: random.Random) -> Turn:
    return Turn(
        user_text="I can't log in, please reset my password. My email is jane at example dot com.",
        replies=(
            s.route("tech_support"),
            s.call("tech_support", ("reset_password", {"email": "jane at example dot com"})),
            s.say("tech_support", "I couldn't send the reset link. Could you type your email address exactly?"),
        ),
    )


def _escalated_after_answer(s: _Script, rng: random.Random) -> Turn:
    return Turn(
        user_text="The app crashes every time I open the reports page.",
        replies=(
            s.route("tech_support"),
            s.call("tech_support", ("search_knowledge_base", {"query": "app crashes on reports page"})),
            s.call("tech_support", ("escalate_to_human", {"reason": "Crash persists after known fixes"})),
            s.say("tech_support", "I've passed this to an engineer; they'll contact you within a day."),
        ),
    )


def _escalated_directly(s: _Script, rng: random.Random) -> Turn:
    return Turn(
        user_text="This is the third time my delivery failed. I want to speak to a person now.",
        replies=(
            s.route("orders"),
            s.call("orders", ("escalate_to_human", {"reason": "Customer asks for a human after repeated failures"})),
            s.say("orders", "I've asked a colleague to call you back today."),
        ),
    )


def _refund(s: _Script, rng: random.Random, decision: dict[str, Any] | None, final_text: str) -> Turn:
    order = f"ORD-{rng.randint(10000, 99999)}"
    amount = float(rng.choice([19.99, 49.0, 120.5, 250.0]))
    return Turn(
        user_text=f"My order {order} arrived broken. I want my money back.",
        replies=(
            s.route("billing"),
            s.call("billing", ("issue_refund", {"order_id": order, "amount_usd": amount, "reason": "damaged"})),
            s.say("billing", final_text),
        ),
        decisions=(decision,) if decision else (),
        review_wait=timedelta(minutes=rng.randint(2, 240)),
    )


def _cancel_order(s: _Script, rng: random.Random) -> Turn:
    order = f"ORD-{rng.randint(10000, 99999)}"
    approve = rng.random() < 0.6
    decision = {"decisions": [{"type": "approve" if approve else "reject"}], "reviewer": rng.choice(REVIEWERS)}
    return Turn(
        user_text=f"Please cancel order {order}, I ordered the wrong size.",
        replies=(
            s.route("orders"),
            s.call("orders", ("cancel_order", {"order_id": order})),
            s.say("orders", "Done, your order is cancelled." if approve else "Sorry, that order can no longer be cancelled."),
        ),
        decisions=(decision,),
        review_wait=timedelta(minutes=rng.randint(1, 90)),
    )


def _smalltalk(s: _Script, rng: random.Random) -> Turn:
    return Turn(
        user_text="Hi, are you a bot?",
        replies=(s.say(SUPERVISOR, "I'm Acme's virtual assistant. How can I help you today?"),),
    )


REVIEWERS = ("maria.lopez", "tom.becker", "aiko.tanaka")


def _refund_after_failed_lookup(s: _Script, rng: random.Random) -> tuple[Turn, ...]:
    number = rng.randint(10000, 99999)
    order = f"ORD-{number}"
    decision = {"approved": True, "reviewer": rng.choice(REVIEWERS), "reason": "Carrier confirmed the damage"}
    return (
        Turn(
            user_text=f"Order {number} arrived smashed. What happened to it?",
            replies=(
                s.route("orders"),
                s.call("orders", ("track_order", {"order_id": str(number)})),
                s.call("orders", ("track_order", {"order_id": order})),
                s.say("orders", f"{order} was delivered yesterday. Billing can refund it; ask me for a refund."),
            ),
        ),
        Turn(
            user_text="Yes, please refund it.",
            replies=(
                s.route("billing"),
                s.call("billing", ("issue_refund", {"order_id": order, "amount_usd": 49.0, "reason": "damaged"})),
                s.say("billing", "Your refund has been approved and issued."),
            ),
            decisions=(decision,),
            review_wait=timedelta(minutes=rng.randint(2, 60)),
        ),
    )


# The questions a long session is made of (no approvals: a reviewer would hold it up for hours).
_SESSION_QUESTIONS = (
    lambda s, rng: _order_status(s, rng),
    lambda s, rng: _order_status_parallel(s, rng),
    lambda s, rng: _invoice_question(s, rng),
    lambda s, rng: _invoice_retry(s, rng),
    lambda s, rng: _password_failed(s, rng),
    lambda s, rng: _smalltalk(s, rng),
)


def _long_session(s: _Script, rng: random.Random, *, turns: int) -> tuple[Turn, ...]:
    """A customer chatting on: question after question, a minute or two apart."""
    return tuple(
        replace(rng.choice(_SESSION_QUESTIONS)(s, rng), pause_before=timedelta(seconds=rng.randint(20, 150)))
        for _ in range(turns)
    )


def _turns_for(scenario: str, s: _Script, rng: random.Random) -> tuple[Turn, ...]:
    reviewer = rng.choice(REVIEWERS)
    if scenario == "refund_approved":
        decision = {"approved": True, "reviewer": reviewer, "reason": "Photo of the damage attached"}
        return (_refund(s, rng, decision, "Your refund has been approved and issued."),)
    if scenario == "refund_rejected":
        decision = {"approved": False, "reviewer": reviewer, "reason": "Return window has passed"}
        return (_refund(s, rng, decision, "I'm sorry, the refund was not approved."),)
    if scenario == "refund_pending":
        return (_refund(s, rng, None, ""),)
    if scenario == "multi_turn":
        return (_order_status(s, rng), _invoice_question(s, rng))
    if scenario == "refund_after_failed_lookup":
        return _refund_after_failed_lookup(s, rng)
    if scenario == "long_session":
        return _long_session(s, rng, turns=rng.randint(12, 20))
    if scenario == "marathon":
        return _long_session(s, rng, turns=MARATHON_TURNS)
    single = {
        "order_status": _order_status,
        "order_status_parallel": _order_status_parallel,
        "invoice_question": _invoice_question,
        "invoice_retry": _invoice_retry,
        "password_failed": _password_failed,
        "escalated_after_answer": _escalated_after_answer,
        "escalated_directly": _escalated_directly,
        "cancel_order": _cancel_order,
        "smalltalk": _smalltalk,
    }
    return (single[scenario](s, rng),)


def thread_id_for(*, seed: int, index: int) -> str:
    return f"sim-{seed}-{index:06d}"


def plan_conversation(*, seed: int, index: int, scenario: str | None = None) -> ConversationPlan:
    """The conversation number ``index`` of the run seeded ``seed`` (optionally forcing its scenario)."""
    rng = random.Random(f"{seed}:{index}")
    names = list(SCENARIO_WEIGHTS)
    chosen = rng.choices(names, weights=[SCENARIO_WEIGHTS[name] for name in names])[0]
    if index % MARATHON_EVERY == MARATHON_AT:
        chosen = "marathon"
    scenario = scenario or chosen
    thread_id = thread_id_for(seed=seed, index=index)
    script = _Script(thread_id)
    turns = _turns_for(scenario, script, rng)
    reply_count = sum(len(turn.replies) for turn in turns)
    return ConversationPlan(
        thread_id=thread_id,
        scenario=scenario,
        metadata={
            "tenant": rng.choice(TENANTS),
            "channel": rng.choice(CHANNELS),
            "customer_id": f"cus_{rng.randint(100000, 999999)}",
        },
        turns=turns,
        latencies_s=tuple(round(rng.uniform(0.4, 3.5), 3) for _ in range(reply_count)),
    )
