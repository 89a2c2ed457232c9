"""The reference agent writes real checkpoints that hold what the analytics will need."""

from datetime import datetime, timedelta, timezone

import psycopg
from langchain_core.messages import ToolMessage

from smart_support.agent.scenarios import SCENARIO_WEIGHTS, plan_conversation
from smart_support.agent.simulate import LONGEST_CONVERSATION, conversation_start

STARTED_AT = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)


def _rows(conninfo: str, sql: str, *params):
    with psycopg.connect(conninfo) as connection:
        return connection.execute(sql, params).fetchall()


def test_same_seed_gives_the_same_conversation():
    first, again, other = (plan_conversation(seed=seed, index=7) for seed in (42, 42, 43))
    assert first == again
    assert first.thread_id != other.thread_id


def test_every_scenario_is_reachable_from_seeds():
    seen = {plan_conversation(seed=5, index=index).scenario for index in range(400)}
    assert seen == set(SCENARIO_WEIGHTS)


def test_checkpoints_are_stamped_on_the_simulated_day_with_config_metadata(run_reference_agent, checkpoint_db):
    plan = plan_conversation(seed=1, index=0, scenario="order_status")
    run_reference_agent(plan, STARTED_AT)

    rows = _rows(checkpoint_db, "SELECT checkpoint->>'ts', metadata FROM checkpoints WHERE thread_id = %s", plan.thread_id)
    assert len(rows) >= 6
    days = {datetime.fromisoformat(ts).date() for ts, _ in rows}
    assert days == {STARTED_AT.date()}
    assert all(metadata["tenant"] == plan.metadata["tenant"] for _, metadata in rows)
    assert all(metadata["customer_id"] == plan.metadata["customer_id"] for _, metadata in rows)


def test_billing_runs_as_a_subgraph_with_its_own_namespace(run_reference_agent, checkpoint_db):
    plan = plan_conversation(seed=1, index=1, scenario="invoice_question")
    run_reference_agent(plan, STARTED_AT)

    namespaces = {ns for (ns,) in _rows(checkpoint_db, "SELECT DISTINCT checkpoint_ns FROM checkpoints")}
    assert "" in namespaces
    assert any(ns.startswith("billing:") for ns in namespaces)


def test_refund_approval_interrupts_and_resumes_with_the_reviewers_decision(run_reference_agent, checkpoint_db):
    plan = plan_conversation(seed=1, index=2, scenario="refund_approved")
    run_reference_agent(plan, STARTED_AT)

    channels = [channel for (channel,) in _rows(checkpoint_db, "SELECT channel FROM checkpoint_writes")]
    assert "__interrupt__" in channels
    assert "__resume__" in channels
    ts_rows = _rows(checkpoint_db, "SELECT checkpoint->>'ts' FROM checkpoints ORDER BY checkpoint_id")
    first, last = (datetime.fromisoformat(ts_rows[index][0]) for index in (0, -1))
    assert last - first >= plan.turns[0].review_wait


def test_pending_refund_stays_interrupted(run_reference_agent, checkpoint_db):
    plan = plan_conversation(seed=1, index=3, scenario="refund_pending")
    run_reference_agent(plan, STARTED_AT)

    channels = [channel for (channel,) in _rows(checkpoint_db, "SELECT channel FROM checkpoint_writes")]
    assert "__interrupt__" in channels
    assert "__resume__" not in channels


def test_a_failing_tool_becomes_an_error_tool_message(run_reference_agent, checkpoint_db):
    from smart_support.agent.graph import build_support_graph
    from smart_support.agent.simulate import ScriptBook, connect_checkpointer

    plan = plan_conversation(seed=1, index=4, scenario="password_failed")
    run_reference_agent(plan, STARTED_AT)

    checkpointer = connect_checkpointer(checkpoint_db)
    graph = build_support_graph(reply_for=ScriptBook().reply_for, checkpointer=checkpointer)
    messages = graph.get_state({"configurable": {"thread_id": plan.thread_id}}).values["messages"]
    checkpointer.conn.close()
    results = [message for message in messages if isinstance(message, ToolMessage) and message.name == "reset_password"]
    assert [result.status for result in results] == ["error"]
    ai_messages = [message for message in messages if message.type == "ai"]
    assert all(message.usage_metadata["input_tokens"] > 0 for message in ai_messages)
    assert {message.response_metadata["model_name"] for message in ai_messages} == {"gpt-4o", "claude-haiku-4-5"}


def test_conversation_starts_fall_within_the_requested_days():
    now = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    starts = [conversation_start(seed=1, index=index, days=3, now=now) for index in range(200)]
    assert min(starts) >= now - (now - now.replace(day=22))
    assert max(starts) < now


def test_every_scenario_runs_through_the_real_graph(run_reference_agent, checkpoint_db):
    for index, scenario in enumerate(SCENARIO_WEIGHTS):
        run_reference_agent(plan_conversation(seed=9, index=index, scenario=scenario), STARTED_AT)

    threads = _rows(checkpoint_db, "SELECT count(DISTINCT thread_id) FROM checkpoints")[0][0]
    assert threads == len(SCENARIO_WEIGHTS)
    resumes = _rows(checkpoint_db, "SELECT count(DISTINCT thread_id) FROM checkpoint_writes WHERE channel = '__resume__'")
    assert resumes[0][0] == 4  # refund approved, refund rejected, cancel order, refund after a failed lookup


def test_the_demos_300_conversations_include_the_long_and_the_combined_scenarios():
    scenarios = [plan_conversation(seed=1, index=index).scenario for index in range(300)]
    assert scenarios.count("marathon") == 1
    assert scenarios.count("long_session") >= 3
    assert scenarios.count("refund_after_failed_lookup") >= 3


def test_the_new_scenarios_show_in_the_derived_conversations(run_reference_agent):
    from django.core.management import call_command

    from replay.models import Conversation

    plans = {
        "marathon": plan_conversation(seed=1, index=150),
        "long_session": plan_conversation(seed=3, index=1, scenario="long_session"),
        "refund_after_failed_lookup": plan_conversation(seed=3, index=2, scenario="refund_after_failed_lookup"),
    }
    for hour, plan in enumerate(plans.values()):
        run_reference_agent(plan, STARTED_AT + timedelta(hours=3 * hour))
    call_command("backfill_events", verbosity=0)
    derived = {name: Conversation.objects.get(thread_id=plan.thread_id) for name, plan in plans.items()}

    combined = derived["refund_after_failed_lookup"]
    assert combined.handoffs == {"orders": 1, "billing": 1}
    assert (combined.tool_error_count, combined.interrupt_count, combined.interrupts_approved) == (1, 1, 1)
    assert derived["marathon"].step_count >= 250
    assert derived["long_session"].step_count > 50
    # long prompts to OpenAI models read their start from the cache, at gpt-4o's and gpt-4o-mini's cache price
    assert derived["marathon"].cache_read_tokens > 0
    assert derived["marathon"].cache_savings_usd > 0
    assert derived["marathon"].last_activity_at < derived["marathon"].started_at + LONGEST_CONVERSATION
