"""How the dashboard judges a change against the previous period: arrow by sign, colour by what is good news."""

from decimal import Decimal

from analytics.period_change import (
    MIN_COMPARABLE_CONVERSATIONS,
    Better,
    PeriodChange,
    Verdict,
    period_change,
)

ENOUGH = MIN_COMPARABLE_CONVERSATIONS


def change(current, previous, *, better: Better, as_points: bool, now: int = 50, before: int = ENOUGH, shown: str = "") -> PeriodChange:
    return period_change(
        current=current, previous=previous, current_conversations=now, previous_conversations=before,
        better=better, as_points=as_points, previous_shown=shown,
    )


def test_a_higher_escalation_rate_points_up_in_red():
    assert change(0.30, 0.20, better=Better.LOWER, as_points=True) == PeriodChange(
        "+10.0 pts vs previous period", "↑", Verdict.BAD
    )


def test_a_lower_cost_per_conversation_points_down_in_green():
    assert change(Decimal("0.0150"), Decimal("0.0200"), better=Better.LOWER, as_points=False) == PeriodChange(
        "-25 % vs previous period", "↓", Verdict.GOOD
    )


def test_a_higher_resolution_rate_is_good_and_a_lower_one_bad():
    assert change(0.6, 0.5, better=Better.HIGHER, as_points=True).verdict == Verdict.GOOD
    assert change(0.4, 0.5, better=Better.HIGHER, as_points=True) == PeriodChange("-10.0 pts vs previous period", "↓", Verdict.BAD)


def test_more_conversations_is_neither_good_nor_bad():
    assert change(60, 40, better=Better.EITHER, as_points=False) == PeriodChange("+50 % vs previous period", "↑", Verdict.NEUTRAL)


def test_no_change_has_no_arrow():
    assert change(0.5, 0.5, better=Better.HIGHER, as_points=True) == PeriodChange("+0.0 pts vs previous period", "", Verdict.NEUTRAL)


def test_a_small_previous_period_shows_its_value_instead_of_a_percentage():
    assert change(296, 3, better=Better.EITHER, as_points=False, before=3, shown="3") == PeriodChange("prev. 3")
    assert change(0.5, 0.2, better=Better.LOWER, as_points=True, before=ENOUGH - 1, shown="20.0 %") == PeriodChange("prev. 20.0 %")


def test_from_the_threshold_on_the_change_is_a_percentage():
    assert change(40, 20, better=Better.EITHER, as_points=False, before=ENOUGH).text == "+100 % vs previous period"


def test_a_previous_period_without_conversations_says_so():
    assert change(12, 0, better=Better.EITHER, as_points=False, before=0, shown="0") == PeriodChange(
        "no conversations in the previous period"
    )
    assert change(0.5, None, better=Better.HIGHER, as_points=True, before=0).text == "no conversations in the previous period"


def test_a_previous_cost_of_zero_shows_the_value_not_an_infinite_percentage():
    assert change(Decimal("0.02"), Decimal(0), better=Better.LOWER, as_points=False, shown="$0.0000") == PeriodChange("prev. $0.0000")


def test_an_empty_range_says_it_has_no_conversations():
    assert change(0, 0, better=Better.EITHER, as_points=False, now=0, before=0) == PeriodChange("no conversations in this range")
    assert change(None, 0.4, better=Better.HIGHER, as_points=True, now=0).text == "no conversations in this range"
