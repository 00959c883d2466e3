"""Casting text columns (tables.casts): typed values, and a failure mask for the rest."""

import datetime

import pyarrow as pa
import pytest

from tables.casts import (
    CASTS,
    FEATURE_TYPES,
    any_failed,
    shown,
    to_binary,
    to_class,
    to_datetime,
    to_float,
)


def failed_rows(failures) -> dict[str, list[int]]:
    """{reason: 0-based rows} for each failure that flagged a row."""
    return {reason: bad.nonzero()[0].tolist() for bad, reason, _ in failures if bad.any()}


@pytest.mark.parametrize(
    ("kind", "text", "expected", "reason"),
    [
        ("integer", [" 42 ", "3.0", "+7", "2.5"], [42, 3, 7, None], "not a whole number"),
        ("number", ["1.5", "nan", "", "inf"], [1.5, None, None, None], "not a finite number"),
        ("boolean", ["Yes", "f", "1", "maybe"], [True, False, True, None], "not true or false"),
    ],
)
def test_text_is_cast_to_the_feature_type_and_the_bad_value_flagged(kind, text, expected, reason):
    values, failures = CASTS[kind](pa.array(text))

    assert values.type == FEATURE_TYPES[kind]
    assert values.to_pylist() == expected
    assert failed_rows(failures) == {reason: [3]}


def test_datetimes_with_an_offset_are_converted_to_utc_and_naive_ones_taken_as_utc():
    values, failures = to_datetime(pa.array(["2026-01-06T10:30:00+02:00", "2026-01-05", None]))

    utc = datetime.UTC
    assert values.to_pylist() == [
        datetime.datetime(2026, 1, 6, 8, 30, tzinfo=utc),
        datetime.datetime(2026, 1, 5, tzinfo=utc),
        None,
    ]
    assert failed_rows(failures) == {}


def test_impossible_dates_are_flagged_with_the_iso_8601_hint():
    values, failures = to_datetime(pa.array(["2026-02-30", "2026-02-28", "yesterday"]))

    assert values.null_count == 2
    assert failed_rows(failures) == {"not a date": [0, 2]}
    template = failures[0][2]
    assert template.format(value="yesterday") == (
        "“yesterday” is not a date or time in ISO 8601 form (2026-03-31 14:05:00+02:00)."
    )


def test_binary_labels_are_0_1_from_text_or_booleans():
    from_text, failures = to_binary(pa.array(["TRUE", "0", "1.0", "2"]))
    from_booleans, _ = to_binary(pa.array([True, False]))

    assert from_text.to_pylist() == [1, 0, 1, None]
    assert failed_rows(failures) == {"not 0/1": [3]}
    assert from_booleans.to_pylist() == [1, 0]


def test_blank_class_names_are_empty():
    values, failures = to_class(pa.array(["cat", "  ", None]))

    assert values.to_pylist() == ["cat", None, None]
    assert failures == []


def test_any_failed_joins_the_failure_masks():
    _, failures = to_float(pa.array(["x", "1", "inf"]))

    assert any_failed(failures, 3).tolist() == [True, False, True]


def test_shown_writes_a_cell_as_the_user_would_and_shortens_it():
    assert shown(pa.array([2.5, 3.0]), 1) == "3"
    assert shown(pa.array([False, True]), 1) == "true"
    assert shown(pa.array(["y" * 80]), 0) == "y" * 57 + "…"
