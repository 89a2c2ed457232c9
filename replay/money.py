"""How an amount of US dollars is written for a reader."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Below a dollar a conversation's cost needs four decimals to tell $0.0026 from $0.0031; above it, cents.
SMALL_AMOUNT_DECIMALS, LARGE_AMOUNT_DECIMALS = 4, 2


def format_usd(amount: Decimal | None, *, decimals: int | None = None) -> str:
    """'$0.0026', '$12.50', '$1,204.75', '-$0.0100'; '–' when there is no amount (unpriced)."""
    if amount is None or amount == "":
        return "–"
    amount = Decimal(amount)
    if decimals is None:
        decimals = LARGE_AMOUNT_DECIMALS if abs(amount) >= 1 else SMALL_AMOUNT_DECIMALS
    rounded = amount.quantize(Decimal(1).scaleb(-int(decimals)), rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{int(decimals)}f}"
