import pytest

from replay.templatetags.replay_format import duration_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "?"), (0, "0 ms"), (999, "999 ms"), (3400, "3.4 s"), (2_460_020, "41 min"),
     (7_500_000, "2 h 5 min"), (7_200_000, "2 h"), (86_400_000 * 3 + 3_600_000 * 4, "3 d 4 h"), (86_400_000, "1 d")],
)
def test_durations_read_at_a_glance(value, expected):
    assert duration_ms(value) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("0.00264410", "$0.0026"), ("0", "$0.0000"), ("0.99995", "$1.0000"), ("12.5", "$12.50"),
     ("1204.754", "$1,204.75"), ("-0.01", "-$0.0100"), (None, "–")],
)
def test_costs_read_in_dollars_with_sensible_precision(amount, expected):
    from decimal import Decimal

    from replay.templatetags.replay_format import usd

    assert usd(None if amount is None else Decimal(amount)) == expected


@pytest.mark.parametrize(
    ("costs", "decimals"),
    [
        (["0.01449", "0.00361"], 4),  # 0.0145 + 0.0036 = 0.0181, the total rounded
        (["0.00264", "0.00264", "0.00264"], 5),  # at 4: 3 × 0.0026 = 0.0078, but the total is 0.0079
        (["0.000015", "0.02"], 6),  # the cheapest call keeps two significant digits, not $0.0000
        (["0.00000001", "0.00000001"], 8),
        ([], 4),
    ],
)
def test_replay_costs_have_the_fewest_decimals_at_which_the_steps_add_up_to_the_total(costs, decimals):
    from datetime import datetime, timezone
    from decimal import ROUND_HALF_UP, Decimal

    from replay.services import cost_decimals
    from replay.steps import ReplayStep, StepType

    steps = [
        ReplayStep(index=index, type=StepType.AGENT_MESSAGE, timestamp=datetime(2026, 11, 1, tzinfo=timezone.utc),
                   checkpoint_id="c", checkpoint_ns="", cost_usd=Decimal(cost))
        for index, cost in enumerate(costs)
    ]
    assert cost_decimals(steps=steps) == decimals
    exponent = Decimal(1).scaleb(-decimals)
    shown = [Decimal(cost).quantize(exponent, rounding=ROUND_HALF_UP) for cost in costs]
    assert sum(shown, Decimal(0)) == sum(map(Decimal, costs), Decimal(0)).quantize(exponent, rounding=ROUND_HALF_UP)


def test_tool_values_read_as_indented_json_with_their_own_letters():
    from replay.templatetags.replay_format import pretty_json

    assert pretty_json({"city": "Zürich", "amount_usd": 120.5}) == '{\n  "city": "Zürich",\n  "amount_usd": 120.5\n}'
    assert pretty_json('{"order": "ORD-1", "items": ["茶"]}') == '{\n  "order": "ORD-1",\n  "items": [\n    "茶"\n  ]\n}'
    assert pretty_json("Sunny in Zürich") == "Sunny in Zürich"  # a result that is not JSON stays text
    assert pretty_json("42") == "42"
