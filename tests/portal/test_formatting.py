"""portal.formatting: one way to write each kind of number (issue 11, item 12)."""

import pytest

from portal.formatting import format_p_value

BOOTSTRAP_FLOOR = 2 / 1001  # the smallest two-sided p of a 1,000-resample paired bootstrap


@pytest.mark.parametrize(
    ("value", "floor", "text"),
    [
        (None, None, "—"),
        (0.5, None, "0.500"),
        (0.0342, None, "0.034"),
        (0.0004, None, "< 0.001"),
        (BOOTSTRAP_FLOOR, BOOTSTRAP_FLOOR, "< 0.002"),  # the floor: the true p may be smaller
        (BOOTSTRAP_FLOOR, None, "0.002"),  # without the floor it reads as exact
        (4 / 1001, BOOTSTRAP_FLOOR, "0.004"),  # above the floor: as measured
        (2 / 101, 2 / 101, "< 0.020"),  # 100 resamples
        (1.0, BOOTSTRAP_FLOOR, "1.000"),
    ],
)
def test_p_values_read_as_what_they_can_say(value, floor, text):
    assert format_p_value(value, floor=floor) == text
