"""Static breakpoints read from the checkpoint formats older LangGraph releases write (0.2: integer
versions, ``start:<node>`` and ``branch:<from>:<condition>:<node>`` channels, a node's own channel for
plain edges, ``metadata.writes`` naming the node an update was made as). Written out by hand: the installed
release cannot write them; the tutorial tests cover what it writes."""

from datetime import datetime, timezone

from replay.breakpoints import find_breakpoint_stops, pending_nodes
from replay.checkpoint_records import CheckpointRecord, StopReading

TS = datetime(2026, 11, 10, 9, tzinfo=timezone.utc)


def record(checkpoint_id, source, reading=None, *, resumed_by_next=False, update_nodes=()):
    return CheckpointRecord(
        checkpoint_ns="", checkpoint_id=checkpoint_id, parent_checkpoint_id=None, ts=TS, metadata={},
        channel_values={}, messages_version=None, source=source, resumed_by_next=resumed_by_next,
        stop_reading=reading, update_nodes=update_nodes,
    )


# langgraph 0.2: the agent ran on start:agent (seen at 2) and chose the tools branch (version 4)
BEFORE_TOOLS_02 = StopReading(
    channel_versions={"__start__": 2, "messages": 4, "start:agent": 2, "agent": 4, "branch:agent:should_continue:tools": 4},
    versions_seen={"__input__": {}, "__start__": {"__start__": 1}, "agent": {"start:agent": 2}},
    available_channels=frozenset({"messages", "agent", "branch:agent:should_continue:tools"}),
)


def test_a_conditional_branch_channel_of_langgraph_02_makes_its_node_pending():
    assert pending_nodes(BEFORE_TOOLS_02) == {"tools"}


def test_a_plain_edge_of_langgraph_02_triggers_on_the_node_channel_the_node_has_seen():
    reading = StopReading(
        channel_versions={"agent": 7, "tools": 5},
        versions_seen={"tools": {"agent": 5}, "agent": {"tools": 5}},
        available_channels=frozenset({"agent"}),
    )
    assert pending_nodes(reading) == {"tools"}


def test_versions_compare_by_their_counter_not_as_text():
    reading = StopReading(
        channel_versions={"branch:to:tools": "00000000000000000000000000000010.0.1"},
        versions_seen={"tools": {"branch:to:tools": "00000000000000000000000000000009.0.9"}},
        available_channels=frozenset({"branch:to:tools"}),
    )
    assert pending_nodes(reading) == {"tools"}
    seen_already = StopReading(reading.channel_versions, {"tools": {"branch:to:tools": reading.channel_versions["branch:to:tools"]}}, reading.available_channels)
    assert pending_nodes(seen_already) == frozenset()


def test_a_channel_without_a_value_triggers_nothing():
    reading = StopReading(BEFORE_TOOLS_02.channel_versions, BEFORE_TOOLS_02.versions_seen, frozenset({"messages"}))
    assert pending_nodes(reading) == frozenset()


def test_an_update_named_in_old_metadata_writes_is_a_rejection():
    stop = record("1", "loop", BEFORE_TOOLS_02)
    update = record("2", "update", None, update_nodes=("tools",))

    (found,) = find_breakpoint_stops([stop, update], interrupted=set())

    assert (found.pending_nodes, found.outcome, found.via, found.decided_at) == (("tools",), "rejected", "update", update)


def test_a_step_the_run_simply_went_on_from_is_no_stop():
    assert find_breakpoint_stops([record("1", "loop", BEFORE_TOOLS_02), record("2", "loop")], interrupted=set()) == []


def test_a_run_resumed_from_the_stop_approved_it():
    stop = record("1", "loop", BEFORE_TOOLS_02, resumed_by_next=True)
    resumed = record("2", "loop")

    (found,) = find_breakpoint_stops([stop, resumed], interrupted=set())

    assert (found.outcome, found.via, found.interrupt_id) == ("approved", "resumed", "breakpoint:1")


def test_a_stop_where_an_interrupt_or_error_was_written_is_read_from_its_writes():
    assert find_breakpoint_stops([record("1", "loop", BEFORE_TOOLS_02)], interrupted={("", "1")}) == []
