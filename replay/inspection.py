"""How an agent's checkpoints are read: what a sample of threads holds (nodes, subgraphs, tools, channels,
interrupts, stops at breakpoints), what the timeline recognised in it (handoffs by rule, tool errors,
unknown steps), and the settings that would change the reading.

Reads only: one read-only transaction over the checkpoint tables (``replay.inspection_reads``), then
``build_timeline`` per thread; ``replay.inspection_tally`` sums it up, ``replay.inspection_advice`` proposes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from replay.checkpoints import INTERRUPT_CHANNEL, PostgresCheckpointSource, checkpoint_conninfo
from replay.inspection_advice import advise
from replay.inspection_reads import StoredFacts, read_only_connection, read_stored_facts, recent_thread_ids, thread_exists
from replay.inspection_report import ChannelSeen, Counted, InspectionReport, NodeSeen, ToolSeen
from replay.inspection_conventions import count_conventions
from replay.inspection_tally import Tally, place_of
from replay.services import ThreadNotFound
from replay.timeline import build_timeline

DEFAULT_THREADS = 200
# The settings that decide how steps are recognised: environment variable, SMART_SUPPORT key.
READING_SETTINGS = (
    ("SMART_SUPPORT_ESCALATION_TOOLS", "ESCALATION_TOOLS"),
    ("SMART_SUPPORT_HANDOFF_TOOL_PREFIXES", "HANDOFF_TOOL_PREFIXES"),
    ("SMART_SUPPORT_ROUTING_TOOLS", "ROUTING_TOOLS"),
    ("SMART_SUPPORT_ACTIVE_AGENT_CHANNEL", "ACTIVE_AGENT_CHANNEL"),
    ("SMART_SUPPORT_ROUTER_TARGETS", "ROUTER_TARGETS"),
    ("SMART_SUPPORT_TOOL_ERROR_PATTERNS", "TOOL_ERROR_PATTERNS"),
)
EXAMPLE_CHARS = 60


def reading_settings() -> dict[str, Any]:
    """The recognition settings in force, by SMART_SUPPORT key; ROUTING_TOOLS and TOOL_ERROR_PATTERNS
    read as empty where this deployment does not define them."""
    options = settings.SMART_SUPPORT
    return {key: options.get(key, "" if key == "ACTIVE_AGENT_CHANNEL" else []) for _, key in READING_SETTINGS}


def inspect_checkpoints(
    *, threads: int = DEFAULT_THREADS, thread_id: str | None = None, conninfo: str | None = None, now: datetime | None = None
) -> InspectionReport:
    """Given a number of recent threads (or one thread id), return what their checkpoints hold and how
    they are read; raise ValueError for a sample under 1 thread, ThreadNotFound for an unknown thread."""
    if threads < 1:
        raise ValueError(f"the sample must hold at least 1 thread; got {threads}")
    reading = reading_settings()
    with read_only_connection(conninfo or checkpoint_conninfo()) as connection:
        if thread_id is not None:
            if not thread_exists(connection, thread_id=thread_id):
                raise ThreadNotFound(thread_id)
            thread_ids, sample = [thread_id], gettext("thread %(thread_id)s") % {"thread_id": thread_id}
        else:
            thread_ids = recent_thread_ids(connection, limit=threads)
            sample = gettext("the %(count)d most recent threads (asked for up to %(asked)d)") % {
                "count": len(thread_ids), "asked": threads,
            }
        facts = read_stored_facts(connection, thread_ids=thread_ids)
        stored = PostgresCheckpointSource(connection=connection).get_threads(thread_ids=thread_ids)
        # Built inside the transaction: a thread saved with durability="exit" loads its channel blobs.
        timelines = [(thread, build_timeline(thread, now=now)) for thread in stored]
    tally = Tally(reading=reading)
    for thread, steps in timelines:
        tally.add_thread(thread, steps)
    tally.add_facts(facts)
    return InspectionReport(
        sample=sample,
        threads=len(stored),
        checkpoints=len(facts.headers),
        writes=sum(count.count for count in facts.write_counts),
        steps=tally.steps,
        threads_read_from_blobs=tally.threads_read_from_blobs,
        sources=_counted(Counter(header.source or "(none)" for header in facts.headers)),
        nodes=_nodes(facts),
        namespaces=_counted(Counter(
            place for _, place in {(header.thread_id, place_of(header.checkpoint_ns)) for header in facts.headers if header.checkpoint_ns}
        )),
        tools=_tools(tally),
        channels=_channels(tally),
        interrupt_writes=sum(count.count for count in facts.write_counts if count.channel == INTERRUPT_CHANNEL),
        interrupts=_counted(tally.interrupts),
        breakpoints_recognised=tally.breakpoints_recognised,
        breakpoint_stops=tuple(tally.breakpoint_stops),
        handoffs=_counted(tally.handoffs),
        tool_errors=_counted(tally.tool_errors),
        unknown_steps=_counted(tally.unknown_steps),
        conventions=_counted(count_conventions(stored, facts.write_counts)),
        reading=tuple((variable, _shown(reading[key])) for variable, key in READING_SETTINGS),
        advice=advise(tally=tally, reading=reading),
    )


def _counted(counter: Counter) -> tuple[Counted, ...]:
    """Most frequent first, then by name: the same sample always prints the same way."""
    return tuple(Counted(name, count) for name, count in sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _shown(value: Any) -> str:
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


def _nodes(facts: StoredFacts) -> tuple[NodeSeen, ...]:
    writes: Counter = Counter()
    channels: dict[str, set[str]] = defaultdict(set)
    seen_in: dict[str, set[str]] = defaultdict(set)
    for count in facts.write_counts:
        if count.node:
            place = place_of(count.checkpoint_ns, count.node)
            writes[place] += count.count
            channels[place].add(count.channel)
            seen_in[place].add("checkpoint_writes.task_path")
    for header in facts.headers:
        for node in header.metadata_writes:
            seen_in[place_of(header.checkpoint_ns, node)].add("metadata.writes")
    return tuple(
        NodeSeen(name=place, writes=writes[place], channels=tuple(sorted(channels[place])), seen_in=tuple(sorted(seen_in[place])))
        for place in sorted(seen_in, key=lambda place: (-writes[place], place))
    )


def _tools(tally: Tally) -> tuple[ToolSeen, ...]:
    return tuple(
        ToolSeen(
            name=name, calls=tool.calls, answered=tool.answered, errors=tool.errors,
            read_as=_counted(tool.read_as), answered_by=_counted(tool.answered_by),
            node_changed_after=tool.node_changed_after, caller_went_on=tool.caller_went_on,
        )
        for name, tool in sorted(tally.tools.items(), key=lambda item: (-item[1].calls, item[0]))
    )


def _channels(tally: Tally) -> tuple[ChannelSeen, ...]:
    def example(name: str) -> str | None:
        values = tally.channel_values.get(name)
        if not values:
            return None
        text = repr(values[-1])
        return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"

    return tuple(
        ChannelSeen(
            name=name, threads=len(threads), stored=", ".join(sorted(tally.channel_storage[name])), example=example(name)
        )
        for name, threads in sorted(tally.channel_threads.items(), key=lambda item: (-len(item[1]), item[0]))
    )
