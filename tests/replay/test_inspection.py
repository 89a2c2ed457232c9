"""inspect_checkpoints on threads written by real LangGraph apps: what it finds, how it was read, and
the settings it proposes."""

import io
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from replay.inspection import inspect_checkpoints
from replay.inspection_reads import read_only_connection
from replay.inspection_report import BreakpointSeen, Counted
from replay.services import ThreadNotFound
from smart_support.agent.chat_model import replies_in_order
from smart_support.agent.scenarios import plan_conversation
from tests.apps.plain_graph import build_plain_graph
from tests.apps.routing_tools_app import build_routing_tools_app
from tests.apps.supervisor_app import build_supervisor_app, call
from tests.apps.swarm_app import build_swarm_app

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


def named(counted):
    return {item.name: item.count for item in counted}


def tool(report, name):
    return next(tool for tool in report.tools if tool.name == name)


@pytest.fixture
def travel_threads(checkpointer):
    """The tutorial-style app: one thread routed to the flight assistant and back, one asking for a human."""
    app = build_routing_tools_app(checkpointer=checkpointer)
    app.invoke({"messages": [("user", "move my flight to LX 38")]}, {"configurable": {"thread_id": "travel-1"}})
    app.invoke({"messages": [("user", "I want to talk to a person")]}, {"configurable": {"thread_id": "travel-2"}})


# -- apps the settings already read ---------------------------------------------------------------

def test_reference_agent_needs_no_setting(run_reference_agent):
    for index, scenario in enumerate(("refund_approved", "escalated_after_answer", "password_failed", "multi_turn")):
        run_reference_agent(plan_conversation(seed=3, index=index, scenario=scenario), STARTED_AT)

    report = inspect_checkpoints(threads=200)

    assert report.threads == 4
    assert report.advice == ()
    assert named(report.handoffs) == {
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_to_billing)": 2,
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_to_orders)": 1,
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_to_tech_support)": 2,
    }
    assert named(report.namespaces) == {"billing": 2}
    assert {"supervisor", "supervisor_tools", "orders", "billing › billing", "billing › billing_tools"} <= {
        node.name for node in report.nodes
    }
    escalation = tool(report, "escalate_to_human")
    assert (escalation.calls, escalation.answered, named(escalation.read_as)) == (1, 1, {"escalation": 1})
    assert named(tool(report, "transfer_to_billing").answered_by) == {"supervisor_tools": 2}
    refund = tool(report, "issue_refund")
    assert named(refund.answered_by) == {"billing › billing_tools": 1} and refund.caller_went_on == 1
    assert named(report.tool_errors) == {"reset_password": 1}
    assert report.interrupt_writes == 2 and named(report.interrupts) == {"resolved": 1}
    assert report.breakpoint_stops == () and report.unknown_steps == ()
    assert dict(report.reading)["SMART_SUPPORT_HANDOFF_TOOL_PREFIXES"] == "transfer_to_,transfer_back_to_"


def test_supervisor_app_needs_no_setting(checkpointer):
    graph = build_supervisor_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "supervisor-1"}}
    graph.invoke({"messages": [("user", "Is LH123 on time? And book me a hotel in Lisbon")]}, config)
    graph.invoke(Command(resume={"approved": True, "reviewer": "kim"}), config)

    report = inspect_checkpoints(thread_id="supervisor-1")

    assert report.sample == "thread supervisor-1" and report.advice == ()
    assert named(report.namespaces) == {"flight_agent": 1, "hotel_agent": 1, "supervisor": 1}
    assert named(report.handoffs) == {
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_back_to_supervisor)": 2,
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_to_flight_agent)": 1,
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_to_hotel_agent)": 1,
    }
    # a react agent runs its tools as Send tasks, whose path names no node
    assert named(tool(report, "book_hotel").answered_by) == {"hotel_agent › (Send)": 1}
    assert report.interrupt_writes == 2 and named(report.interrupts) == {"resolved": 1}


def test_swarm_app_reads_its_active_agent_channel(checkpointer):
    graph = build_swarm_app(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "swarm-1"}}
    graph.invoke({"messages": [("user", "what is 2+3, answer like a pirate")]}, config)
    graph.invoke({"messages": [("user", "thanks, back to maths")]}, config)

    report = inspect_checkpoints(thread_id="swarm-1")

    assert report.advice == ()
    active_agent = next(channel for channel in report.channels if channel.name == "active_agent")
    assert (active_agent.threads, active_agent.stored, active_agent.example) == (1, "inline, versioned", "'Alice'")
    assert named(report.handoffs) == {
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_to_alice)": 1,
        "SMART_SUPPORT_HANDOFF_TOOL_PREFIXES (transfer_to_bob)": 1,
    }


