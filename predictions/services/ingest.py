"""Bulk prediction logging and outcomes (DESIGN.md "Public API", issue 4).

A batch is parsed (JSON with orjson, or CSV), every row is validated in one pass, and only
then written, in one transaction:

- default mode: any bad row refuses the whole batch (`TableRejected`, a 400 listing
  the first bad rows with their row number, field and reason, and the counts per reason);
- partial mode (asked for explicitly): the good rows are written, the bad ones reported.

Idempotency lives in the database: the unique (model_version, request_id) constraint
absorbs re-sent rows, concurrent re-sends included (INSERT … ON CONFLICT DO NOTHING waits
for the other transaction and then skips). Rows are inserted sorted by that key, so two
batches sharing keys take their index locks in the same order and cannot deadlock.

On PostgreSQL the rows are COPY'd into a temporary staging table (kept per connection,
emptied at each commit) and moved with one INSERT … SELECT … ON CONFLICT DO NOTHING; on
SQLite, bulk_create(ignore_conflicts=True).

Data-quality rules are counted on the valid rows (both severities), never refused: these
predictions were already served, and monitoring wants their violation rate, not a gap.

No audit event: a prediction log is data, not a change of state, and serving
infrastructure sends batches continuously; an event per batch would serialise every batch
on the audit chain's lock. Each row keeps its `received_at`, and each batch is logged.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pyarrow as pa
from django.db import connection, transaction
from django.utils import timezone

from predictions.models import Prediction
from registry.services.registering import rule_specs
from tables.casts import to_datetime
from tables.report import Problem, Report, TableRejected
from tables.rules import RuleChecks, RuleSpec
from usecases.models import UseCase

logger = logging.getLogger(__name__)

MAX_ROWS = 100_000
MAX_BODY_BYTES = 128 * 1024**2  # ~1 KB per row at the row limit, with room
MAX_ERRORS = 100  # row errors listed in an answer; every one is counted
MAX_REQUEST_ID = 200
MAX_SEGMENT = 100
SQLITE_BATCH = 500  # rows per INSERT, parameters per IN (…) on SQLite

PREDICTION_FIELDS = frozenset(
    {"version", "request_id", "timestamp", "features", "prediction", "score", "segment"}
)
OUTCOME_FIELDS = frozenset({"request_id", "outcome", "timestamp"})
CSV_PREDICTION_COLUMNS = ("version", "request_id", "timestamp", "prediction", "score", "segment")
CSV_OUTCOME_COLUMNS = ("request_id", "outcome", "timestamp")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


class Mode:
    ALL_OR_NOTHING = "all_or_nothing"
    PARTIAL = "partial"


@dataclass
class _Problems:
    """Row problems: the first MAX_ERRORS kept, every one counted per reason."""

    items: list[Problem] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    bad_rows: int = 0

    def add(self, row: int | None, column: str | None, key: str, message: str) -> None:
        self.counts[key] += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(Problem(row, column, message))

    def as_list(self) -> list[dict]:
        return [_problem_dict(p) for p in self.items]


def _problem_dict(problem: Problem) -> dict:
    item = {"message": problem.message}
    if problem.row is not None:
        item["row"] = problem.row
    if problem.column:
        item["field"] = problem.column
    return item


@dataclass
class IngestResult:
    """What a prediction batch did: how many rows were new, re-sent or refused, and why."""

    mode: str
    rows: int
    inserted: int
    duplicates: int
    rejected: int
    errors: list[dict]
    counts: dict[str, int]
    rule_violations: list[dict]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class OutcomeResult:
    """What an outcome batch did: requests matched, predictions updated, ids unknown."""

    mode: str
    rows: int
    matched: int
    updated_predictions: int
    unknown: int
    unknown_request_ids: list[str]
    duplicates: int
    rejected: int
    errors: list[dict]
    counts: dict[str, int]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# --- Entry points ---------------------------------------------------------------------------


def log_predictions(
    use_case: UseCase,
    *,
    by,
    rows: list | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    partial: bool = False,
) -> IngestResult:
    """Validate a batch of predictions and store the new ones once (idempotent on version and
    request id); with `partial` False any bad row stores nothing (raises TableRejected)."""
    versions = dict(use_case.versions.values_list("version", "pk"))
    if rows is None:
        rows = _parse_body(body or b"", content_type, _csv_prediction_rows(use_case))
    _check_size(rows)
    problems = _Problems()
    valid = _validate_predictions(rows, use_case, versions, problems)
    _refuse_if_needed(len(rows), valid.count, problems, partial)
    violations = _rule_violations(use_case, valid)
    keep = _first_of_each(valid.version_ids, valid.request_ids)
    duplicates_in_batch = valid.count - len(keep)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            inserted = _insert_postgresql(use_case, valid, keep)
        else:
            inserted = _insert_sqlite(use_case, valid, keep)
    result = IngestResult(
        mode=Mode.PARTIAL if partial else Mode.ALL_OR_NOTHING,
        rows=len(rows),
        inserted=inserted,
        duplicates=duplicates_in_batch + len(keep) - inserted,
        rejected=problems.bad_rows,
        errors=problems.as_list(),
        counts=dict(problems.counts),
        rule_violations=violations,
    )
    logger.info(
        "predictions logged for use case %s by user %s: %s rows, %s new, %s duplicates, "
        "%s rejected",
        use_case.pk,
        getattr(by, "pk", None),
        result.rows,
        result.inserted,
        result.duplicates,
        result.rejected,
    )
    return result


def attach_outcomes(
    use_case: UseCase,
    *,
    by,
    rows: list | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    partial: bool = False,
) -> OutcomeResult:
    """Set the outcome (and the error) on every version's prediction of each request id in
    the use case, shadow and production alike; unknown ids are reported, re-sends harmless."""
    if rows is None:
        rows = _parse_body(body or b"", content_type, _csv_outcome_rows(use_case))
    _check_size(rows)
    problems = _Problems()
    outcomes, times, duplicates = _validate_outcomes(rows, use_case, problems)
    _refuse_if_needed(len(rows), len(outcomes) + duplicates, problems, partial)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            matched, updated = _attach_postgresql(use_case, outcomes, times)
        else:
            matched, updated = _attach_sqlite(use_case, outcomes, times)
    unknown = [request_id for request_id in outcomes if request_id not in matched]
    result = OutcomeResult(
        mode=Mode.PARTIAL if partial else Mode.ALL_OR_NOTHING,
        rows=len(rows),
        matched=len(matched),
        updated_predictions=updated,
        unknown=len(unknown),
        unknown_request_ids=unknown[:MAX_ERRORS],
        duplicates=duplicates,
        rejected=problems.bad_rows,
        errors=problems.as_list(),
        counts=dict(problems.counts),
    )
    logger.info(
        "outcomes for use case %s by user %s: %s rows, %s requests matched, %s unknown",
        use_case.pk,
        getattr(by, "pk", None),
        result.rows,
        result.matched,
        result.unknown,
    )
    return result


def outcome_error(task_type: str, prediction, score: float | None, outcome) -> float | None:
    """The error stored with an outcome: |prediction − outcome| (regression), |score −
    outcome| or, without a score, 0/1 (binary), 0/1 (multiclass)."""
    try:
        if task_type == UseCase.TaskType.REGRESSION:
            return abs(float(prediction) - float(outcome))
        if task_type == UseCase.TaskType.BINARY:
            if score is not None:
                return abs(float(score) - float(outcome))
            return float(int(prediction) != int(outcome))
        return float(str(prediction) != str(outcome))
    except (TypeError, ValueError):
        return None


# --- Parsing --------------------------------------------------------------------------------


def _reject(message: str, *, limit: bool = False, field_name: str = "body") -> None:
    problems = [] if limit else [Problem(None, field_name, message)]
    raise TableRejected(message, problems, limit_exceeded=limit)


def _check_size(rows) -> None:
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


def _parse_body(body: bytes, content_type: str, from_csv) -> list:
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
                break  # _check_size reports it
            if len(values) != width:
                if not values:
                    continue  # a blank line
                rows.append(_WrongWidth(len(values), width))
                continue
            rows.append({k: (v if v != "" else None) for k, v in zip(header, values, strict=True)})
    except csv.Error as error:
        _reject(f"The CSV body is malformed at row {len(rows) + 1}: {error}.")
    return rows


@dataclass(frozen=True)
class _WrongWidth:
    found: int
    expected: int


def _csv_prediction_rows(use_case: UseCase):
    schema = [(str(f["name"]), str(f["type"])) for f in use_case.feature_schema]
    names = {name for name, _ in schema}
    known = set(CSV_PREDICTION_COLUMNS) | names

    def convert(body: bytes) -> list:
        rows = _csv_records(body, ("version", "request_id", "timestamp"), known)
        for index, row in enumerate(rows):
            if isinstance(row, _WrongWidth):
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


def _csv_outcome_rows(use_case: UseCase):
    def convert(body: bytes) -> list:
        rows = _csv_records(body, ("request_id", "outcome"), set(CSV_OUTCOME_COLUMNS))
        kind = _PREDICTION_KIND[use_case.task_type]
        for row in rows:
            if not isinstance(row, _WrongWidth):
                row["outcome"] = _from_text(row.get("outcome"), kind)
        return rows

    return convert


_PREDICTION_KIND = {"regression": "number", "binary": "binary", "multiclass": "string"}


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
            if lowered in _TRUE:
                return True if kind == "boolean" else 1
            if lowered in _FALSE:
                return False if kind == "boolean" else 0
            return text
    except ValueError:
        return text
    return text


# --- Validation -----------------------------------------------------------------------------


@dataclass
class _ValidPredictions:
    version_ids: list[int] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    predictions: list = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.request_ids)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_JSON_INT_MIN, _JSON_INT_MAX = -(2**63), 2**64 - 1  # what orjson (the COPY path) can write
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
TIME_RANGE = "from 1970-01-01 to one day from now"
NUL = "\x00"
NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored"


def _is_number(value) -> bool:
    kind = type(value)
    return (kind is float and math.isfinite(value)) or (
        kind is int and _JSON_INT_MIN <= value <= _JSON_INT_MAX
    )


def _is_int64(value) -> bool:
    """An integer (or a float with an integer value) that fits a 64-bit signed integer."""
    kind = type(value)
    if kind is float:
        # float(2**63) == 2**63 exactly, so the bound is compared exactly too.
        return math.isfinite(value) and value.is_integer() and INT64_MIN <= value < 2**63
    return kind is int and INT64_MIN <= value <= INT64_MAX


def _timestamp(value) -> datetime | None:
    """An ISO 8601 time as an aware datetime in UTC (naive ones are UTC); None when it does
    not parse or does not fit a datetime once in UTC (year 1 at +05:00)."""
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _time_in_range(value, latest: datetime) -> tuple[datetime | None, bool]:
    """(time in UTC, or None; whether a refusal is for the range, not the format). Times
    before 1970 or more than a day ahead are refused: PostgreSQL would store a BC
    timestamp, which the listings cannot read back."""
    parsed = _timestamp(value)
    if parsed is None:
        if type(value) is str and _parses_before_utc(value):
            return None, True
        return None, False
    if not EARLIEST <= parsed <= latest:
        return None, True
    return parsed, False


def _parses_before_utc(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True  # it parsed, so converting it to UTC overflowed


def _has_nul(value) -> bool:
    """Whether a NUL character is in a text, or anywhere in a JSON value (keys included)."""
    kind = type(value)
    if kind is str:
        return NUL in value
    if kind is dict:
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return any(_has_nul(v) for v in value)
    return False


def _request_id(value) -> str | None:
    if type(value) is int:
        return str(value)
    if type(value) is str and value.strip() and len(value) <= MAX_REQUEST_ID and NUL not in value:
        return value
    return None


def _shown(value) -> str:
    if isinstance(value, str):
        text = f"“{value}”"
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:  # an integer beyond 64 bits (a service caller's, or CSV's 1e30)
            text = str(value) if isinstance(value, int) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "…"


class _FeatureCheck:
    """Checks one row's features against the use case's feature schema."""

    def __init__(self, schema: list[dict]) -> None:
        self.kinds = {str(f["name"]): str(f["type"]) for f in schema}

    def bad(self, features: dict) -> tuple[str, str, str] | None:
        """(field, key, message) of the first bad feature, or None."""
        kinds = self.kinds
        for name, value in features.items():
            if NUL in name:
                return (
                    "features",
                    "features: contains a NUL character",
                    f"A feature name {NUL_MESSAGE}.",
                )
            if _has_nul(value):
                return (
                    f"features.{name}",
                    "features: contains a NUL character",
                    f"The value of “{name}” {NUL_MESSAGE}.",
                )
            if not kinds:
                continue
            kind = kinds.get(name)
            if kind is None:
                return (
                    f"features.{name}",
                    "features: not in the feature schema",
                    f"“{name}” is not a feature of this use case.",
                )
            if value is None:
                continue
            if kind == "number":
                ok = _is_number(value)
            elif kind == "integer":
                ok = type(value) is int or (type(value) is float and value.is_integer())
                if ok and not _is_int64(value):
                    return (
                        f"features.{name}",
                        f"features.{name}: outside the 64-bit integer range",
                        f"{_shown(value)} is outside the 64-bit integer range (-2^63 to 2^63 - 1).",
                    )
            elif kind in ("string", "category"):
                ok = type(value) is str
            elif kind == "boolean":
                ok = type(value) is bool
            else:  # datetime
                ok = _timestamp(value) is not None
            if not ok:
                article = "an" if kind[0] in "aeiou" else "a"
                return (
                    f"features.{name}",
                    f"features.{name}: not {article} {kind}",
                    f"{_shown(value)} is not {article} {kind}.",
                )
        return None


def _validate_predictions(
    rows: list, use_case: UseCase, versions: dict[str, int], problems: _Problems
) -> _ValidPredictions:
    valid = _ValidPredictions()
    task = use_case.task_type
    threshold = use_case.decision_threshold
    features_check = _FeatureCheck(use_case.feature_schema)
    known = PREDICTION_FIELDS
    latest = timezone.now() + timedelta(days=1)

    for number, row in enumerate(rows, 1):

        def fail(column, key, message, number=number):
            problems.add(number, column, key, message)

        if type(row) is not dict:
            if isinstance(row, _WrongWidth):
                message = f"The row has {row.found} values where the header has {row.expected}."
                fail(None, "rows with the wrong number of values", message)
            else:
                fail(None, "not an object", "The row is not a JSON object.")
            problems.bad_rows += 1
            continue
        errors = 0
        if row.keys() - known:
            extra = ", ".join(sorted(f"“{k}”" for k in row.keys() - known))
            fail(None, "unexpected fields", f"Unexpected field(s) {extra}.")
            errors += 1
        version = row.get("version")
        version_id = versions.get(version if type(version) is str else str(version))
        if version_id is None:
            if version is None:
                fail("version", "version: missing", "The version is missing.")
            else:
                fail(
                    "version",
                    "version: not a version of this use case",
                    f"{_shown(version)} is not a registered version of this use case.",
                )
            errors += 1
        request_id = _request_id(row.get("request_id"))
        if request_id is None:
            raw = row.get("request_id")
            if raw is None or raw == "":
                fail("request_id", "request_id: missing", "The request id is missing.")
            elif type(raw) is str and NUL in raw:
                fail(
                    "request_id",
                    "request_id: contains a NUL character",
                    f"The request id {NUL_MESSAGE}.",
                )
            else:
                fail(
                    "request_id",
                    "request_id: not a text of 1 to 200 characters",
                    f"{_shown(raw)} is not a request id (text of 1 to 200 characters).",
                )
            errors += 1
        predicted_at, out_of_range = _time_in_range(row.get("timestamp"), latest)
        if predicted_at is None:
            raw = row.get("timestamp")
            if raw is None:
                fail("timestamp", "timestamp: missing", "The timestamp is missing.")
            elif out_of_range:
                fail(
                    "timestamp",
                    "timestamp: out of range",
                    f"{_shown(raw)} is out of range: timestamps go {TIME_RANGE}.",
                )
            else:
                fail(
                    "timestamp",
                    "timestamp: not ISO 8601",
                    f"{_shown(raw)} is not an ISO 8601 date and time (2026-03-31T14:05:00Z).",
                )
            errors += 1
        features = row.get("features")
        if features is None:
            features = {}
        if type(features) is not dict:
            fail("features", "features: not an object", "The features must be a JSON object.")
            errors += 1
        else:
            bad = features_check.bad(features)
            if bad is not None:
                fail(*bad)
                errors += 1
        score = row.get("score")
        if score is not None and not (_is_number(score) and 0.0 <= score <= 1.0):
            fail(
                "score",
                "score: not a number between 0 and 1",
                f"{_shown(score)} is not a number between 0 and 1.",
            )
            errors += 1
            score = None
        prediction = row.get("prediction")
        if task == "regression":
            if not _is_number(prediction):
                errors += _bad_prediction(fail, prediction, "a number")
        elif task == "binary":
            if prediction is None and type(score) in (int, float):
                prediction = 1 if score >= threshold else 0
            elif prediction in (0, 1) and type(prediction) in (int, float, bool):
                prediction = int(prediction)
            else:
                errors += _bad_prediction(fail, prediction, "0/1 (or true/false)")
        elif type(prediction) is int and type(prediction) is not bool:
            prediction = str(prediction)
        elif type(prediction) is not str or not prediction.strip():
            errors += _bad_prediction(fail, prediction, "a class name")
        elif NUL in prediction:
            fail(
                "prediction",
                "prediction: contains a NUL character",
                f"The prediction {NUL_MESSAGE}.",
            )
            errors += 1
        segment = row.get("segment")
        if segment is None:
            segment = ""
        elif type(segment) is not str or len(segment) > MAX_SEGMENT:
            fail(
                "segment",
                "segment: not a text of up to 100 characters",
                f"{_shown(segment)} is not a segment (text of up to 100 characters).",
            )
            errors += 1
        elif NUL in segment:
            fail("segment", "segment: contains a NUL character", f"The segment {NUL_MESSAGE}.")
            errors += 1
        if errors:
            problems.bad_rows += 1
            continue
        valid.version_ids.append(version_id)
        valid.request_ids.append(request_id)
        valid.times.append(predicted_at)
        valid.features.append(features)
        valid.predictions.append(prediction)
        valid.scores.append(None if score is None else float(score))
        valid.segments.append(segment)
    return valid


def _bad_prediction(fail, prediction, expected: str) -> int:
    if prediction is None:
        fail("prediction", "prediction: missing", "The prediction is missing.")
    else:
        fail(
            "prediction",
            f"prediction: not {expected}",
            f"{_shown(prediction)} is not {expected}, as this use case's task type needs.",
        )
    return 1


def _validate_outcomes(
    rows: list, use_case: UseCase, problems: _Problems
) -> tuple[dict[str, object], dict[str, datetime], int]:
    """{request id: outcome} and {request id: time} of the valid rows (the first of a
    repeated id wins; repeats are counted)."""
    task = use_case.task_type
    outcomes: dict[str, object] = {}
    times: dict[str, datetime] = {}
    duplicates = 0
    now = timezone.now()
    latest = now + timedelta(days=1)
    for number, row in enumerate(rows, 1):

        def fail(column, key, message, number=number):
            problems.add(number, column, key, message)

        if type(row) is not dict:
            if isinstance(row, _WrongWidth):
                message = f"The row has {row.found} values where the header has {row.expected}."
                fail(None, "rows with the wrong number of values", message)
            else:
                fail(None, "not an object", "The row is not a JSON object.")
            problems.bad_rows += 1
            continue
        errors = 0
        if row.keys() - OUTCOME_FIELDS:
            extra = ", ".join(sorted(f"“{k}”" for k in row.keys() - OUTCOME_FIELDS))
            fail(None, "unexpected fields", f"Unexpected field(s) {extra}.")
            errors += 1
        request_id = _request_id(row.get("request_id"))
        if request_id is None:
            raw = row.get("request_id")
            if type(raw) is str and NUL in raw:
                fail(
                    "request_id",
                    "request_id: contains a NUL character",
                    f"The request id {NUL_MESSAGE}.",
                )
            else:
                fail("request_id", "request_id: missing", "The request id is missing or not text.")
            errors += 1
        outcome = row.get("outcome")
        if task == "regression":
            ok = _is_number(outcome)
            expected = "a number"
        elif task == "binary":
            ok = outcome in (0, 1) and type(outcome) in (int, float, bool)
            outcome = int(outcome) if ok else outcome
            expected = "0/1 (or true/false)"
        else:
            if type(outcome) is int:
                outcome = str(outcome)
            ok = type(outcome) is str and bool(outcome.strip()) and NUL not in outcome
            expected = "a class name"
        if not ok:
            if type(outcome) is str and NUL in outcome:
                fail("outcome", "outcome: contains a NUL character", f"The outcome {NUL_MESSAGE}.")
            elif outcome is None:
                fail("outcome", "outcome: missing", "The outcome is missing.")
            else:
                fail(
                    "outcome",
                    f"outcome: not {expected}",
                    f"{_shown(outcome)} is not {expected}, as this use case's task type needs.",
                )
            errors += 1
        observed_at = now
        if row.get("timestamp") is not None:
            observed_at, out_of_range = _time_in_range(row["timestamp"], latest)
            if out_of_range:
                fail(
                    "timestamp",
                    "timestamp: out of range",
                    f"{_shown(row['timestamp'])} is out of range: timestamps go {TIME_RANGE}.",
                )
                errors += 1
            elif observed_at is None:
                fail(
                    "timestamp",
                    "timestamp: not ISO 8601",
                    f"{_shown(row['timestamp'])} is not an ISO 8601 date and time.",
                )
                errors += 1
        if errors:
            problems.bad_rows += 1
            continue
        if request_id in outcomes:
            duplicates += 1
            continue
        outcomes[request_id] = outcome
        times[request_id] = observed_at
    return outcomes, times, duplicates


def _refuse_if_needed(rows: int, valid: int, problems: _Problems, partial: bool) -> None:
    """Default mode: any bad row refuses the batch. Partial: only a batch with no good row."""
    if not problems.bad_rows:
        return
    bad = problems.bad_rows
    plural = "" if bad == 1 else "s"
    if not partial:
        message = (
            f"{bad:,} bad row{plural} of {rows:,}: nothing was stored. Fix them, or send "
            "?partial=true to store only the good rows."
        )
    elif valid == 0:
        message = f"All {rows:,} rows are bad: nothing was stored."
    else:
        return
    raise TableRejected(message, problems.items, dict(problems.counts))


def _first_of_each(version_ids: list[int], request_ids: list[str]) -> list[int]:
    """Indices of the first row of each (version, request id) in the batch."""
    seen: dict[tuple[int, str], int] = {}
    for index, key in enumerate(zip(version_ids, request_ids, strict=True)):
        seen.setdefault(key, index)
    if len(seen) == len(request_ids):
        return list(range(len(request_ids)))
    return sorted(seen.values())


# --- Data-quality rules ---------------------------------------------------------------------

_ARROW_TYPES = {
    "number": pa.float64(),
    "integer": pa.int64(),
    "string": pa.string(),
    "category": pa.string(),
    "boolean": pa.bool_(),
}


def _rule_violations(use_case: UseCase, valid: _ValidPredictions) -> list[dict]:
    """Each rule's violations among the valid rows (counted, never refused). Column by
    column: a column that cannot be built or checked (values beyond what Arrow takes)
    leaves its rules unchecked, not the batch refused."""
    rules = rule_specs(use_case)
    if not rules or not valid.count:
        return []
    kinds = {str(f["name"]): str(f["type"]) for f in use_case.feature_schema}
    by_field: dict[str, list[RuleSpec]] = {}
    for rule in rules:
        by_field.setdefault(rule.field, []).append(rule)
    summaries: dict[object, dict] = {}
    for name, field_rules in by_field.items():
        try:
            array = _rule_column(use_case, valid, kinds, name)
            checks = _check_column(field_rules, name, array, valid.count)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            logger.warning(
                "data-quality rules on %s of use case %s not checked: the column does not convert",
                name,
                use_case.pk,
            )
            checks = RuleChecks(field_rules, pa.schema([]))
        for item in checks.summary():
            summaries[item["rule"]] = item
    return [summaries[rule.id] for rule in rules]


def _rule_column(
    use_case: UseCase, valid: _ValidPredictions, kinds: dict[str, str], name: str
) -> pa.Array | None:
    if name in kinds:
        values = [features.get(name) for features in valid.features]
        kind = kinds[name]
        if kind == "datetime":
            return to_datetime(pa.array(values, pa.string()))[0]
        if kind == "number":  # ints past 2^53 convert with float(), not with Arrow
            values = [v if v is None or type(v) is float else float(v) for v in values]
        elif kind == "integer":  # 3.0 is the integer 3
            values = [v if v is None or type(v) is int else int(v) for v in values]
        return pa.array(values, _ARROW_TYPES[kind])
    if name == "segment":
        return pa.array([s or None for s in valid.segments], pa.string())
    if name == "score":
        return pa.array(valid.scores, pa.float64())
    if name == "prediction" and use_case.task_type == "regression":
        return pa.array([float(p) for p in valid.predictions], pa.float64())
    if name == "prediction":
        return pa.array([str(p) for p in valid.predictions], pa.string())
    return None


def _check_column(
    rules: list[RuleSpec], name: str, array: pa.Array | None, count: int
) -> RuleChecks:
    if array is None:
        return RuleChecks(rules, pa.schema([]))
    checks = RuleChecks(rules, pa.schema([(name, array.type)]))
    nulls = {name: np.asarray(array.is_null().to_numpy(zero_copy_only=False))}
    report = Report()
    checks.check_batch(0, {name: array}, nulls, report)
    checks.check_file(count, report)
    return checks


# --- Writing --------------------------------------------------------------------------------

_STAGING = "reviews_prediction_staging"
_STAGING_DDL = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (
    model_version_id bigint NOT NULL,
    request_id text NOT NULL,
    predicted_at timestamptz NOT NULL,
    features jsonb NOT NULL,
    prediction jsonb NOT NULL,
    score double precision,
    segment text NOT NULL,
    confidence double precision,
    random_key double precision NOT NULL
) ON COMMIT DELETE ROWS
"""
_STAGING_COLUMNS = (
    "model_version_id, request_id, predicted_at, features, prediction, score, segment, "
    "confidence, random_key"
)
# Sorted by the unique key, so concurrent batches take its index locks in one order.
_MOVE = f"""
INSERT INTO reviews_prediction (
    use_case_id, {_STAGING_COLUMNS}, received_at
)
SELECT %s, {_STAGING_COLUMNS}, now() FROM {_STAGING}
ORDER BY model_version_id, request_id COLLATE "C"
ON CONFLICT (model_version_id, request_id) DO NOTHING
"""


