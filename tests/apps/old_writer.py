"""Write the same few conversations with whatever langgraph is installed, into a PostgreSQL database.

Run as a script in a virtual environment holding one langgraph release (tests/old_langgraph.py makes one
per release): ``python old_writer.py CONNINFO``. It creates the checkpoint tables with that release's own
``PostgresSaver.setup()``, writes the conversations and prints one JSON line: the release and the threads
it wrote (a conversation the release cannot express, such as ``interrupt()`` before langgraph 0.2.57, is
listed under ``skipped`` with the reason).

Only APIs that langgraph 0.2 already had are used, and nothing of this project is imported: the script
runs outside it. Every reply is scripted and carries fixed token counts, so two releases writing the
same conversation differ only in how they store it.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from typing import Annotated, Any, List, Optional, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition

try:  # langgraph 0.2.57 and later
    from langgraph.types import Command, interrupt
except ImportError:  # pragma: no cover - only older releases
    Command = interrupt = None
try:
    from langgraph.types import Send
except ImportError:  # pragma: no cover - only older releases
    from langgraph.constants import Send

MODEL_NAME = "gpt-4o-mini"


class ScriptedModel(BaseChatModel):
    """A chat model that hands out its replies in order, each with fixed usage and a model name."""

    replies: List[Any]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedModel":
        return self

    def _generate(
        self, messages: List[BaseMessage], stop: Optional[List[str]] = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        content, tool_calls, input_tokens, output_tokens = self.replies.pop(0)
        message = AIMessage(
            content=content,
            tool_calls=tool_calls,
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            response_metadata={"model_name": MODEL_NAME},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def call(name: str, args: dict, call_id: str) -> dict:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


@tool
def get_time(city: str) -> str:
    """Local time in a city."""
    return f"It is 10:00 in {city}"


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    if city == "Atlantis":
        raise ValueError("unknown city Atlantis")
    return f"Sunny in {city}"


@tool
def lookup_invoice(invoice_id: str) -> str:
    """An invoice's amount and status."""
    return f"Invoice {invoice_id}: 42.00 EUR, paid"


class ChatState(TypedDict):
    messages: Annotated[List[AnyMessage], add_messages]


def agent_with_tools(replies: list, tools: list, *, name: str = "assistant", checkpointer: Any = None, **compile_options: Any):
    """``name`` ⇄ ``tools``: the plain ReAct loop of LangGraph's tutorials."""
    model = ScriptedModel(replies=replies).bind_tools(tools)
    builder = StateGraph(ChatState)
    builder.add_node(name, lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    builder.add_edge(START, name)
    builder.add_conditional_edges(name, tools_condition)
    builder.add_edge("tools", name)
    return builder.compile(checkpointer=checkpointer, **compile_options)


def user(text: str) -> dict:
    return {"messages": [("user", text)]}


def config(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}}


def tools_multi_turn(saver) -> None:
    """Two turns: a tool that answers, then a tool that fails and the agent apologising."""
    graph = agent_with_tools([
        ("", [call("get_time", {"city": "Oslo"}, "call-time-1")], 120, 20),
        ("It is 10:00 in Oslo.", [], 160, 8),
        ("", [call("get_weather", {"city": "Atlantis"}, "call-weather-1")], 190, 21),
        ("Sorry, I cannot find Atlantis.", [], 240, 9),
    ], [get_time, get_weather], checkpointer=saver)
    graph.invoke(user("What time is it in Oslo?"), config("tools_multi_turn"))
    graph.invoke(user("And the weather in Atlantis?"), config("tools_multi_turn"))


def breakpoint_approved(saver) -> None:
    """A static breakpoint before the tool node, approved by resuming with no input."""
    graph = agent_with_tools([
        ("", [call("get_time", {"city": "Rome"}, "call-time-2")], 110, 19),
        ("It is 10:00 in Rome.", [], 150, 8),
    ], [get_time], checkpointer=saver, interrupt_before=["tools"])
    graph.invoke(user("What time is it in Rome?"), config("breakpoint_approved"))
    graph.invoke(None, config("breakpoint_approved"))


