"""An app built with langgraph-swarm: two react agents handing off to each other, ``active_agent`` channel."""

from __future__ import annotations

import warnings

from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph_swarm import create_handoff_tool, create_swarm

from smart_support.agent.chat_model import ScriptedChatModel, replies_in_order
from tests.apps.supervisor_app import call

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def build_swarm_app(*, checkpointer):
    """Alice does maths and hands pirate talk to Bob; Bob hands back."""
    alice_model = ScriptedChatModel(
        agent_name="Alice", model_name="gpt-4o-mini", reply_for=replies_in_order([
            AIMessage("", tool_calls=[call("add", {"a": 2, "b": 3}, "al-1")]),
            AIMessage("", tool_calls=[call("transfer_to_bob", {}, "al-2")]),
            AIMessage("2 + 3 = 5, and that's the end of it."),
        ]),
    )
    bob_model = ScriptedChatModel(
        agent_name="Bob", model_name="gpt-4o", reply_for=replies_in_order([
            AIMessage("Arr, the answer be 5!"),
            AIMessage("", tool_calls=[call("transfer_to_alice", {}, "bo-1")]),
        ]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alice = create_react_agent(
            alice_model, [add, create_handoff_tool(agent_name="Bob", name="transfer_to_bob")], name="Alice"
        )
        bob = create_react_agent(
            bob_model, [create_handoff_tool(agent_name="Alice", name="transfer_to_alice")], name="Bob"
        )
        workflow = create_swarm([alice, bob], default_active_agent="Alice")
    return workflow.compile(checkpointer=checkpointer)
