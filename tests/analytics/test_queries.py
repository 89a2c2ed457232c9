"""Each metric equals a number worked out by hand (the metric definitions in README.md)."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Sum

from analytics.measures import MEASURES
from analytics.models import EventType
from analytics.queries import (
    CONVERSATIONS,
    ROLLUPS,
    AgentConversations,
    AgentUsage,
    InterruptStats,
    agent_conversations,
    agent_names,
    agent_usage,
    get_analytics,
    source_for,
)
from analytics.storage import rebuild_rollups
from replay.models import ConversationStatus
from replay.tenants import TenantScope
from smart_support.agent.scenarios import plan_conversation
from tests.factories import AnalyticsEventFactory, ConversationFactory, ModelPriceFactory

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def at(day: int, hour: int, minute: int = 0, tz=timezone.utc) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=tz)


@pytest.fixture
def week(db):
    """Five conversations around 2026-11-10 .. 11-12 in Berlin, written out by hand."""
    rows = {
        # 2026-11-09 23:30 UTC is 2026-11-10 00:30 in Berlin: inside a Berlin range starting the 10th
        "just_after_midnight_berlin": ConversationFactory(
            started_at=at(9, 23, 30), resolved=True, cost_usd=Decimal("0.10"), handoffs={"orders": 1},
            agents_used=["supervisor", "orders"],
        ),
        "escalated_after_success": ConversationFactory(
            started_at=at(10, 12), resolved=False, escalated=True, status=ConversationStatus.ESCALATED,
            cost_usd=Decimal("0.30"), handoffs={"tech_support": 1}, agents_used=["supervisor", "tech_support"],
        ),
        "approved_after_range_end": ConversationFactory(
            started_at=at(12, 21), resolved=True, cost_usd=Decimal("0.20"), interrupt_count=1, interrupts_approved=1,
            handoffs={"billing": 2}, agents_used=["supervisor", "billing"],
        ),
        "pending_approvals": ConversationFactory(
            started_at=at(11, 8), resolved=False, cost_usd=Decimal("0.05"), interrupt_count=3, interrupts_rejected=1,
            interrupts_pending=2, handoffs={"billing": 1}, agents_used=["supervisor", "billing"],
            unpriced_models=["mystery-model"],
        ),
        # 2026-11-12 23:30 UTC is already the 13th in Berlin: outside a Berlin range ending the 12th
        "just_before_midnight_utc": ConversationFactory(
            started_at=at(12, 23, 30), resolved=True, cost_usd=Decimal("9.99"), handoffs={"orders": 5},
        ),
    }
    rebuild_rollups()  # factories write around the recorder, which keeps the rollups
    return rows


def population_range():
    return {"start": date(2026, 11, 10), "end": date(2026, 11, 12), "tz": BERLIN}


def test_rates_and_cost_over_a_berlin_range(week):
    # In range (Berlin days 10..12): just_after_midnight, escalated, approved, pending = 4 conversations.
    result = get_analytics(**population_range())

    assert (result.resolution_rate, result.escalation_rate) == (2 / 4, 1 / 4)
    assert result.cost_per_conversation == Decimal("0.65") / 4


def test_the_same_dates_in_utc_count_other_conversations(week):
    utc = {**population_range(), "tz": UTC}
    # In UTC days 10..12: escalated, approved, pending, just_before_midnight_utc
    result = get_analytics(**utc)

    assert (result.resolution_rate, result.escalation_rate) == (2 / 4, 1 / 4)
    assert result.cost_per_conversation == (Decimal("0.30") + Decimal("0.20") + Decimal("0.05") + Decimal("9.99")) / 4


def test_agent_usage_is_each_agents_share_of_handoffs(week):
    assert agent_usage(**population_range()) == (
        AgentUsage("billing", 3, 3 / 5), AgentUsage("orders", 1, 1 / 5), AgentUsage("tech_support", 1, 1 / 5),
    )


@pytest.mark.parametrize("source", [ROLLUPS, CONVERSATIONS], ids=["rollups", "conversations"])
def test_agent_conversations_count_each_conversation_once_however_often_the_agent_was_handed_it(week, source):
    # billing: approved_after_range_end (2 handoffs) and pending_approvals (1 handoff)
    assert agent_conversations(**population_range(), source=source) == (
        AgentConversations("supervisor", 4, 0), AgentConversations("billing", 2, 3),
        AgentConversations("orders", 1, 1), AgentConversations("tech_support", 1, 1),
    )


def test_agent_conversations_narrowed_to_an_agent_count_the_conversations_both_took_part_in(week):
    assert agent_conversations(**population_range(), agent="billing") == (
        AgentConversations("billing", 2, 3), AgentConversations("supervisor", 2, 0),
    )


def test_interrupts_by_outcome_with_expiry_at_the_query_moment(week):
    pending = week["pending_approvals"]
    AnalyticsEventFactory(conversation=pending, event_type=EventType.INTERRUPT_RAISED, status="pending", occurred_at=at(11, 8))
    AnalyticsEventFactory(conversation=pending, event_type=EventType.INTERRUPT_RAISED, status="pending", occurred_at=at(19, 20))

    stats = get_analytics(**population_range(), now=NOW).interrupt_stats

    # the one raised on the 11th is 9 days old (expired); the one raised on the 19th is 16 h old (pending)
    assert stats == InterruptStats(total=4, approved=1, rejected=1, other=0, expired=1, pending=1)


def test_empty_range_gives_null_rates(db):
    result = get_analytics(start=date(2030, 1, 1), end=date(2030, 1, 7), tz=UTC)
    assert (result.conversations, result.resolution_rate, result.escalation_rate, result.cost_per_conversation) == (
        0, None, None, None,
    )
    assert dict(result.totals.measures) == {measure.name: 0 for measure in MEASURES}
    assert len(result.series) == 7 and all(point.conversations == 0 for point in result.series)
    assert result.agent_usage == () and result.interrupt_stats.total == 0


def test_series_previous_period_and_agent_filter(week):
    ConversationFactory(started_at=at(8, 12), resolved=False, cost_usd=Decimal("1.00"))  # previous period (7..9)
    rebuild_rollups()

    result = get_analytics(**population_range(), now=NOW)

    assert [(point.date.day, point.conversations, point.resolved, point.escalated) for point in result.series] == [
        (10, 2, 1, 1), (11, 1, 0, 0), (12, 1, 1, 0),
    ]
    assert result.series[0].cost == Decimal("0.40")
    assert result.previous_period.conversations == 1
    assert result.previous_period.resolution_rate == 0.0
    assert result.unpriced_models == ("mystery-model",)
    billing = get_analytics(**population_range(), agent="billing", now=NOW)
    assert billing.conversations == 2 and billing.resolution_rate == 1 / 2


def test_numbers_from_real_graphs_match_hand_counts(run_reference_agent):
    """Five real conversations; every figure below is counted from the scenarios by hand."""
    from analytics.models import ModelPrice

    ModelPrice.objects.filter(model="claude-haiku-4-5").delete()  # seeded; this test prices it from 12:00 on
    ModelPriceFactory(model="claude-haiku-4-5", input_usd_per_million=Decimal("1"), output_usd_per_million=Decimal("5"),
                      effective_from=datetime(2026, 11, 10, 12, tzinfo=timezone.utc))
    started = datetime(2026, 11, 10, 9, tzinfo=timezone.utc)
    scenarios = ["order_status", "escalated_after_answer", "refund_rejected", "password_failed", "multi_turn"]
    for index, scenario in enumerate(scenarios):
        run_reference_agent(plan_conversation(seed=41, index=index, scenario=scenario), started + timedelta(hours=2 * index))
    call_command("backfill_events", verbosity=0)

    result = get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 10), tz=UTC, now=NOW)

    assert result.conversations == 5
    # resolved: order_status, multi_turn; refund_rejected is not: the reviewer rejected its only refund
    assert result.resolution_rate == 2 / 5
    assert result.escalation_rate == 1 / 5  # escalated_after_answer
    # handoffs: orders (order_status, multi_turn), tech_support (2), billing (refund, multi_turn)
    assert {usage.agent: usage.routings for usage in result.agent_usage} == {"orders": 2, "tech_support": 2, "billing": 2}
    assert result.interrupt_stats == InterruptStats(total=1, approved=0, rejected=1, other=0, expired=0, pending=0)
    # claude-haiku-4-5 is priced from 12:00: the 11:00 tech_support conversation's tokens are unpriced,
    # the 15:00 one's are costed.
    assert result.unpriced_models == ("claude-haiku-4-5",)
    from replay.models import Conversation

    assert Conversation.objects.get(thread_id="sim-41-000001").unpriced_models == ["claude-haiku-4-5"]
    assert Conversation.objects.get(thread_id="sim-41-000003").unpriced_models == []
    assert result.total_cost == sum(Conversation.objects.values_list("cost_usd", flat=True))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 11, 8), date(2026, 11, 14)),  # days only: Monday Nov 9's week ends after the range
        (date(2026, 11, 2), date(2026, 11, 16)),  # the UTC weeks from Nov 2 and Nov 9, read from week rows
        (date(2026, 10, 20), date(2026, 12, 3)),  # November from its month row; days and a week around it
    ],
    ids=["days", "weeks", "month"],
)
def test_hourly_rollups_equal_the_raw_computation(week, start, end):
    for tz in (BERLIN, UTC, ZoneInfo("America/New_York")):
        for agent in (None, "billing", "orders"):
            scope = {"start": start, "end": end, "tz": tz, "agent": agent, "now": NOW}
            assert get_analytics(**scope, source=ROLLUPS) == get_analytics(**scope, source=CONVERSATIONS)


def test_agent_usage_counts_only_the_handoffs_of_the_agents_conversations(week):
    scope = {"start": date(2026, 11, 8), "end": date(2026, 11, 14), "tz": UTC, "now": NOW}
    every = get_analytics(**scope)
    # billing took part in two conversations, handed to billing 2 and 1 times; the others' handoffs stay out
    billing = get_analytics(**scope, agent="billing")

    assert {usage.agent: usage.routings for usage in every.agent_usage} == {"orders": 6, "tech_support": 1, "billing": 3}
    assert [(usage.agent, usage.routings, usage.share) for usage in billing.agent_usage] == [("billing", 3, 1.0)]
    assert billing.agent_usage == get_analytics(**scope, agent="billing", source=CONVERSATIONS).agent_usage


def test_the_migration_to_week_and_month_rows_sums_the_stored_days_as_the_sync_does(week):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from analytics.models import HourlyRollup

    def longer_rows() -> list[tuple]:
        columns = [field.name for field in HourlyRollup._meta.fields if field.name != "id"]
        return sorted(HourlyRollup.objects.filter(span__in=["week", "month"]).values_list(*columns), key=repr)

    kept_by_the_sync = longer_rows()
    MigrationExecutor(connection).migrate([("analytics", "0016_usage_rollups_by_week")])
    assert not HourlyRollup.objects.filter(span__in=["week", "month"]).exists()
    MigrationExecutor(connection).migrate([("analytics", "0017_hourly_rollups_by_week_and_month")])

    # the five conversations (Nov 9 23:30 to Nov 12 23:30 UTC) fall in the week from Monday Nov 9 and in November
    assert {(row[0], row[1]) for row in kept_by_the_sync} == {("week", at(9, 0)), ("month", at(1, 0))}
    assert longer_rows() == kept_by_the_sync


def test_half_hour_time_zones_are_computed_from_the_conversations(week):
    kolkata = ZoneInfo("Asia/Kolkata")
    assert source_for(start=date(2026, 11, 10), end=date(2026, 11, 12), tz=kolkata) is CONVERSATIONS
    assert source_for(start=date(2026, 11, 10), end=date(2026, 11, 12), tz=BERLIN) is ROLLUPS
    # Kolkata days 10..12 are [11-09 18:30, 11-12 18:30) UTC: the 11-12 21:00 and 23:30 UTC starts fall outside
    assert get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 12), tz=kolkata).conversations == 3
    # no rollup row starts on a half hour: reading them anyway is refused, not answered with zeros
    with pytest.raises(ValueError, match="whole UTC hours"):
        get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 12), tz=kolkata, source=ROLLUPS)


def test_rollups_follow_the_recorder_through_rebuilds_and_reprices(run_reference_agent):
    from analytics.models import HourlyRollup

    started = datetime(2026, 11, 10, 9, tzinfo=timezone.utc)
    for index, scenario in enumerate(["order_status", "refund_approved", "escalated_directly"]):
        run_reference_agent(plan_conversation(seed=42, index=index, scenario=scenario), started + timedelta(minutes=50 * index))
    call_command("backfill_events", verbosity=0)
    scope = {"start": date(2026, 11, 10), "end": date(2026, 11, 10), "tz": UTC, "now": NOW}

    assert get_analytics(**scope, source=ROLLUPS) == get_analytics(**scope, source=CONVERSATIONS)
    # the rows of every tenant hold an hour's conversations; each tenant's rows add up to them
    every_tenant = HourlyRollup.objects.filter(agent="", span="hour", tenant__isnull=True).order_by("hour")
    assert [(row.hour.hour, row.conversations) for row in every_tenant] == [(9, 2), (10, 1)]  # 09:00, 09:50, 10:40
    by_tenant = HourlyRollup.objects.filter(agent="", span="hour", tenant__isnull=False).values("hour").annotate(
        started=Sum("conversations")
    )
    assert [(row["hour"].hour, row["started"]) for row in by_tenant.order_by("hour")] == [(9, 2), (10, 1)]
    assert HourlyRollup.objects.filter(agent="", span="day", tenant__isnull=True).aggregate(
        started=Sum("conversations")
    ) == {"started": 3}
    ModelPriceFactory(model="gpt-4o-mini", input_usd_per_million=Decimal("50"), output_usd_per_million=Decimal("50"),
                      effective_from=started - timedelta(days=1))
    call_command("reprice")
    assert get_analytics(**scope, source=ROLLUPS) == get_analytics(**scope, source=CONVERSATIONS)
    call_command("backfill_events", "--rebuild", "--since=2026-11-10", verbosity=0)
    assert get_analytics(**scope, source=ROLLUPS) == get_analytics(**scope, source=CONVERSATIONS)
    assert get_analytics(**scope).conversations == 3


def test_the_agent_list_names_each_agent_of_the_readers_tenants_once_in_order(week):
    ConversationFactory(started_at=at(11, 9), metadata={"tenant": "globex"}, agents_used=["supervisor", "refunds"])
    rebuild_rollups()

    assert agent_names() == ["billing", "orders", "refunds", "supervisor", "tech_support"]
    assert agent_names(tenants=TenantScope(tenants=frozenset({"globex"}))) == ["refunds", "supervisor"]
    assert agent_names(tenants=TenantScope(tenants=frozenset())) == []


def test_a_readers_tenants_bound_every_figure_recent_approvals_included(db):
    for tenant, cost, agent in (("acme-eu", "0.30", "billing"), ("globex", "0.70", "orders")):
        conversation = ConversationFactory(
            started_at=at(19, 9), metadata={"tenant": tenant}, cost_usd=Decimal(cost), interrupt_count=1, interrupts_pending=1,
            handoffs={agent: 1}, agents_used=["supervisor", agent],
        )
        AnalyticsEventFactory(conversation=conversation, event_type=EventType.INTERRUPT_RAISED, status="pending", occurred_at=at(19, 20))
    rebuild_rollups()

    acme = get_analytics(start=date(2026, 11, 19), end=date(2026, 11, 19), tz=UTC, now=NOW, tenants=TenantScope(tenants=frozenset({"acme-eu"})))

    assert (acme.conversations, acme.total_cost) == (1, Decimal("0.30"))
    assert acme.interrupt_stats == InterruptStats(total=1, approved=0, rejected=0, other=0, expired=0, pending=1)
    assert [(point.date, point.conversations, point.cost) for point in acme.series] == [
        (date(2026, 11, 19), 1, Decimal("0.30")),
    ]
    assert [(usage.agent, usage.routings) for usage in acme.agent_usage] == [("billing", 1)]


def test_unpriced_models_are_those_of_the_agents_and_tenants_conversations_only(db):
    ConversationFactory(started_at=at(19, 9), agents_used=["supervisor", "billing"], unpriced_models=["billing-model"])
    ConversationFactory(started_at=at(19, 10), agents_used=["supervisor", "orders"], unpriced_models=["orders-model"],
                        metadata={"tenant": "globex"})
    rebuild_rollups()
    day = {"start": date(2026, 11, 19), "end": date(2026, 11, 19), "tz": UTC, "now": NOW}

    assert get_analytics(**day).unpriced_models == ("billing-model", "orders-model")
    billing = get_analytics(**day, agent="billing")
    assert (billing.agent, billing.unpriced_models) == ("billing", ("billing-model",))
    assert get_analytics(**day, tenants=TenantScope(tenants=frozenset({"globex"}))).unpriced_models == ("orders-model",)


def test_unpriced_models_are_those_of_the_ranges_local_days(db):
    """23:30 UTC on the 18th is the 19th in Berlin: its model is the Berlin 19th's, not the UTC 19th's."""
    ConversationFactory(started_at=at(18, 23, 30), unpriced_models=["late-model"])
    ConversationFactory(started_at=at(19, 23, 30), unpriced_models=["night-model"])
    rebuild_rollups()
    nineteenth = {"start": date(2026, 11, 19), "end": date(2026, 11, 19), "now": NOW}

    assert get_analytics(**nineteenth, tz=BERLIN).unpriced_models == ("late-model",)
    assert get_analytics(**nineteenth, tz=UTC).unpriced_models == ("night-model",)


def test_recent_approvals_answered_or_of_other_agents_do_not_count_as_pending(db):
    billing = ConversationFactory(started_at=at(19, 9), agents_used=["supervisor", "billing"], interrupt_count=2,
                                  interrupts_approved=1, interrupts_pending=1)
    orders = ConversationFactory(started_at=at(19, 10), agents_used=["supervisor", "orders"], interrupt_count=1, interrupts_pending=1)
    for conversation, status in ((billing, "approved"), (billing, "pending"), (orders, "pending")):
        AnalyticsEventFactory(conversation=conversation, event_type=EventType.INTERRUPT_RAISED, status=status, occurred_at=at(19, 20))
    rebuild_rollups()

    stats = get_analytics(start=date(2026, 11, 19), end=date(2026, 11, 19), tz=UTC, now=NOW, agent="billing").interrupt_stats

    assert stats == InterruptStats(total=2, approved=1, rejected=0, other=0, expired=0, pending=1)
