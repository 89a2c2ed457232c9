import pytest

from replay.templatetags.replay_format import duration_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "?"), (0, "0 ms"), (999, "999 ms"), (3400, "3.4 s"), (2_460_020, "41 min"),
     (7_500_000, "2 h 5 min"), (7_200_000, "2 h"), (86_400_000 * 3 + 3_600_000 * 4, "3 d 4 h"), (86_400_000, "1 d")],
)
def test_durations_read_at_a_glance(value, expected):
    assert duration_ms(value) == expected
