"""The reference support agent: a supervisor routing with ``transfer_to_<agent>`` tools to three
specialists. ``billing`` is compiled as its own graph (a subgraph, so its steps are checkpointed under
its own namespace); ``orders`` and ``tech_support`` are nodes of the parent graph."""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command

from smart_support.agent.chat_model import ReplyFor, ScriptedChatModel
from smart_support.agent.tools import AGENT_TOOLS

SUPERVISOR = "supervisor"
SUBGRAPH_AGENTS = ("billing",)
INLINE_AGENTS = ("orders", "tech_support")
AGENT_MODELS = {
    SUPERVISOR: "gpt-4o",
    "billing": "gpt-4o-mini",
    "orders": "gpt-4o-mini",
    "tech_support": "claude-haiku-4-5",
}
# OpenAI caches long prompts without being asked; Anthropic only where the request marks the cache.
CACHING_MODEL_PREFIXES = ("gpt-",)
PROMPTS = {
    SUPERVISOR: "You are the front desk of Acme support. Route the customer to the right specialist.",
    "billing": "You are Acme's billing specialist: invoices and refunds.",
    "orders": "You are Acme's orders specialist: tracking and cancellations.",
    "tech_support": "You are Acme's technical support specialist.",
}


def make_handoff_tool(agent: str) -> BaseTool:
    @tool(f"transfer_to_{agent}", description=f"Hand the conversation to the {agent} specialist.")
    def handoff(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        message = ToolMessage(f"Transferred to {agent}.", tool_call_id=tool_call_id, name=f"transfer_to_{agent}")
        return Command(goto=agent, update={"messages": [message]})

    return handoff


def _scripted_model(agent: str, reply_for: ReplyFor) -> ScriptedChatModel:
    model_name = AGENT_MODELS[agent]
    return ScriptedChatModel(
        agent_name=agent, model_name=model_name, reply_for=reply_for,
        caches_prompts=model_name.startswith(CACHING_MODEL_PREFIXES),
    )


def _model_node(agent: str, model: ScriptedChatModel):
    def call_model(state: MessagesState) -> dict:
        reply = model.invoke([SystemMessage(PROMPTS[agent]), *state["messages"]])
        return {"messages": [reply]}

    return call_model


def _route_after_model(tools_node: str):
    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return tools_node if isinstance(last, AIMessage) and last.tool_calls else END

    return route


def _add_specialist(builder: StateGraph, agent: str, reply_for: ReplyFor) -> None:
    tools = AGENT_TOOLS[agent]
    model = _scripted_model(agent, reply_for).bind_tools(tools)
    tools_node = f"{agent}_tools"
    builder.add_node(agent, _model_node(agent, model))
    builder.add_node(tools_node, ToolNode(tools, handle_tool_errors=True))
    builder.add_conditional_edges(agent, _route_after_model(tools_node), [tools_node, END])
    builder.add_edge(tools_node, agent)


def build_specialist_subgraph(agent: str, reply_for: ReplyFor) -> CompiledStateGraph:
    builder = StateGraph(MessagesState)
    _add_specialist(builder, agent, reply_for)
    builder.add_edge(START, agent)
    return builder.compile()


def build_support_graph(*, reply_for: ReplyFor, checkpointer: BaseCheckpointSaver | None) -> CompiledStateGraph:
    """Compile the reference agent; every model reply comes from ``reply_for(agent, messages)``."""
    specialists = [*SUBGRAPH_AGENTS, *INLINE_AGENTS]
    handoff_tools = [make_handoff_tool(agent) for agent in specialists]
    supervisor_model = _scripted_model(SUPERVISOR, reply_for).bind_tools(handoff_tools)

    builder = StateGraph(MessagesState)
    builder.add_node(SUPERVISOR, _model_node(SUPERVISOR, supervisor_model))
    builder.add_node("supervisor_tools", ToolNode(handoff_tools), destinations=tuple(specialists))
    builder.add_edge(START, SUPERVISOR)
    builder.add_conditional_edges(SUPERVISOR, _route_after_model("supervisor_tools"), ["supervisor_tools", END])
    for agent in SUBGRAPH_AGENTS:
        builder.add_node(agent, build_specialist_subgraph(agent, reply_for))
        builder.add_edge(agent, END)
    for agent in INLINE_AGENTS:
        _add_specialist(builder, agent, reply_for)
    return builder.compile(checkpointer=checkpointer)