# -- apps that need settings ----------------------------------------------------------------------

def test_tutorial_style_app_gets_routing_tools_agent_channel_error_pattern_and_escalation(travel_threads, settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "TOOL_ERROR_PATTERNS": []}

    report = inspect_checkpoints(threads=200)

    assert [advice.line for advice in report.advice] == [
        "SMART_SUPPORT_ROUTING_TOOLS=CompleteOrEscalate,ToFlightBookingAssistant",
        "SMART_SUPPORT_ACTIVE_AGENT_CHANNEL=dialog_state",
        r"SMART_SUPPORT_TOOL_ERROR_PATTERNS='\ATool failed:.*again with other arguments\.\s*\Z'",
        "SMART_SUPPORT_ESCALATION_TOOLS=escalate_to_human,request_human_agent",
    ]
    routing = report.advice[0]
    assert routing.evidence == (
        "CompleteOrEscalate: 1 calls answered by leave_skill; then update_flight → primary_assistant",
        "ToFlightBookingAssistant: 1 calls answered by enter_update_flight; then primary_assistant → update_flight",
    )
    assert report.advice[1].reason.startswith("a list-valued channel whose last item names a node")
    flight_tool = tool(report, "update_ticket_to_new_flight")
    assert (flight_tool.calls, flight_tool.caller_went_on, named(flight_tool.answered_by)) == (2, 2, {"update_flight_tools": 2})


def test_proposed_error_pattern_matches_the_error_messages_and_not_the_others(travel_threads):
    import re

    report = inspect_checkpoints(threads=200)
    pattern = re.compile(next(a.value for a in report.advice if a.setting == "SMART_SUPPORT_TOOL_ERROR_PATTERNS"), re.DOTALL)

    assert pattern.search("Tool failed: ValueError('no seats left on LX 38')\n Try again with other arguments.")
    assert not pattern.search("The assistant is now the flight booking assistant.")


def test_proposed_error_pattern_keeps_the_patterns_in_force(travel_threads, settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "TOOL_ERROR_PATTERNS": [r"\AOops\b"]}

    report = inspect_checkpoints(threads=200)

    proposed = next(advice.value for advice in report.advice if advice.setting == "SMART_SUPPORT_TOOL_ERROR_PATTERNS")
    assert proposed == r"(?:\AOops\b)|(?:\ATool failed:.*again with other arguments\.\s*\Z)"
    assert dict(report.reading)["SMART_SUPPORT_TOOL_ERROR_PATTERNS"] == r"\AOops\b"