# Outcomes already known for the batch's request ids (attached to another version's
# prediction before this one came in): (version id, request id, outcome, outcome_at). Run
# before the rows are moved, so a new request id's probe of the (use_case, request_id)
# index finds nothing and costs next to nothing; usually the answer is empty. No ORDER BY:
# attach_outcomes sets a request's outcome on all its predictions alike, and an ORDER BY …
# id DESC LIMIT 1 lets the planner walk the primary key backwards through the whole table
# (seen: minutes per batch on 10,000,000 rows) instead of probing the request index.
_KNOWN_OUTCOMES = f"""
SELECT s.model_version_id, s.request_id, known.outcome, known.outcome_at
FROM {_STAGING} AS s
CROSS JOIN LATERAL (
    SELECT o.outcome, o.outcome_at FROM reviews_prediction AS o
    WHERE o.use_case_id = %s AND o.request_id = s.request_id AND o.outcome IS NOT NULL
    LIMIT 1
) AS known
"""


def _confidences(task: str, predictions: list, scores: list) -> list[float | None]:
    if task == "binary":
        return [None if s is None else max(s, 1.0 - s) for s in scores]
    if task == "multiclass":
        return scores
    return [None] * len(scores)


def _insert_postgresql(use_case: UseCase, valid: _ValidPredictions, keep: list[int]) -> int:
    """COPY the rows into the staging table, then one INSERT … SELECT … ON CONFLICT."""
    random_keys = np.random.default_rng().random(len(keep)).tolist()
    confidences = _confidences(use_case.task_type, valid.predictions, valid.scores)
    dumps = orjson.dumps
    with connection.cursor() as cursor:
        cursor.execute(_STAGING_DDL)
        cursor.execute(f"DELETE FROM {_STAGING}")  # a second batch in the same transaction
        with cursor.cursor.copy(f"COPY {_STAGING} ({_STAGING_COLUMNS}) FROM STDIN") as copy:
            write = copy.write_row
            for position, index in enumerate(keep):
                write(
                    (
                        valid.version_ids[index],
                        valid.request_ids[index],
                        valid.times[index],
                        dumps(valid.features[index]).decode(),
                        dumps(valid.predictions[index]).decode(),
                        valid.scores[index],
                        valid.segments[index],
                        confidences[index],
                        random_keys[position],
                    )
                )
        cursor.execute(_KNOWN_OUTCOMES, [use_case.pk])
        known = cursor.fetchall()
        cursor.execute(_MOVE, [use_case.pk])
        inserted = cursor.rowcount
        if known and inserted:
            _late_outcomes_postgresql(cursor, use_case, known)
        return inserted


