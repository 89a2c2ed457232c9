"""How a headline figure changed against the previous period, judged the way the business reads it.

The arrow follows the sign of the change; the colour follows whether the change is good (a lower
escalation rate is good news even though the number went down). A period of too few conversations
gives percentages that mean nothing ("+9867 %" against 3 conversations), so below
``MIN_COMPARABLE_CONVERSATIONS`` the previous value is shown as it is instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from django.utils.translation import gettext as _

MIN_COMPARABLE_CONVERSATIONS = 20


class Better(StrEnum):
    """Which way a figure should move for the business."""

    HIGHER = "higher"
    LOWER = "lower"
    EITHER = "either"  # volume: more conversations is neither good nor bad news


class Verdict(StrEnum):
    GOOD = "good"
    BAD = "bad"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class PeriodChange:
    text: str  # what the card shows under the figure
    arrow: str = ""  # ↑ | ↓ | "" (no change, or nothing to compare)
    verdict: Verdict = Verdict.NEUTRAL


def verdict_of(*, delta: float | Decimal, better: Better) -> Verdict:
    """Given the change's sign and the figure's good direction, return whether the change is good news."""
    if not delta or better == Better.EITHER:
        return Verdict.NEUTRAL
    went_up = delta > 0
    return Verdict.GOOD if went_up == (better == Better.HIGHER) else Verdict.BAD


def period_change(
    *,
    current: float | Decimal | None,
    previous: float | Decimal | None,
    current_conversations: int,
    previous_conversations: int,
    better: Better,
    as_points: bool,
    previous_shown: str,
) -> PeriodChange:
    """Given a figure of this period and of the previous one (and how many conversations each counted),
    return what the card says about the change. ``as_points``: a rate, compared in percentage points;
    ``previous_shown``: the previous value formatted as the card formats its own."""
    if not current_conversations or current is None:
        return PeriodChange(_("no conversations in this range"))
    if not previous_conversations or previous is None:
        return PeriodChange(_("no conversations in the previous period"))
    if previous_conversations < MIN_COMPARABLE_CONVERSATIONS or (not as_points and not previous):
        return PeriodChange(_("prev. %(value)s") % {"value": previous_shown})
    delta = current - previous
    arrow = "↑" if delta > 0 else "↓" if delta < 0 else ""
    if as_points:
        amount = _("%(delta)s pts") % {"delta": f"{float(delta) * 100:+.1f}"}
    else:
        amount = f"{float(delta) / float(previous) * 100:+.0f} %"
    return PeriodChange(
        _("%(amount)s vs previous period") % {"amount": amount}, arrow, verdict_of(delta=delta, better=better)
    )
