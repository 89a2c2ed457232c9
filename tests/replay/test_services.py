"""The per-process timeline cache never serves a stale replay."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from langgraph.types import Command

from analytics.pricing import load_price_lookup
from replay.services import get_timeline
from smart_support.agent.graph import build_support_graph
from smart_support.agent.scenarios import plan_conversation
from smart_support.agent.simulate import ScriptBook
from tests.factories import ModelPriceFactory

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


def test_a_cached_timeline_follows_new_writes_prices_and_the_clock(checkpointer, checkpoint_source):
    book = ScriptBook()
    graph = build_support_graph(reply_for=book.reply_for, checkpointer=checkpointer)
    plan = plan_conversation(seed=71, index=0, scenario="refund_approved")
    book.load(plan)
    config = {"configurable": {"thread_id": plan.thread_id}}
    graph.invoke({"messages": [("user", plan.turns[0].user_text)]}, config)  # waits for approval
    now = datetime.now(timezone.utc)

    def timeline(at=now):
        return get_timeline(thread_id=plan.thread_id, price_lookup=load_price_lookup(), source=checkpoint_source, now=at)

    reads = []
    read_thread = checkpoint_source.get_thread
    checkpoint_source.get_thread = lambda **kwargs: reads.append(kwargs) or read_thread(**kwargs)

    first = timeline()
    assert timeline() == first and len(reads) == 1  # the second replay came from the cache
    assert [step.status for step in first if step.type == "interrupt"] == ["pending"]
    # the clock alone moves a cached pending approval to expired
    assert [step.status for step in timeline(now + timedelta(days=2)) if step.type == "interrupt"] == ["expired"]

    graph.invoke(Command(resume={"approved": True, "reviewer": "lee"}), config)  # new writes and checkpoints
    resumed = timeline()
    assert [step.type for step in resumed][-3:] == ["interrupt_resolution", "tool_result", "agent_message"]
    assert len(reads) == 2

    cost_before = sum(step.cost_usd or 0 for step in resumed)
    ModelPriceFactory(model="gpt-4o-mini", input_usd_per_million=Decimal("100"), output_usd_per_million=Decimal("100"),
                      effective_from=now - timedelta(days=400))
    ModelPriceFactory(model="gpt-4o", input_usd_per_million=Decimal("100"), output_usd_per_million=Decimal("100"),
                      effective_from=now - timedelta(days=400))
    assert sum(step.cost_usd or 0 for step in timeline()) > cost_before