def test_a_setting_in_force_is_not_proposed_again(travel_threads, settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ESCALATION_TOOLS": ["escalate_to_human", "request_human_agent"]}

    report = inspect_checkpoints(threads=200)

    assert "SMART_SUPPORT_ESCALATION_TOOLS" not in {advice.setting for advice in report.advice}
    assert named(tool(report, "request_human_agent").read_as) == {"escalation": 1}


def _triage_app(checkpointer):
    def triage(state):
        return {"messages": [AIMessage("Let me find the right team.", id=f"m-triage-{len(state['messages'])}")]}

    def billing(state):
        return {"messages": [AIMessage("Billing here: your invoice is paid.", id=f"m-billing-{len(state['messages'])}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("triage", triage)
    builder.add_node("billing", billing)
    builder.add_edge(START, "triage")
    builder.add_edge("triage", "billing")
    builder.add_edge("billing", END)
    graph = builder.compile(checkpointer=checkpointer)
    graph.invoke({"messages": [("user", "is my invoice paid?")]}, {"configurable": {"thread_id": "router-1"}})


def test_router_app_gets_router_targets(checkpointer):
    _triage_app(checkpointer)

    report = inspect_checkpoints(threads=200)

    assert [advice.line for advice in report.advice] == ["SMART_SUPPORT_ROUTER_TARGETS=billing"]
    assert report.advice[0].evidence == ("triage → billing: 1 times",)


def test_router_targets_in_force_count_their_handoffs(checkpointer, settings):
    _triage_app(checkpointer)
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "ROUTER_TARGETS": ["triage", "billing"]}

    report = inspect_checkpoints(threads=200)

    assert report.advice == ()
    assert named(report.handoffs)["SMART_SUPPORT_ROUTER_TARGETS (→ billing)"] == 1


# -- how it was read ------------------------------------------------------------------------------

def test_static_breakpoints_are_found_with_what_followed(checkpointer):
    graph = build_plain_graph(reply_for=replies_in_order([
        AIMessage("", tool_calls=[call("get_time", {"city": "Paris"}, "t-1")]),
        AIMessage("It is 10:00 in Paris."),
        AIMessage("", tool_calls=[call("get_time", {"city": "Rome"}, "t-2")]),
        AIMessage("", tool_calls=[call("get_time", {"city": "Oslo"}, "t-3")]),
    ]), checkpointer=checkpointer)
    resumed, waiting, updated = ({"configurable": {"thread_id": f"bp-{number}"}} for number in (1, 2, 3))
    graph.invoke({"messages": [("user", "time in Paris?")]}, resumed, interrupt_before=["tools", "review"])
    graph.invoke(None, resumed, interrupt_before=["review"])
    graph.invoke({"messages": [("user", "time in Rome?")]}, waiting, interrupt_before=["tools"])
    graph.invoke({"messages": [("user", "time in Oslo?")]}, updated, interrupt_before=["tools"])
    graph.update_state(updated, {"messages": [ToolMessage("Not allowed.", tool_call_id="t-3")]}, as_node="tools")

    report = inspect_checkpoints(threads=200)

    assert sorted((stop.thread_id, stop.pending_nodes, stop.then) for stop in report.breakpoint_stops) == [
        ("bp-1", ("review",), "nothing yet"),
        ("bp-1", ("tools",), "resumed"),
        ("bp-2", ("tools",), "nothing yet"),
        ("bp-3", ("tools",), "state updated"),
    ]
    assert all(isinstance(stop, BreakpointSeen) and stop.checkpoint_ns == "" for stop in report.breakpoint_stops)
    assert named(tool(report, "get_time").answered_by) == {"tools": 1, "(update_state)": 1}
    assert named(report.sources)["update"] == 1


def test_exit_durability_threads_are_read_from_the_blobs(checkpointer):
    graph = build_plain_graph(reply_for=replies_in_order([AIMessage("Hello!")]), checkpointer=checkpointer)
    graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "exit-1"}}, durability="exit")

    report = inspect_checkpoints(thread_id="exit-1")

    assert report.threads_read_from_blobs == 1
    assert report.steps >= 2  # the user's message and the reply, from the channel blob


def test_sample_is_the_most_recent_threads(run_reference_agent):
    for index in range(3):
        run_reference_agent(plan_conversation(seed=4, index=index, scenario="order_status"), STARTED_AT)
    newest = plan_conversation(seed=4, index=2, scenario="order_status").thread_id

    report = inspect_checkpoints(threads=1)

    assert report.threads == 1 and report.sample == "the 1 most recent threads (asked for up to 1)"
    assert {channel.name: channel.threads for channel in report.channels}["messages"] == 1
    assert inspect_checkpoints(thread_id=newest).checkpoints == report.checkpoints


def test_bad_samples_are_refused(checkpoint_db):
    with pytest.raises(ValueError, match="at least 1 thread; got 0"):
        inspect_checkpoints(threads=0)
    with pytest.raises(ThreadNotFound):
        inspect_checkpoints(thread_id="nope")


def test_the_checkpoint_tables_are_read_in_a_read_only_transaction(checkpoint_db):
    with read_only_connection(checkpoint_db) as connection:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            connection.execute("DELETE FROM checkpoints")


def test_counted_values_sort_most_frequent_first(travel_threads):
    report = inspect_checkpoints(threads=200)
    assert report.sources == (Counted("loop", 14), Counted("input", 2))


# -- the command ----------------------------------------------------------------------------------

def test_command_prints_findings_and_settings_ready_to_paste(travel_threads, capsys):
    call_command("inspect_checkpoints", threads=10)
    out = capsys.readouterr().out.splitlines()

    assert out[0] == "READ the 2 most recent threads (asked for up to 10), read-only: 16 checkpoints, 28 writes, 14 replay steps"
    assert "SMART_SUPPORT_ROUTING_TOOLS=CompleteOrEscalate,ToFlightBookingAssistant" in out
    assert "SMART_SUPPORT_ACTIVE_AGENT_CHANNEL=dialog_state" in out
    assert "# a list-valued channel whose last item names a node; active_agent is never stored" in out
    assert any(line.startswith("  dialog_state ") and "e.g. []" in line for line in out)
    assert out[-1] == "DONE inspect_checkpoints: 2 threads, 4 settings proposed"


