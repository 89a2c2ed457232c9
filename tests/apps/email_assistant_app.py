"""An email assistant built the way langchain-ai's public Agent Inbox examples build it (the
"agents from scratch" HITL email assistant): the incoming email in its own ``email_input`` channel, a
triage node that ignores it, notifies the user about it (``interrupt``) or hands it to a response agent;
the response agent compiled as its own graph (a subgraph node), with ``write_email``,
``schedule_meeting``, ``check_calendar_availability``, a ``Question`` tool and a ``Done`` marker; before
each sensitive tool, ``interrupt([HumanInterrupt])``, resumed with ``Command(resume=[HumanResponse])``.
An edit re-adds the model's AIMessage under its own id with the arguments that ran, as the example does.

The Agent Inbox schema is written out here as the examples write it (langgraph's own copy in
``langgraph.prebuilt.interrupt`` is deprecated)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypedDict

from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from smart_support.agent.chat_model import ReplyFor, ScriptedChatModel

Classification = Literal["ignore", "notify", "respond"]


class ActionRequest(TypedDict):
    action: str
    args: dict


class HumanInterruptConfig(TypedDict):
    allow_ignore: bool
    allow_respond: bool
    allow_edit: bool
    allow_accept: bool


class HumanInterrupt(TypedDict):
    action_request: ActionRequest
    config: HumanInterruptConfig
    description: str | None


class HumanResponse(TypedDict):
    type: Literal["accept", "ignore", "response", "edit"]
    args: None | str | ActionRequest


class EmailInput(TypedDict):
    author: str
    to: str
    subject: str
    email_thread: str


class StateInput(TypedDict):
    email_input: EmailInput


class State(MessagesState):
    email_input: EmailInput
    classification_decision: Classification


# -- tools ------------------------------------------------------------------------------------------
@tool
def write_email(to: str, subject: str, content: str) -> str:
    """Write and send an email."""
    return f"Email sent to {to} with subject '{subject}' and content: {content}"


@tool
def schedule_meeting(attendees: list[str], subject: str, duration_minutes: int, preferred_day: str) -> str:
    """Schedule a calendar meeting."""
    return f"Meeting '{subject}' scheduled on {preferred_day} for {duration_minutes} minutes with {len(attendees)} attendees"


@tool
def check_calendar_availability(day: str) -> str:
    """Check calendar availability for a given day."""
    if day not in {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}:
        raise ValueError(f"the calendar has no day called {day!r}")
    return f"Available times on {day}: 9:00 AM, 2:00 PM, 4:00 PM"


@tool
def Question(content: str) -> str:  # noqa: N802 - the examples' tool name
    """Question to ask user."""
    return content


@tool
def Done(done: bool) -> str:  # noqa: N802 - the examples' tool name
    """E-mail has been sent."""
    return "done"


TOOLS = [write_email, schedule_meeting, check_calendar_availability, Question, Done]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}
HITL_TOOLS = ("write_email", "schedule_meeting", "Question")
FULL_REVIEW = HumanInterruptConfig(allow_ignore=True, allow_respond=True, allow_edit=True, allow_accept=True)
ANSWER_ONLY = HumanInterruptConfig(allow_ignore=True, allow_respond=True, allow_edit=False, allow_accept=False)


def email_markdown(email: EmailInput) -> str:
    return f"## Original Email\n\n**Subject**: {email['subject']}\n**From**: {email['author']}\n**To**: {email['to']}\n\n{email['email_thread']}\n\n---\n"


# -- the response agent -----------------------------------------------------------------------------
def _response_agent(reply_for: ReplyFor):
    llm = ScriptedChatModel(agent_name="response_agent", model_name="gpt-4o-mini", reply_for=reply_for).bind_tools(TOOLS)

    def llm_call(state: State) -> dict:
        return {"messages": [llm.invoke([{"role": "system", "content": "You are an email assistant."}, *state["messages"]])]}

    def interrupt_handler(state: State) -> Command[Literal["llm_call", "__end__"]]:
        result: list = []
        goto = "llm_call"
        ai_message = state["messages"][-1]
        for tool_call in ai_message.tool_calls:
            if tool_call["name"] not in HITL_TOOLS:
                observation = TOOLS_BY_NAME[tool_call["name"]].invoke(tool_call["args"])
                result.append({"role": "tool", "content": observation, "tool_call_id": tool_call["id"]})
                continue
            request = HumanInterrupt(
                action_request=ActionRequest(action=tool_call["name"], args=tool_call["args"]),
                config=ANSWER_ONLY if tool_call["name"] == "Question" else FULL_REVIEW,
                description=email_markdown(state["email_input"]) + "\n# Review the proposed action",
            )
            response = interrupt([request])[0]
            if response["type"] == "accept":
                observation = TOOLS_BY_NAME[tool_call["name"]].invoke(tool_call["args"])
                result.append({"role": "tool", "content": observation, "tool_call_id": tool_call["id"]})
            elif response["type"] == "edit":
                edited_args = response["args"]["args"]
                updated_calls = [call for call in ai_message.tool_calls if call["id"] != tool_call["id"]] + [
                    {"type": "tool_call", "name": tool_call["name"], "args": edited_args, "id": tool_call["id"]}
                ]
                result.append(ai_message.model_copy(update={"tool_calls": updated_calls}))
                observation = TOOLS_BY_NAME[tool_call["name"]].invoke(edited_args)
                result.append({"role": "tool", "content": observation, "tool_call_id": tool_call["id"]})
            elif response["type"] == "ignore":
                result.append({
                    "role": "tool", "tool_call_id": tool_call["id"],
                    "content": f"User ignored this {tool_call['name']} call. Ignore this email and end the workflow.",
                })
                goto = END
            elif response["type"] == "response":
                result.append({
                    "role": "tool", "tool_call_id": tool_call["id"],
                    "content": f"User gave feedback, which we can incorporate. Feedback: {response['args']}",
                })
        return Command(goto=goto, update={"messages": result})

    def should_continue(state: State) -> Literal["interrupt_handler", "__end__"]:
        calls = state["messages"][-1].tool_calls
        if not calls or any(call["name"] == "Done" for call in calls):
            return END
        return "interrupt_handler"

    builder = StateGraph(State)
    builder.add_node("llm_call", llm_call)
    builder.add_node("interrupt_handler", interrupt_handler)
    builder.add_edge(START, "llm_call")
    builder.add_conditional_edges("llm_call", should_continue, ["interrupt_handler", END])
    return builder.compile()


# -- triage -----------------------------------------------------------------------------------------
def build_email_assistant(*, reply_for: ReplyFor, classify: Callable[[EmailInput], Classification], checkpointer):
    """Compile the assistant; ``classify`` stands in for the triage model, ``reply_for`` for the agent's."""

    def triage_router(state: State) -> Command[Literal["triage_interrupt_handler", "response_agent", "__end__"]]:
        email = state["email_input"]
        classification = classify(email)
        if classification == "respond":
            update = {
                "classification_decision": classification,
                "messages": [{"role": "user", "content": f"Respond to the email: {email_markdown(email)}"}],
            }
            return Command(goto="response_agent", update=update)
        if classification == "notify":
            return Command(goto="triage_interrupt_handler", update={"classification_decision": classification})
        return Command(goto=END, update={"classification_decision": classification})

    def triage_interrupt_handler(state: State) -> Command[Literal["response_agent", "__end__"]]:
        markdown = email_markdown(state["email_input"])
        request = HumanInterrupt(
            action_request=ActionRequest(action=f"Email Assistant: {state['classification_decision']}", args={}),
            config=ANSWER_ONLY,
            description=markdown,
        )
        response = interrupt([request])[0]
        if response["type"] == "response":
            messages = [
                {"role": "user", "content": f"Email to notify user about: {markdown}"},
                {"role": "user", "content": f"User wants to reply to the email. Use this feedback to respond: {response['args']}"},
            ]
            return Command(goto="response_agent", update={"messages": messages})
        return Command(goto=END)

    builder = StateGraph(State, input_schema=StateInput)
    builder.add_node("triage_router", triage_router)
    builder.add_node("triage_interrupt_handler", triage_interrupt_handler)
    builder.add_node("response_agent", _response_agent(reply_for))
    builder.add_edge(START, "triage_router")
    return builder.compile(checkpointer=checkpointer)


def reply(text: str = "", *calls: tuple[str, dict, str], message_id: str) -> AIMessage:
    """A scripted model reply: text and/or tool calls ``(name, args, id)``."""
    return AIMessage(
        content=text, id=message_id,
        tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"} for name, args, call_id in calls],
    )
