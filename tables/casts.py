"""Casting text columns to typed ones, batch by batch, flagging each value that does not fit.

Every column arrives as text (CSV) or in its Parquet type and is cast with vectorised
pyarrow.compute, so each bad value gets its row number. A cast returns the typed values
(bad ones null) and its `Failure`s: masks of the bad rows, each with a reason for the counts
and a message template. The mask helpers turn Arrow conditions into numpy masks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FEATURE_TYPES: dict[str, pa.DataType] = {
    "number": pa.float64(),
    "integer": pa.int64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    # Stored dictionary-encoded (one small dictionary per column); read as string per batch.
    "category": pa.dictionary(pa.int32(), pa.string()),
    # Values without an offset are taken as UTC; values with one are converted to UTC.
    "datetime": pa.timestamp("us", tz="UTC"),
}

# What pyarrow's string→float cast accepts, or more: a value this lets through that the cast
# then refuses is caught by `_cast_or_flag`, so the cast's grammar is the one that counts.
_FLOAT = r"(?i)^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)$"
_INTEGER = r"^[+-]?\d+$"
# Strict about field ranges so that only impossible days (02-30) reach the bisecting cast.
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)"
_DATETIME = rf"^{_DATE}(?:{_TIME})?$"
_DATETIME_WITH_OFFSET = rf"^{_DATE}{_TIME}{_OFFSET}$"
# How yes and no are written in files and request bodies (compared lower-cased, trimmed).
TRUE_TOKENS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TOKENS = ("false", "f", "no", "n", "0", "0.0")
_LABEL_ONE = ["1", "true", "1.0"]
_LABEL_ZERO = ["0", "false", "0.0"]
_LARGEST_EXACT_FLOAT_INTEGER = 2.0**53
_INEXACT_TEMPLATE = (
    "“{value}” is too large a whole number to be held exactly as a number (beyond ±2^53): "
    "declare the column as an integer feature, or write it as a decimal."
)

# A failure: (mask of the bad rows, reason for the counts, message template with {value}).
Failure = tuple[np.ndarray, str, str]


def to_float(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """float64; "nan" and empty cells are null, infinities and non-numbers are failures."""
    raw = _plain(raw)
    if pa.types.is_string(raw.type):
        values, bad = _parse_text(raw, pa.float64(), _FLOAT)
        failures = [(bad, "not a number", "“{value}” is not a number.")]
    elif pa.types.is_integer(raw.type):
        values, inexact = _integers_as_float(raw)
        failures = [(inexact, "too large to be exact", _INEXACT_TEMPLATE)]
    elif _is_numeric(raw.type):
        values = pc.cast(raw, pa.float64())
        failures = []
    else:
        return _not_convertible(raw, pa.float64(), "not a number", "“{value}” is not a number.")
    values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)
    infinite = mask(pc.is_inf(values))
    if infinite.any():
        values = pc.if_else(pa.array(infinite), pa.scalar(None, pa.float64()), values)
        failures.append((infinite, "not a finite number", "“{value}” is not a finite number."))
    return values, failures


def to_integer(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """int64; "3" and "3.0" are 3, "3.5" or "abc" are failures."""
    raw = _plain(raw)
    reason, template = "not a whole number", "“{value}” is not a whole number."
    if pa.types.is_integer(raw.type) or pa.types.is_null(raw.type):
        values, bad = _cast_or_flag(raw, pa.int64())
        return values, [(bad, reason, template)]
    if pa.types.is_string(raw.type):
        try:
            return pc.cast(raw, pa.int64()), []
        except pa.ArrowInvalid:
            pass
        text = _trimmed(raw)
        is_integer = pc.fill_null(pc.match_substring_regex(text, _INTEGER), False)
        digits = pc.replace_substring_regex(
            pc.if_else(is_integer, text, pa.scalar(None, pa.string())), r"^\+", ""
        )
        integers, too_large = _cast_or_flag(digits, pa.int64())
        rest = pc.if_else(is_integer, pa.scalar(None, pa.string()), text)
        floats, float_failures = to_float(rest)
        bad = too_large | any_failed(float_failures, len(raw))
    elif _is_numeric(raw.type):
        integers = pa.nulls(len(raw), pa.int64())
        floats = pc.cast(raw, pa.float64())
        floats = pc.if_else(pc.is_nan(floats), pa.scalar(None, pa.float64()), floats)
        bad = mask(pc.is_inf(floats))
        floats = pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), floats)
    else:
        return _not_convertible(raw, pa.int64(), reason, template)
    fractional = mask(
        pc.or_(
            pc.not_equal(floats, pc.floor(floats)),
            pc.greater(pc.abs(floats), _LARGEST_EXACT_FLOAT_INTEGER),
        )
    )
    bad |= fractional
    whole = pc.if_else(pa.array(fractional), pa.scalar(None, pa.float64()), floats)
    values = pc.coalesce(integers, pc.cast(whole, pa.int64()))
    return values, [(bad, reason, template)]


def to_bool(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """bool from true/false, t/f, yes/no, y/n or 1/0 (any case), or from 0/1 numbers."""
    raw = _plain(raw)
    reason, template = "not true or false", "“{value}” is not true or false."
    if pa.types.is_boolean(raw.type) or pa.types.is_null(raw.type):
        return pc.cast(raw, pa.bool_()), []
    if _is_numeric(raw.type):
        numbers = _numbers(raw)
        bad = not_in(numbers, pa.array([0.0, 1.0]))
        values = pc.if_else(pa.array(bad), pa.scalar(None, pa.bool_()), pc.equal(numbers, 1.0))
        return values, [(bad, reason, template)]
    if not pa.types.is_string(raw.type):
        return _not_convertible(raw, pa.bool_(), reason, template)
    text = pc.utf8_lower(_trimmed(raw))
    true = pc.is_in(text, value_set=pa.array(TRUE_TOKENS))
    false = pc.is_in(text, value_set=pa.array(FALSE_TOKENS))
    bad = mask(pc.invert(pc.or_(true, false))) & ~null_mask(text)
    values = pc.if_else(pc.or_(true, false), true, pa.scalar(None, pa.bool_()))
    return values, [(bad, reason, template)]


def to_datetime(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """UTC timestamps from ISO 8601 text (date, or date and time with an optional offset)."""
    raw = _plain(raw)
    target = FEATURE_TYPES["datetime"]
    reason = "not a date"
    template = "“{value}” is not a date or time in ISO 8601 form (2026-03-31 14:05:00+02:00)."
    if pa.types.is_timestamp(raw.type) or pa.types.is_date(raw.type) or raw.type == pa.null():
        if pa.types.is_timestamp(raw.type) and raw.type.tz is None:
            raw = pc.cast(raw, pa.timestamp("us"))  # naive values are taken as UTC
        return pc.cast(raw, target), []
    if not pa.types.is_string(raw.type):
        return _not_convertible(raw, target, reason, template)
    text = _trimmed(raw)
    with_offset = pc.fill_null(pc.match_substring_regex(text, _DATETIME_WITH_OFFSET), False)
    naive = pc.fill_null(pc.match_substring_regex(text, _DATETIME), False)
    none = pa.scalar(None, pa.string())
    aware_values, aware_bad = _cast_or_flag(pc.if_else(with_offset, text, none), target)
    naive_values, naive_bad = _cast_or_flag(pc.if_else(naive, text, none), pa.timestamp("us"))
    values = pc.coalesce(aware_values, pc.cast(naive_values, target))
    unmatched = mask(pc.invert(pc.or_(with_offset, naive))) & ~null_mask(text)
    return values, [(unmatched | aware_bad | naive_bad, reason, template)]


def to_binary(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """0/1 int64 from 0/1, true/false (any case) or 0.0/1.0."""
    raw = _plain(raw)
    reason, template = "not 0/1", "“{value}” is not a binary label (0/1 or true/false)."
    if pa.types.is_boolean(raw.type):
        return pc.cast(raw, pa.int64()), []
    if _is_numeric(raw.type) or pa.types.is_null(raw.type):
        numbers = _numbers(raw)
        bad = not_in(numbers, pa.array([0.0, 1.0]))
        values = pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), numbers)
        return pc.cast(values, pa.int64()), [(bad, reason, template)]
    if not pa.types.is_string(raw.type):
        return _not_convertible(raw, pa.int64(), reason, template)
    text = pc.utf8_lower(_trimmed(raw))
    one = pc.is_in(text, value_set=pa.array(_LABEL_ONE))
    zero = pc.is_in(text, value_set=pa.array(_LABEL_ZERO))
    bad = mask(pc.invert(pc.or_(one, zero))) & ~null_mask(text)
    values = pc.if_else(pc.or_(one, zero), pc.cast(one, pa.int64()), pa.scalar(None, pa.int64()))
    return values, [(bad, reason, template)]


def to_class(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """Class names as text; blank cells are null."""
    values = as_text(raw)
    blank = blank_mask(values)
    return pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), values), []


# The cast for each feature type that is not text (string and category are taken as read).
CASTS: dict[str, Callable[[pa.Array], tuple[pa.Array, list[Failure]]]] = {
    "number": to_float,
    "integer": to_integer,
    "boolean": to_bool,
    "datetime": to_datetime,
}


def _parse_text(text: pa.Array, to: pa.DataType, pattern: str) -> tuple[pa.Array, np.ndarray]:
    """Cast text; on failure, trim, keep what matches `pattern`, and flag the rest."""
    try:
        return pc.cast(text, to), np.zeros(len(text), dtype=bool)
    except pa.ArrowInvalid:
        pass
    text = _trimmed(text)
    matches = pc.fill_null(pc.match_substring_regex(text, pattern), True)
    values, bad = _cast_or_flag(pc.if_else(matches, text, pa.scalar(None, pa.string())), to)
    return values, bad | ~mask(matches)


def _cast_or_flag(values: pa.Array, to: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast, flagging (and nulling) the values that do not convert.

    A failed cast is bisected to find its culprits: cheap when they are few, which the
    regular expressions in front of it ensure (they already removed the gross failures).
    """
    bad = np.zeros(len(values), dtype=bool)
    try:
        return pc.cast(values, to), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass

    def visit(start: int, length: int) -> None:
        try:
            pc.cast(values.slice(start, length), to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if length == 1:
                bad[start] = True
                return
            half = length // 2
            visit(start, half)
            visit(start + half, length - half)

    visit(0, len(values))
    cleaned = pc.if_else(pa.array(bad), pa.scalar(None, values.type), values)
    return pc.cast(cleaned, to), bad


def _integers_as_float(raw: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Integers as float64, and the mask of those beyond ±2^53, where a float64 no longer
    holds every integer (they are null): a Parquet int64 column in a number column."""
    try:
        return pc.cast(raw, pa.float64()), np.zeros(len(raw), dtype=bool)
    except pa.ArrowInvalid:  # Arrow's safe cast refuses them, the whole column with them
        pass
    largest = int(_LARGEST_EXACT_FLOAT_INTEGER)
    beyond = pc.greater(raw, pa.scalar(largest, raw.type))
    if pa.types.is_signed_integer(raw.type):
        beyond = pc.or_(beyond, pc.less(raw, pa.scalar(-largest, raw.type)))
    inexact = mask(beyond)
    kept = pc.if_else(pa.array(inexact), pa.scalar(None, raw.type), raw)
    return pc.cast(kept, pa.float64()), inexact


def _numbers(raw: pa.Array) -> pa.Array:
    """A numeric column as float64 for comparing with 0 and 1: rounding the integers beyond
    2^53 changes no answer (none of them becomes 0 or 1)."""
    return pc.cast(raw, pa.float64(), safe=False)


def _not_convertible(
    raw: pa.Array, to: pa.DataType, reason: str, template: str
) -> tuple[pa.Array, list[Failure]]:
    """A Parquet column of a type that cannot hold these values: every value is a failure."""
    return pa.nulls(len(raw), to), [(~null_mask(raw), reason, template)]


# --- Text ---------------------------------------------------------------------------------


def _plain(values: pa.Array) -> pa.Array:
    """Dictionary-decoded, with large and view strings as plain strings."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = pc.cast(values, pa.string())
    return values


def as_text(values: pa.Array) -> pa.Array:
    """Any column as text (booleans as true/false, numbers as pyarrow writes them)."""
    values = _plain(values)
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_boolean(values.type):
        return pc.if_else(values, "true", "false")
    return pc.cast(values, pa.string())


def _trimmed(text: pa.Array) -> pa.Array:
    """Surrounding whitespace removed; blank cells null."""
    text = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def shown(values: pa.Array | pa.ChunkedArray, index: int) -> str:
    """One cell as the user wrote it, shortened for a message."""
    value = values[int(index)].as_py()
    text = "" if value is None else plain_text(value)
    return text if len(text) <= 60 else text[:57] + "…"


def plain_text(value: object) -> str:
    """A Python value as a user would write it in a file (true, 3 rather than 3.0)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- Masks --------------------------------------------------------------------------------


def not_in(values: pa.Array, allowed: pa.Array) -> np.ndarray:
    """Rows holding a value that is not in `allowed` (empty cells are not flagged)."""
    return mask(pc.invert(pc.is_in(values, value_set=allowed))) & ~null_mask(values)


def mask(condition: pa.Array) -> np.ndarray:
    """A boolean array as numpy, null as False."""
    return pc.fill_null(condition, False).to_numpy(zero_copy_only=False)


def null_mask(values: pa.Array) -> np.ndarray:
    """The empty cells."""
    return values.is_null().to_numpy(zero_copy_only=False)


def blank_mask(text: pa.Array) -> np.ndarray:
    """The empty or all-whitespace cells of a text column."""
    return mask(pc.or_kleene(text.is_null(), pc.equal(pc.utf8_trim_whitespace(text), "")))


def any_failed(failures: list[Failure], length: int) -> np.ndarray:
    """The rows flagged by any of `failures`."""
    bad = np.zeros(length, dtype=bool)
    for failure_mask, _, _ in failures:
        bad |= failure_mask
    return bad