def _late_outcomes_postgresql(cursor, use_case: UseCase, known: list[tuple]) -> None:
    """The batch's new predictions whose request id already had an outcome get it, as
    attach_outcomes sets it (re-sent rows keep theirs)."""
    outcomes = {(version_id, request_id): (o, at) for version_id, request_id, o, at in known}
    cursor.execute(
        "SELECT p.id, p.model_version_id, p.request_id, p.prediction, p.score "
        "FROM reviews_prediction AS p JOIN unnest(%s::bigint[], %s::text[]) AS k(v, r) "
        "ON p.model_version_id = k.v AND p.request_id = k.r "
        "WHERE p.outcome IS NULL ORDER BY p.id",
        [[key[0] for key in outcomes], [key[1] for key in outcomes]],
    )
    rows = [
        (pk, prediction, score, *outcomes[(version_id, request_id)])
        for pk, version_id, request_id, prediction, score in cursor.fetchall()
    ]
    if rows:
        _write_outcomes_postgresql(cursor, use_case.task_type, rows)


def _insert_sqlite(use_case: UseCase, valid: _ValidPredictions, keep: list[int]) -> int:
    """bulk_create(ignore_conflicts=True); the count of new rows from before and after (the
    IMMEDIATE transaction holds SQLite's write lock, so nobody else inserts meanwhile)."""
    random_keys = np.random.default_rng().random(len(keep)).tolist()
    confidences = _confidences(use_case.task_type, valid.predictions, valid.scores)
    objects = [
        Prediction(
            use_case_id=use_case.pk,
            model_version_id=valid.version_ids[index],
            request_id=valid.request_ids[index],
            predicted_at=valid.times[index],
            features=valid.features[index],
            prediction=valid.predictions[index],
            score=valid.scores[index],
            segment=valid.segments[index],
            confidence=confidences[index],
            random_key=random_keys[position],
        )
        for position, index in enumerate(keep)
    ]
    logged = Prediction.objects.filter(use_case=use_case)
    before = logged.count()
    Prediction.objects.bulk_create(objects, batch_size=SQLITE_BATCH, ignore_conflicts=True)
    inserted = logged.count() - before
    if inserted:
        _late_outcomes_sqlite(use_case, {(o.model_version_id, o.request_id) for o in objects})
    return inserted


