"""A support app on a real provider's model, answered by recorded API responses.

Each response body in ``tests/fixtures`` becomes a ``ChatResult`` through the provider's own LangChain
conversion (langchain-openai's ``_create_chat_result``, langchain-anthropic's ``_format_output``), the
code a live call runs after the HTTP round trip, so the stored messages carry exactly the
``usage_metadata`` and model name a real call leaves. No network, no API key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic
import time_machine
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def recorded_body(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def openai_result(name: str) -> ChatResult:
    """A recorded OpenAI chat completion, as ChatOpenAI turns it into a result."""
    body = recorded_body(name)
    return ChatOpenAI(model=body["model"], api_key="not-used")._create_chat_result(body)


def anthropic_result(name: str) -> ChatResult:
    """A recorded Anthropic message, parsed by the SDK and turned into a result as ChatAnthropic does."""
    body = recorded_body(name)
    message = anthropic.types.Message.model_validate(body)
    return ChatAnthropic(model=body["model"], api_key="not-used")._format_output(message)


class RecordedChatModel(BaseChatModel):
    """Answers each call with the next recorded result; langchain-core then adds the result's
    ``llm_output`` (model name, response id) to the message, as it does for the provider's model."""

    results: list[ChatResult]

    @property
    def _llm_type(self) -> str:
        return "recorded"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return self.results.pop(0)


@tool
def track_order(order_id: str) -> str:
    """Where an order is."""
    return f"{order_id}: left the warehouse yesterday, due Thursday"


def run_recorded_conversation(
    *, checkpointer, thread_id: str, question: str, results: list[ChatResult], started_at: datetime
) -> None:
    """One customer question answered by ``results`` in order (tool calls run for real), checkpointed."""
    model = RecordedChatModel(results=results)

    def assistant(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    def after_assistant(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    builder = StateGraph(MessagesState)
    builder.add_node("assistant", assistant)
    builder.add_node("tools", ToolNode([track_order]))
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", after_assistant, ["tools", END])
    builder.add_edge("tools", "assistant")
    graph = builder.compile(checkpointer=checkpointer)
    with time_machine.travel(started_at, tick=True):
        graph.invoke({"messages": [("user", question)]}, {"configurable": {"thread_id": thread_id}})
