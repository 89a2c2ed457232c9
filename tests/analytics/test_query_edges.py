"""Analytics figures on data built so that a wrong rule gives a different number: one expired approval
against two pending, day boundaries of a zone west of UTC, a previous period that an agent filter
changes. Every conversation is written by the reference agent and derived by ``backfill_events``."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from analytics.queries import InterruptStats, get_analytics
from smart_support.agent.scenarios import plan_conversation

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


def write_and_derive(run_reference_agent, conversations: list[tuple[str, datetime]], *, seed: int) -> list[str]:
    """Run each ``(scenario, started_at)`` through the reference agent, then derive them all at NOW."""
    thread_ids = []
    for index, (scenario, started_at) in enumerate(conversations):
        plan = plan_conversation(seed=seed, index=index, scenario=scenario)
        run_reference_agent(plan, started_at)
        thread_ids.append(plan.thread_id)
    with time_machine.travel(NOW, tick=False):
        call_command("backfill_events", verbosity=0)
    return thread_ids


# -- approvals: expired or pending, decided at the moment of the query ---------------------------------

@pytest.fixture
def one_expired_two_pending(run_reference_agent):
    """Three refunds left unanswered: one three days before NOW (past the 24 h TTL), two an hour before."""
    return write_and_derive(
        run_reference_agent,
        [("refund_pending", NOW - timedelta(days=3)), ("refund_pending", NOW - timedelta(hours=1)),
         ("refund_pending", NOW - timedelta(minutes=50))],
        seed=61,
    )


def test_approvals_older_than_the_ttl_count_as_expired_the_rest_as_pending(one_expired_two_pending):
    result = get_analytics(start=date(2026, 11, 16), end=date(2026, 11, 20), tz=UTC, now=NOW)

    assert result.interrupt_stats == InterruptStats(total=3, approved=0, rejected=0, other=0, expired=1, pending=2)


def test_a_range_before_the_recent_approvals_counts_only_its_own_as_expired(one_expired_two_pending):
    result = get_analytics(start=date(2026, 11, 16), end=date(2026, 11, 18), tz=UTC, now=NOW)

    assert result.interrupt_stats == InterruptStats(total=1, approved=0, rejected=0, other=0, expired=1, pending=0)


def test_pending_approvals_expire_as_the_clock_passes_the_ttl(one_expired_two_pending):
    a_day_later = NOW + timedelta(hours=24)

    result = get_analytics(start=date(2026, 11, 16), end=date(2026, 11, 20), tz=UTC, now=a_day_later)

    assert (result.interrupt_stats.expired, result.interrupt_stats.pending) == (3, 0)


@pytest.fixture
def pending_either_side_of_midnight(run_reference_agent):
    """Unanswered refunds, all within the TTL: one started at 23:30 UTC the evening before NOW's day, two on it."""
    return write_and_derive(
        run_reference_agent,
        [("refund_pending", NOW - timedelta(hours=12, minutes=30)), ("refund_pending", NOW - timedelta(hours=1)),
         ("refund_pending", NOW - timedelta(minutes=50))],
        seed=64,
    )


@pytest.mark.parametrize(
    ("day", "tz", "pending"),
    [(20, UTC, 2), (19, UTC, 1), (20, ZoneInfo("Asia/Tokyo"), 3)],
    ids=["the-day-after", "the-evening-before", "tokyo-day-holding-all-three"],
)
def test_approvals_within_the_ttl_are_pending_in_whichever_range_holds_their_conversation(
    pending_either_side_of_midnight, day, tz, pending
):
    result = get_analytics(start=date(2026, 11, day), end=date(2026, 11, day), tz=tz, now=NOW)

    assert result.interrupt_stats == InterruptStats(total=pending, approved=0, rejected=0, other=0, expired=0, pending=pending)


def changelist_threads(client, **params) -> set[str]:
    with time_machine.travel(NOW, tick=False):
        response = client.get("/admin/replay/conversation/", params)
    assert response.status_code == 200
    return {row.thread_id for row in response.context["cl"].result_list}


def test_the_admin_expired_filter_lists_the_conversation_whose_approval_expired(one_expired_two_pending, admin_client):
    expired, *_ = one_expired_two_pending

    assert changelist_threads(admin_client, approval="expired") == {expired}


def test_the_admin_pending_filter_lists_the_conversations_still_awaiting_approval(one_expired_two_pending, admin_client):
    _, *pending = one_expired_two_pending

    assert changelist_threads(admin_client, approval="pending") == set(pending)


# -- day boundaries in a zone west of UTC -----------------------------------------------------------------

@pytest.fixture
def around_new_york_midnights(run_reference_agent):
    """New York is UTC-5 in November: its 10th runs from 11-10 05:00 to 11-11 05:00 UTC."""
    return write_and_derive(
        run_reference_agent,
        [
            ("order_status", utc(10, 4, 30)),  # the 9th in New York: before the range
            ("order_status", utc(10, 12)),  # the 10th
            ("escalated_directly", utc(11, 4, 30)),  # still the 10th in New York, the 11th in UTC
            ("order_status", utc(12, 4, 30)),  # the 11th in New York
            ("order_status", utc(12, 5, 30)),  # the 12th in New York: after the range
        ],
        seed=62,
    )


def test_a_new_york_range_counts_the_conversations_started_on_new_york_days(around_new_york_midnights):
    result = get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 11), tz=NEW_YORK, now=NOW)

    assert (result.conversations, result.escalation_rate) == (3, 1 / 3)


def test_the_daily_series_puts_a_conversation_on_its_new_york_day(around_new_york_midnights):
    result = get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 11), tz=NEW_YORK, now=NOW)

    assert [(point.date.day, point.conversations, point.escalated) for point in result.series] == [(10, 2, 1), (11, 1, 0)]


def test_the_same_dates_in_utc_count_by_utc_days(around_new_york_midnights):
    result = get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 11), tz=UTC, now=NOW)

    assert [(point.date.day, point.conversations) for point in result.series] == [(10, 2), (11, 1)]
    assert result.escalation_rate == 1 / 3


def test_a_day_without_conversations_is_zero_in_the_daily_series(around_new_york_midnights):
    result = get_analytics(start=date(2026, 11, 12), end=date(2026, 11, 13), tz=UTC, now=NOW)

    assert [(point.date.day, point.conversations, point.resolved, point.escalated, point.cost) for point in result.series][1] == (
        13, 0, 0, 0, 0,
    )
    assert result.series[0].conversations == 2


# -- the previous period, filtered by agent -----------------------------------------------------------

@pytest.fixture
def two_days_of_conversations(run_reference_agent):
    return write_and_derive(
        run_reference_agent,
        [
            ("order_status", utc(9, 9)), ("password_failed", utc(9, 10)), ("refund_approved", utc(9, 11)),
            ("refund_approved", utc(10, 9)), ("order_status", utc(10, 10)),
        ],
        seed=63,
    )


def test_the_previous_period_counts_only_the_agents_conversations(two_days_of_conversations):
    billing = get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 10), tz=UTC, agent="billing", now=NOW)

    assert (billing.conversations, billing.previous_period.conversations) == (1, 1)
    assert billing.previous_period.resolution_rate == 1.0


def test_the_previous_period_is_the_days_just_before_the_range(two_days_of_conversations):
    everyone = get_analytics(start=date(2026, 11, 10), end=date(2026, 11, 10), tz=UTC, now=NOW)

    assert (everyone.conversations, everyone.previous_period.conversations) == (2, 3)
    # resolved on the 9th: the order lookup and the approved refund, not the failed password reset
    assert everyone.previous_period.resolution_rate == 2 / 3