def _late_outcomes_sqlite(use_case: UseCase, keys: set[tuple[int, str]]) -> None:
    """The batch's predictions still without an outcome whose request id has one on another
    version's prediction get it, as attach_outcomes would have set it."""
    request_ids = sorted({request_id for _, request_id in keys})
    for start in range(0, len(request_ids), SQLITE_BATCH):
        chunk = request_ids[start : start + SQLITE_BATCH]
        known: dict[str, tuple[object, datetime]] = {}
        waiting = []
        for prediction in (
            Prediction.objects.filter(use_case=use_case, request_id__in=chunk)
            .only(
                "id",
                "model_version_id",
                "request_id",
                "prediction",
                "score",
                "outcome",
                "outcome_at",
            )
            .order_by("outcome_at", "id")
        ):
            if prediction.outcome is not None:
                known[prediction.request_id] = (prediction.outcome, prediction.outcome_at)
            elif (prediction.model_version_id, prediction.request_id) in keys:
                waiting.append(prediction)
        late = [p for p in waiting if p.request_id in known]
        if late:
            outcomes = {request_id: value for request_id, (value, _) in known.items()}
            times = {request_id: at for request_id, (_, at) in known.items()}
            _write_outcomes_sqlite(use_case.task_type, late, outcomes, times)


