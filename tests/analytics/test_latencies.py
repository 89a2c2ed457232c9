"""Each LLM call and tool result carries how long it took, read from checkpoints written on a stopped clock."""

from datetime import datetime, timedelta, timezone

from analytics.derive import derive_thread
from analytics.models import EventType
from tests.apps.timed_app import run_timed_conversation

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


def events_of(checkpointer, checkpoint_source, *, thread_id="timed-1"):
    run_timed_conversation(checkpointer=checkpointer, thread_id=thread_id, started_at=STARTED_AT)
    derived = derive_thread(
        thread=checkpoint_source.get_thread(thread_id=thread_id), price_lookup=lambda model, at: None,
        now=STARTED_AT + timedelta(hours=1),
    )
    return derived.events


def test_each_llm_call_takes_the_time_since_the_step_before_it(checkpointer, checkpoint_source):
    events = events_of(checkpointer, checkpoint_source)

    calls = [(event.agent, event.model, event.latency_ms) for event in events if event.event_type == EventType.LLM_USAGE]
    assert calls == [
        ("triage", "gpt-4o-mini", 1_200),  # from the customer's message
        ("triage", "gpt-4o-mini", 2_000),  # from the two lookups' results; the handoff is triage's call
        ("billing", "gpt-4o", 3_000),  # from the handoff
        ("billing", "gpt-4o", 1_000),  # from the refund's result
    ]


def test_each_tool_result_takes_the_time_since_its_call(checkpointer, checkpoint_source):
    events = events_of(checkpointer, checkpoint_source)

    results = [(event.agent, event.tool_name, event.latency_ms) for event in events if event.event_type == EventType.TOOL_RESULT]
    # the two lookups ran side by side in one tool step: each result is dated when both were done
    assert results == [("triage", "get_order", 800), ("triage", "get_invoice", 800), ("billing", "refund", 4_500)]
