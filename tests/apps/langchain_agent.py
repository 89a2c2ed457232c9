"""An app built with langchain 1.x ``create_agent`` and ``HumanInTheLoopMiddleware`` (approvals in the
``{"decisions": [...]}`` shape), parallel tool calls, middleware running as graph nodes."""

from __future__ import annotations

import warnings

from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.supervisor_app import call

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware


@tool
def send_email(to: str, body: str) -> str:
    """Send an email to a customer."""
    return f"sent to {to}"


@tool
def lookup_customer(email: str) -> str:
    """Find a customer by email."""
    return f"{email}: premium plan"


def build_langchain_agent(*, checkpointer):
    model = ScriptedChatModel(agent_name="mailer", model_name="gpt-4o", reply_for=replies_in_order([
        AIMessage("", tool_calls=[
            call("lookup_customer", {"email": "a@example.com"}, "lc-1"),
            call("send_email", {"to": "a@example.com", "body": "Your refund is on its way"}, "lc-2"),
        ]),
        AIMessage("I looked you up; the email was not sent."),
    ]))
    return create_agent(
        model,
        tools=[send_email, lookup_customer],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
        checkpointer=checkpointer,
        name="mailer",
    )