_OUTCOME_STAGING = "reviews_outcome_staging"
_OUTCOME_DDL = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_OUTCOME_STAGING} (
    id bigint NOT NULL,
    outcome jsonb NOT NULL,
    outcome_at timestamptz NOT NULL,
    error double precision
) ON COMMIT DELETE ROWS
"""


def _attach_postgresql(
    use_case: UseCase, outcomes: dict[str, object], times: dict[str, datetime]
) -> tuple[set[str], int]:
    """Lock the predictions in id order (two batches cannot deadlock), compute each error,
    COPY (id, outcome, time, error) into staging, and one UPDATE … FROM."""
    task = use_case.task_type
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, request_id, prediction, score FROM reviews_prediction "
            "WHERE use_case_id = %s AND request_id = ANY(%s) ORDER BY id FOR UPDATE",
            [use_case.pk, list(outcomes)],
        )
        found = cursor.fetchall()
        if not found:
            return set(), 0
        rows = [
            (pk, prediction, score, outcomes[request_id], times[request_id])
            for pk, request_id, prediction, score in found
        ]
        updated = _write_outcomes_postgresql(cursor, task, rows)
        return {row[1] for row in found}, updated


def _write_outcomes_postgresql(cursor, task: str, rows: list[tuple]) -> int:
    """Set (id, prediction, score, outcome, outcome_at) rows' outcome, time and error: COPY
    into staging, one UPDATE … FROM. Used by attach_outcomes and for late predictions."""
    cursor.execute(_OUTCOME_DDL)
    cursor.execute(f"DELETE FROM {_OUTCOME_STAGING}")
    dumps = orjson.dumps
    columns = "id, outcome, outcome_at, error"
    with cursor.cursor.copy(f"COPY {_OUTCOME_STAGING} ({columns}) FROM STDIN") as copy:
        for pk, prediction, score, outcome, outcome_at in rows:
            outcome = _json(outcome)
            error = outcome_error(task, _json(prediction), score, outcome)
            copy.write_row((pk, dumps(outcome).decode(), outcome_at, error))
    cursor.execute(
        f"UPDATE reviews_prediction AS p SET outcome = s.outcome, "
        f"outcome_at = s.outcome_at, error = s.error FROM {_OUTCOME_STAGING} AS s "
        f"WHERE p.id = s.id"
    )
    return cursor.rowcount


def _json(value):
    """A jsonb value as psycopg returns it from a raw cursor (already decoded)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _attach_sqlite(
    use_case: UseCase, outcomes: dict[str, object], times: dict[str, datetime]
) -> tuple[set[str], int]:
    task = use_case.task_type
    request_ids = list(outcomes)
    matched: set[str] = set()
    updated = 0
    for start in range(0, len(request_ids), SQLITE_BATCH):
        chunk = request_ids[start : start + SQLITE_BATCH]
        predictions = list(
            Prediction.objects.filter(use_case=use_case, request_id__in=chunk).only(
                "id", "request_id", "prediction", "score"
            )
        )
        _write_outcomes_sqlite(task, predictions, outcomes, times)
        matched.update(prediction.request_id for prediction in predictions)
        updated += len(predictions)
    return matched, updated


def _write_outcomes_sqlite(
    task: str, predictions: list, outcomes: dict[str, object], times: dict[str, datetime]
) -> None:
    """Set each prediction's outcome, time and error from its request id; one bulk_update.
    Used by attach_outcomes and for late predictions."""
    for prediction in predictions:
        outcome = outcomes[prediction.request_id]
        prediction.outcome = outcome
        prediction.outcome_at = times[prediction.request_id]
        prediction.error = outcome_error(task, prediction.prediction, prediction.score, outcome)
    Prediction.objects.bulk_update(predictions, ["outcome", "outcome_at", "error"])
