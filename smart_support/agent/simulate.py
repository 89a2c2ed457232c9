"""Run the reference agent over seeded conversation plans, writing real checkpoints in the past.

Time is moved with time-machine so that checkpoint timestamps (and their time-ordered ids) fall on
the simulated days, and each model reply "takes" its planned latency.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import time_machine
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.config import get_config
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from psycopg.rows import dict_row

from smart_support.agent.graph import build_support_graph
from smart_support.agent.scenarios import ConversationPlan, plan_conversation, thread_id_for

# A conversation (with its approval waits) never lasts longer than this, so it ends before "now".
LONGEST_CONVERSATION = timedelta(hours=6)


class ScriptBook:
    """Hands each thread's planned replies to the scripted models, advancing the simulated clock."""

    def __init__(self) -> None:
        self._replies: dict[str, deque[AIMessage]] = {}
        self._latencies: dict[str, deque[float]] = {}
        self.advance_clock: Callable[[timedelta], None] = lambda delta: None

    def load(self, plan: ConversationPlan) -> None:
        self._replies[plan.thread_id] = deque(reply for turn in plan.turns for reply in turn.replies)
        self._latencies[plan.thread_id] = deque(plan.latencies_s)

    def reply_for(self, agent_name: str, messages: Sequence[BaseMessage]) -> AIMessage:
        thread_id = get_config()["configurable"]["thread_id"]
        latencies = self._latencies.get(thread_id)
        if latencies:
            self.advance_clock(timedelta(seconds=latencies.popleft()))
        replies = self._replies.get(thread_id)
        if not replies:
            return AIMessage(content="Is there anything else I can help you with?", name=agent_name)
        return replies.popleft()


def connect_checkpointer(conninfo: str) -> PostgresSaver:
    connection = psycopg.connect(conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    return PostgresSaver(connection)


def run_conversation(*, graph: CompiledStateGraph, book: ScriptBook, plan: ConversationPlan, started_at: datetime) -> None:
    """Play one plan through the graph, starting at ``started_at`` (simulated time)."""
    book.load(plan)
    # uuid6 checkpoint ids refuse to go back in time within a process; each conversation has its own clock.
    checkpoint_id_module._last_v6_timestamp = None
    config = {"configurable": {"thread_id": plan.thread_id}, "metadata": dict(plan.metadata)}
    rng = random.Random(plan.thread_id)
    with time_machine.travel(started_at, tick=True) as traveller:
        book.advance_clock = traveller.shift
        for turn_number, turn in enumerate(plan.turns):
            if turn_number:
                traveller.shift(turn.pause_before or timedelta(minutes=rng.randint(1, 20)))
            message = HumanMessage(turn.user_text, id=f"user-{plan.thread_id}-{turn_number}")
            graph.invoke({"messages": [message]}, config)
            for decision in turn.decisions:
                traveller.shift(turn.review_wait)
                graph.invoke(Command(resume=decision), config)
    book.advance_clock = lambda delta: None


@dataclass(frozen=True)
class SimulationResult:
    created: int
    skipped: int


def conversation_start(*, seed: int, index: int, days: int, now: datetime) -> datetime:
    """When conversation ``index`` starts: spread over the last ``days`` days, ending before ``now``."""
    rng = random.Random(f"start:{seed}:{index}")
    window = timedelta(days=days) - LONGEST_CONVERSATION
    return now - LONGEST_CONVERSATION - window * rng.random()


_worker_graph: CompiledStateGraph | None = None
_worker_book: ScriptBook | None = None


def _init_worker(conninfo: str) -> PostgresSaver:
    global _worker_graph, _worker_book
    checkpointer = connect_checkpointer(conninfo)
    _worker_book = ScriptBook()
    _worker_graph = build_support_graph(reply_for=_worker_book.reply_for, checkpointer=checkpointer)
    return checkpointer


def _simulate_one(job: tuple[int, int, int, datetime]) -> str:
    seed, index, days, now = job
    plan = plan_conversation(seed=seed, index=index)
    started_at = conversation_start(seed=seed, index=index, days=days, now=now)
    run_conversation(graph=_worker_graph, book=_worker_book, plan=plan, started_at=started_at)
    return plan.thread_id


def existing_thread_ids(*, conninfo: str, thread_ids: list[str]) -> set[str]:
    with psycopg.connect(conninfo) as connection:
        rows = connection.execute(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id = ANY(%s)", (thread_ids,)
        ).fetchall()
    return {row[0] for row in rows}


def simulate_conversations(
    *,
    count: int,
    days: int,
    seed: int,
    conninfo: str,
    workers: int = 1,
    now: datetime | None = None,
    on_progress: Callable[[int], None] = lambda done: None,
) -> SimulationResult:
    """Write ``count`` seeded conversations over the last ``days`` days; threads that exist are skipped."""
    now = now or datetime.now(timezone.utc)
    wanted = {thread_id_for(seed=seed, index=index): index for index in range(count)}
    present = existing_thread_ids(conninfo=conninfo, thread_ids=list(wanted))
    jobs = [(seed, index, days, now) for thread_id, index in wanted.items() if thread_id not in present]
    for _ in _run_jobs(jobs, conninfo=conninfo, workers=workers):
        on_progress(1)
    return SimulationResult(created=len(jobs), skipped=len(present))


def _run_jobs(jobs: list[tuple[int, int, int, datetime]], *, conninfo: str, workers: int) -> Iterator[str]:
    if workers <= 1 or len(jobs) < 20:
        checkpointer = _init_worker(conninfo)
        try:
            yield from map(_simulate_one, jobs)
        finally:
            checkpointer.conn.close()
        return
    # spawn, not fork: the workers need no Django state, and a fork would copy the locks of whatever
    # threads the parent runs (connection pools, progress bars) in whatever state they are
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(conninfo,)) as pool:
        yield from pool.imap_unordered(_simulate_one, jobs, chunksize=8)
