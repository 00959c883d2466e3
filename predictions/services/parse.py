"""Request bodies into rows: JSON (orjson) or CSV, and the size limits of a batch.

A JSON body becomes its decoded value (the validator judges each row). A CSV body becomes
one dict per line, {column: value or None}, each cell converted to the type it stands for
(feature schema, task type); a line of the wrong width becomes a `WrongWidth`, which the
validator reports as a bad row. Anything that leaves no rows to judge (too big, not JSON,
a bad CSV header) raises `TableRejected` for the whole body.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from tables.casts import FALSE_TOKENS, TRUE_TOKENS
from tables.report import Problem, TableRejected
from usecases.models import UseCase

MAX_ROWS = 100_000
MAX_BODY_BYTES = 128 * 1024**2  # ~1 KB per row at the row limit, with room

CSV_PREDICTION_COLUMNS = ("version", "request_id", "timestamp", "prediction", "score", "segment")
CSV_OUTCOME_COLUMNS = ("request_id", "outcome", "timestamp")
_PREDICTION_KIND = {"regression": "number", "binary": "binary", "multiclass": "string"}


@dataclass(frozen=True)
class WrongWidth:
    """A CSV line with `found` values where the header has `expected`."""

    found: int
    expected: int


def _reject(message: str, *, limit: bool = False, field_name: str = "body") -> None:
    problems = [] if limit else [Problem(None, field_name, message)]
    raise TableRejected(message, problems, limit_exceeded=limit)


def check_size(rows) -> None:
    """Refuse a batch that is not a list, is empty, or has more than MAX_ROWS rows."""
    if not isinstance(rows, list):
        _reject("The body must be a JSON array of rows (objects).")
    if not rows:
        _reject("The batch has no rows.")
    if len(rows) > MAX_ROWS:
        _reject(
            f"The batch has {len(rows):,} rows, more than the limit of {MAX_ROWS:,}: "
            "nothing was stored. Send it in smaller batches.",
            limit=True,
        )


def parse_body(body: bytes, content_type: str, from_csv: Callable[[bytes], list]) -> list:
    """The rows of a JSON body, or of a CSV one (text/csv) through `from_csv`."""
    if len(body) > MAX_BODY_BYTES:
        _reject(
            f"The body is larger than {MAX_BODY_BYTES // 1024**2} MB: nothing was stored. "
            "Send it in smaller batches.",
            limit=True,
        )
    if not body.strip():
        _reject("The batch has no rows.")
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "text/csv":
        return from_csv(body)
    try:
        rows = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        _reject(f"The body is not valid JSON: {error}.")
    return rows


def _csv_lines(body: bytes) -> tuple[list[str], Iterable[list[str]]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        _reject("The CSV body is not UTF-8 text: nothing was stored.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        _reject("The batch has no rows.")
    except csv.Error as error:
        _reject(f"The CSV header could not be read: {error}.")
    header = [name.strip() for name in header]
    return header, reader


def _csv_records(body: bytes, required: tuple[str, ...], known: set[str]) -> list[dict]:
    """CSV rows as {column: text or None}; a row of the wrong width is kept as a bad row."""
    header, reader = _csv_lines(body)
    missing = [name for name in required if name not in header]
    extra = [name for name in header if name not in known]
    repeated = sorted({name for name in header if header.count(name) > 1})
    for names, what in ((missing, "lacks"), (extra, "has unexpected"), (repeated, "repeats")):
        if names:
            listed = ", ".join(f"“{name}”" for name in names)
            expected = ", ".join(sorted(known))
            _reject(
                f"The CSV header {what} column(s) {listed} (columns: {expected}): "
                "nothing was stored."
            )
    rows: list = []
    width = len(header)
    try:
        for values in reader:
            if len(rows) > MAX_ROWS:
                break  # check_size reports it
            if len(values) != width:
                if not values:
                    continue  # a blank line
                rows.append(WrongWidth(len(values), width))
                continue
            rows.append({k: (v if v != "" else None) for k, v in zip(header, values, strict=True)})
    except csv.Error as error:
        _reject(f"The CSV body is malformed at row {len(rows) + 1}: {error}.")
    return rows


def csv_prediction_rows(use_case: UseCase) -> Callable[[bytes], list]:
    """A CSV body's prediction rows, features gathered into `features` and typed by the
    use case's feature schema, prediction and score typed by its task."""
    schema = [(str(f["name"]), str(f["type"])) for f in use_case.feature_schema]
    names = {name for name, _ in schema}
    known = set(CSV_PREDICTION_COLUMNS) | names

    def convert(body: bytes) -> list:
        rows = _csv_records(body, ("version", "request_id", "timestamp"), known)
        for index, row in enumerate(rows):
            if isinstance(row, WrongWidth):
                continue
            features = {}
            for name, kind in schema:
                if name in row:
                    features[name] = _from_text(row.pop(name), kind)
            row["features"] = features
            row["prediction"] = _from_text(
                row.get("prediction"), _PREDICTION_KIND[use_case.task_type]
            )
            row["score"] = _from_text(row.get("score"), "number")
            rows[index] = row
        return rows

    return convert


def csv_outcome_rows(use_case: UseCase) -> Callable[[bytes], list]:
    """A CSV body's outcome rows, the outcome typed by the use case's task."""

    def convert(body: bytes) -> list:
        rows = _csv_records(body, ("request_id", "outcome"), set(CSV_OUTCOME_COLUMNS))
        kind = _PREDICTION_KIND[use_case.task_type]
        for row in rows:
            if not isinstance(row, WrongWidth):
                row["outcome"] = _from_text(row.get("outcome"), kind)
        return rows

    return convert


def _from_text(text: str | None, kind: str):
    """A CSV cell in the type it stands for; left as text when it does not convert (the
    validator then names it), None when empty."""
    if text is None:
        return None
    value = text.strip()
    try:
        if kind == "number":
            return float(value)
        if kind == "integer":
            number = float(value)
            return int(number) if number.is_integer() else number
        if kind == "boolean" or kind == "binary":
            lowered = value.lower()
            if lowered in TRUE_TOKENS:
                return True if kind == "boolean" else 1
            if lowered in FALSE_TOKENS:
                return False if kind == "boolean" else 0
            return text
    except ValueError:
        return text
    return text
