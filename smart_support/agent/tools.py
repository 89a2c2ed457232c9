"""The reference agent's tools. Failures are real exceptions that ``ToolNode`` reports as error results;
sensitive actions pause for a human with ``interrupt()``."""

from __future__ import annotations

import json
import zlib
from typing import Any

from langchain_core.tools import tool
from langgraph.types import interrupt


def _stable_number(text: str, modulo: int) -> int:
    return zlib.crc32(text.encode()) % modulo


@tool
def track_order(order_id: str) -> str:
    """Look up where an order is and when it will arrive."""
    if not order_id.startswith("ORD-"):
        raise ValueError(f"Unknown order {order_id!r}: order ids look like ORD-12345")
    states = ["processing", "shipped", "out for delivery", "delivered"]
    return json.dumps({"order_id": order_id, "state": states[_stable_number(order_id, len(states))], "carrier": "DHL"})


@tool
def cancel_order(order_id: str) -> str:
    """Cancel an order that has not shipped yet. Needs a human's approval."""
    decision = interrupt(
        {"action": "cancel_order", "order_id": order_id, "question": f"Cancel order {order_id}?"}
    )
    outcome = _decision_type(decision)
    if outcome == "approve":
        return f"Order {order_id} cancelled."
    return f"Cancellation of {order_id} was not approved."


@tool
def lookup_invoice(invoice_id: str) -> str:
    """Fetch an invoice with its lines and payment state."""
    if not invoice_id.startswith("INV-"):
        raise ValueError(f"No invoice {invoice_id!r}: invoice ids look like INV-12345")
    amount = 20 + _stable_number(invoice_id, 180)
    return json.dumps({"invoice_id": invoice_id, "amount_usd": amount, "paid": True})


@tool
def issue_refund(order_id: str, amount_usd: float, reason: str) -> str:
    """Refund money to the customer. Needs a human's approval."""
    decision = interrupt(
        {
            "action": "issue_refund",
            "order_id": order_id,
            "amount_usd": amount_usd,
            "reason": reason,
            "question": f"Refund ${amount_usd:.2f} for {order_id}?",
        }
    )
    if isinstance(decision, dict) and decision.get("approved"):
        return f"Refund of ${amount_usd:.2f} for {order_id} issued."
    reviewer_reason = decision.get("reason", "") if isinstance(decision, dict) else ""
    return f"Refund for {order_id} was rejected. {reviewer_reason}".strip()


@tool
def search_knowledge_base(query: str) -> str:
    """Search the help-centre articles."""
    return json.dumps(
        {"query": query, "articles": [{"title": f"How to fix: {query}", "url": "https://help.example.com/a/42"}]}
    )


@tool
def reset_password(email: str) -> str:
    """Send a password-reset link to the customer's email address."""
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    return f"Password reset link sent to {email}."


@tool
def escalate_to_human(reason: str) -> str:
    """Hand the conversation to a human support agent (calls the escalation webhook)."""
    return json.dumps({"ticket": f"HUM-{_stable_number(reason, 90000) + 10000}", "queued": True})


def _decision_type(decision: Any) -> str:
    """Read a human-in-the-loop decision in the ``{"decisions": [{"type": ...}]}`` shape."""
    if isinstance(decision, dict):
        decisions = decision.get("decisions") or []
        if decisions and isinstance(decisions[0], dict):
            return str(decisions[0].get("type", ""))
    return ""


AGENT_TOOLS = {
    "billing": [lookup_invoice, issue_refund, escalate_to_human],
    "orders": [track_order, cancel_order, escalate_to_human],
    "tech_support": [search_knowledge_base, reset_password, escalate_to_human],
}