def test_command_on_one_thread_with_nothing_to_propose(checkpointer, capsys):
    _triage_app(checkpointer)
    call_command("inspect_checkpoints", thread="router-1")
    out = capsys.readouterr().out
    assert "READ thread router-1, read-only" in out
    assert "SMART_SUPPORT_ROUTER_TARGETS=billing" in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threads": 0}, "--threads must be a whole number of at least 1; got 0"),
        ({"thread": "nope"}, "--thread: no checkpoints for thread 'nope'"),
        ({"thread": "nope", "threads": 5}, "--threads and --thread cannot be combined: give one"),
    ],
)
def test_command_refuses_bad_options(checkpoint_db, options, message):
    with pytest.raises(CommandError, match=message) as error:
        call_command("inspect_checkpoints", **options)
    assert error.value.returncode == 2


def test_command_bad_option_exits_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "inspect_checkpoints", "--threads", "0"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["CommandError: --threads must be a whole number of at least 1; got 0"]


# -- conventions found as stored ------------------------------------------------------------------

def _inbox_style_app(checkpointer):
    """An approver edits the refund through an Agent Inbox request; a summary and a structured answer follow."""

    class State(MessagesState):
        structured_response: dict

    def assistant(state):
        return {"messages": [AIMessage("", id="a-1", tool_calls=[call("refund", {"amount": 80}, "r-1")])]}

    def review(state):
        request = {"action_request": {"action": "refund", "args": {"amount": 80}}, "config": {"allow_edit": True},
                   "description": "Refund 80 EUR?"}
        response = interrupt([request])[0]
        edited = AIMessage("", id="a-1", tool_calls=[call("refund", response["args"]["args"], "r-1")])
        return {"messages": [edited, ToolMessage("Refunded 50 EUR.", tool_call_id="r-1")]}

    def wrap_up(state):
        summary = HumanMessage("Summary: a refund of 50 EUR was made.", id="s-1",
                               additional_kwargs={"lc_source": "summarization"})
        return {"messages": [summary], "structured_response": {"ticket": "T-1", "refunded": 50}}

    builder = StateGraph(State)
    for name, node in (("assistant", assistant), ("review", review), ("wrap_up", wrap_up)):
        builder.add_node(name, node)
    builder.add_edge(START, "assistant")
    builder.add_edge("assistant", "review")
    builder.add_edge("review", "wrap_up")
    builder.add_edge("wrap_up", END)
    return builder.compile(checkpointer=checkpointer)


def test_conventions_are_counted_as_stored(checkpointer):
    from tests.apps.functional_conversations import FAN_OUT_THREADS, FUNCTIONAL_THREADS, UsageLog
    from tests.apps.functional_conversations import run_fan_out_thread, run_functional_thread

    app = _inbox_style_app(checkpointer)
    config = {"configurable": {"thread_id": "inbox-1"}}
    app.invoke({"messages": [("user", "refund my order")]}, config)
    app.invoke(Command(resume=[{"type": "edit", "args": {"action": "refund", "args": {"amount": 50}}}]), config)
    run_functional_thread(checkpointer, FUNCTIONAL_THREADS[0], UsageLog({}, {}))  # two model calls, one tool call
    run_fan_out_thread(checkpointer, FAN_OUT_THREADS[0], UsageLog({}, {}))  # two workers

    report = inspect_checkpoints(threads=200)

    assert named(report.conventions) == {
        "Agent Inbox requests (interrupts asking action_request/config/description)": 1,
        "Agent Inbox responses (resumes of accept/edit/ignore/response)": 1,
        "AI messages rewritten under the same id (an approver's edit)": 1,
        "summaries (HumanMessage with lc_source=summarization)": 1,
        "structured answers (structured_response writes)": 1,
        "Functional API task results (__return__ writes)": 3,
        "Send tasks (writes by a task a Send started)": 4,  # each worker: its messages and its edge to reply
    }
    printed = io.StringIO()
    call_command("inspect_checkpoints", "--thread", "inbox-1", stdout=printed)
    assert "Agent Inbox requests (interrupts asking action_request/config/description) 1" in printed.getvalue()