def breakpoint_rejected(saver) -> None:
    """The same breakpoint rejected: the reviewer answers the call as the tool node, then the run goes on."""
    graph = agent_with_tools([
        ("", [call("get_time", {"city": "Lima"}, "call-time-3")], 110, 19),
        ("I may not look that up, sorry.", [], 170, 9),
    ], [get_time], checkpointer=saver, interrupt_before=["tools"])
    graph.invoke(user("What time is it in Lima?"), config("breakpoint_rejected"))
    refusal = ToolMessage(content="Not allowed: no lookups for Lima.", tool_call_id="call-time-3", name="get_time")
    graph.update_state(config("breakpoint_rejected"), {"messages": [refusal]}, as_node="tools")
    graph.invoke(None, config("breakpoint_rejected"))


def interrupt_resumed(saver) -> None:
    """``interrupt()`` inside a node, resumed with ``Command(resume=...)``."""
    model = ScriptedModel(replies=[("Your refund of 42.00 EUR is on its way.", [], 130, 12)])

    def review(state: ChatState) -> dict:
        interrupt({"question": "Refund 42.00 EUR?", "amount": 42})
        return {}

    builder = StateGraph(ChatState)
    builder.add_node("review", review)
    builder.add_node("assistant", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_edge(START, "review")
    builder.add_edge("review", "assistant")
    builder.add_edge("assistant", END)
    graph = builder.compile(checkpointer=saver)
    graph.invoke(user("Please refund my last order."), config("interrupt_resumed"))
    graph.invoke(Command(resume={"approved": True}), config("interrupt_resumed"))


def subgraph(saver) -> None:
    """A node that is a compiled graph of its own (its checkpoints live in their own namespace)."""
    billing = agent_with_tools([
        ("", [call("lookup_invoice", {"invoice_id": "INV-7"}, "call-invoice-1")], 140, 22),
        ("Invoice INV-7 is paid: 42.00 EUR.", [], 180, 11),
    ], [lookup_invoice], name="billing_agent")
    builder = StateGraph(ChatState)
    builder.add_node("billing", billing)
    builder.add_edge(START, "billing")
    builder.add_edge("billing", END)
    builder.compile(checkpointer=saver).invoke(user("Is invoice INV-7 paid?"), config("subgraph"))


def fan_out(saver) -> None:
    """``Send`` to one node twice in a step (kept in the checkpoint's ``pending_sends`` before langgraph 0.4),
    each task answering with a message of its own; then one answer."""
    model = ScriptedModel(replies=[("Oslo and Rome are both at 10:00.", [], 150, 10)])

    def plan(state: ChatState) -> dict:
        return {"messages": []}  # langgraph 0.2 wants every node to write something

    def fan(state: ChatState) -> list:
        return [Send("lookup", {"city": city}) for city in ("Oslo", "Rome")]

    def lookup(task: dict) -> dict:
        return {"messages": [AIMessage(content=f"{task['city']}: 10:00", id=f"lookup-{task['city']}")]}

    builder = StateGraph(ChatState)
    builder.add_node("plan", plan)
    builder.add_node("lookup", lookup)
    builder.add_node("answer", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", fan, ["lookup"])
    builder.add_edge("lookup", "answer")
    builder.add_edge("answer", END)
    builder.compile(checkpointer=saver).invoke(user("Time in Oslo and Rome?"), config("fan_out"))


CONVERSATIONS = {
    "tools_multi_turn": tools_multi_turn,
    "breakpoint_approved": breakpoint_approved,
    "breakpoint_rejected": breakpoint_rejected,
    "interrupt_resumed": interrupt_resumed,
    "subgraph": subgraph,
    "fan_out": fan_out,
}


def main(conninfo: str) -> dict:
    written, skipped = [], {}
    with PostgresSaver.from_conn_string(conninfo) as saver:
        saver.setup()
        for thread_id, write in CONVERSATIONS.items():
            if write is interrupt_resumed and interrupt is None:
                skipped[thread_id] = "this langgraph has no interrupt()"
                continue
            write(saver)
            written.append(thread_id)
    return {"langgraph": version("langgraph"), "threads": written, "skipped": skipped}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
