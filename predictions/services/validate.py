"""Row by row validation of predictions and outcomes.

Every row is judged in one pass: each problem is recorded under the row's number (1-based),
its field and a reason (`Problems`: the first MAX_ERRORS kept, every one counted), and the
good rows are gathered for the store (`ValidPredictions`, or {request id: outcome}).
`refuse_if_needed` then applies the batch's mode.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from django.utils import timezone

from portal.parsers import MAX_DEPTH
from portal.text import NUL_MESSAGE, json_value_problem
from predictions.services.parse import WrongWidth
from tables.report import Problem, TableRejected
from usecases.models import UseCase

MAX_ERRORS = 100  # row errors listed in an answer; every one is counted
MAX_REQUEST_ID = 200
MAX_SEGMENT = 100

PREDICTION_FIELDS = frozenset(
    {"version", "request_id", "timestamp", "features", "prediction", "score", "segment"}
)
OUTCOME_FIELDS = frozenset({"request_id", "outcome", "timestamp"})

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_JSON_INT_MIN, _JSON_INT_MAX = -(2**63), 2**64 - 1  # what orjson (the COPY path) can write
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
TIME_RANGE = "from 1970-01-01 to one day from now"
NUL = "\x00"
# A feature's value sits inside the batch, its row and the features object: with it, the
# body nests no deeper than the API's JSON limit (portal.parsers.MAX_DEPTH).
FEATURE_VALUE_DEPTH = MAX_DEPTH - 3


@dataclass
class Problems:
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
class ValidPredictions:
    """The valid prediction rows, column by column, in batch order."""

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


# --- Values ---------------------------------------------------------------------------------


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


def _is_scalar(value) -> bool:
    return type(value) in (int, float, bool)


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


def _unstorable_feature(name: str, value) -> tuple[str, str, str] | None:
    """(field, key, message) when a feature's value cannot be stored (a NUL, nested too
    deep…), else None. JSON values are walked iteratively (portal.text): features nested
    600 deep must not exhaust the stack."""
    kind = type(value)
    if kind is str:
        problem = "nul" if NUL in value else None
    elif kind is dict or kind is list:
        found = json_value_problem(value, max_depth=FEATURE_VALUE_DEPTH)
        problem = None if found is None else found.code
    else:
        return None
    if problem is None:
        return None
    field_name = f"features.{name}"
    if problem == "nul":
        message = f"The value of “{name}” {NUL_MESSAGE}."
        return field_name, "features: contains a NUL character", message
    if problem == "too_deep":
        message = f"The value of “{name}” is nested more than {FEATURE_VALUE_DEPTH} levels deep."
        return field_name, "features: nested too deep", message
    message = f"The value of “{name}”: {found.message}"
    return field_name, "features: cannot be stored", message


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
            unstorable = _unstorable_feature(name, value)
            if unstorable is not None:
                return unstorable
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


# --- Rows -----------------------------------------------------------------------------------


@dataclass
class _RowCheck:
    """One row's problems: each is recorded under the row's number and counted here."""

    problems: Problems
    number: int
    errors: int = 0

    def fail(self, column: str | None, key: str, message: str) -> None:
        self.problems.add(self.number, column, key, message)
        self.errors += 1


def _object_rows(
    rows: list, known: frozenset[str], problems: Problems
) -> Iterator[tuple[dict, _RowCheck]]:
    """(row, check) for each row that is an object, unexpected fields already recorded on
    its check; any other row is recorded as bad and skipped. The caller counts a row with
    errors as bad once its fields are checked."""
    for number, row in enumerate(rows, 1):
        check = _RowCheck(problems, number)
        if type(row) is not dict:
            if isinstance(row, WrongWidth):
                message = f"The row has {row.found} values where the header has {row.expected}."
                check.fail(None, "rows with the wrong number of values", message)
            else:
                check.fail(None, "not an object", "The row is not a JSON object.")
            problems.bad_rows += 1
            continue
        if row.keys() - known:
            extra = ", ".join(sorted(f"“{k}”" for k in row.keys() - known))
            check.fail(None, "unexpected fields", f"Unexpected field(s) {extra}.")
        yield row, check


def validate_predictions(
    rows: list, use_case: UseCase, versions: dict[str, int], problems: Problems
) -> ValidPredictions:
    """The valid rows of a prediction batch; each bad one's problems go to `problems`."""
    valid = ValidPredictions()
    task = use_case.task_type
    threshold = use_case.decision_threshold
    features_check = _FeatureCheck(use_case.feature_schema)
    latest = timezone.now() + timedelta(days=1)

    for row, check in _object_rows(rows, PREDICTION_FIELDS, problems):
        version_id = _version_id(row.get("version"), versions, check)
        request_id = _prediction_request_id(row.get("request_id"), check)
        predicted_at = _predicted_at(row.get("timestamp"), latest, check)
        features = _features(row.get("features"), features_check, check)
        score = _score(row.get("score"), check)
        prediction = _prediction(row.get("prediction"), score, task, threshold, check)
        segment = _segment(row.get("segment"), check)
        if check.errors:
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


def _version_id(version, versions: dict[str, int], check: _RowCheck) -> int | None:
    # str() of a list or object would recurse through it (and names no version anyway).
    name = version if type(version) is str else str(version) if _is_scalar(version) else None
    version_id = versions.get(name)
    if version_id is None:
        if version is None:
            check.fail("version", "version: missing", "The version is missing.")
        else:
            check.fail(
                "version",
                "version: not a version of this use case",
                f"{_shown(version)} is not a registered version of this use case.",
            )
    return version_id


def _prediction_request_id(raw, check: _RowCheck) -> str | None:
    request_id = _request_id(raw)
    if request_id is None:
        if raw is None or raw == "":
            check.fail("request_id", "request_id: missing", "The request id is missing.")
        elif type(raw) is str and NUL in raw:
            check.fail(
                "request_id",
                "request_id: contains a NUL character",
                f"The request id {NUL_MESSAGE}.",
            )
        else:
            check.fail(
                "request_id",
                "request_id: not a text of 1 to 200 characters",
                f"{_shown(raw)} is not a request id (text of 1 to 200 characters).",
            )
    return request_id


def _predicted_at(raw, latest: datetime, check: _RowCheck) -> datetime | None:
    predicted_at, out_of_range = _time_in_range(raw, latest)
    if predicted_at is None:
        if raw is None:
            check.fail("timestamp", "timestamp: missing", "The timestamp is missing.")
        elif out_of_range:
            check.fail(
                "timestamp",
                "timestamp: out of range",
                f"{_shown(raw)} is out of range: timestamps go {TIME_RANGE}.",
            )
        else:
            check.fail(
                "timestamp",
                "timestamp: not ISO 8601",
                f"{_shown(raw)} is not an ISO 8601 date and time (2026-03-31T14:05:00Z).",
            )
    return predicted_at


def _features(features, features_check: _FeatureCheck, check: _RowCheck):
    if features is None:
        features = {}
    if type(features) is not dict:
        check.fail("features", "features: not an object", "The features must be a JSON object.")
    else:
        bad = features_check.bad(features)
        if bad is not None:
            check.fail(*bad)
    return features


def _score(score, check: _RowCheck):
    """The score, or None when it is missing or bad (a bad one is recorded)."""
    if score is not None and not (_is_number(score) and 0.0 <= score <= 1.0):
        check.fail(
            "score",
            "score: not a number between 0 and 1",
            f"{_shown(score)} is not a number between 0 and 1.",
        )
        return None
    return score


def _prediction(prediction, score, task: str, threshold: float, check: _RowCheck):
    """The prediction as stored: 0/1 for binary (from the score and the decision threshold
    when missing), a class name's text for multiclass."""
    if task == "regression":
        if not _is_number(prediction):
            _bad_prediction(check, prediction, "a number")
    elif task == "binary":
        if prediction is None and type(score) in (int, float):
            prediction = 1 if score >= threshold else 0
        elif prediction in (0, 1) and type(prediction) in (int, float, bool):
            prediction = int(prediction)
        else:
            _bad_prediction(check, prediction, "0/1 (or true/false)")
    elif type(prediction) is int and type(prediction) is not bool:
        prediction = str(prediction)
    elif type(prediction) is not str or not prediction.strip():
        _bad_prediction(check, prediction, "a class name")
    elif NUL in prediction:
        check.fail(
            "prediction",
            "prediction: contains a NUL character",
            f"The prediction {NUL_MESSAGE}.",
        )
    return prediction


def _bad_prediction(check: _RowCheck, prediction, expected: str) -> None:
    if prediction is None:
        check.fail("prediction", "prediction: missing", "The prediction is missing.")
    else:
        check.fail(
            "prediction",
            f"prediction: not {expected}",
            f"{_shown(prediction)} is not {expected}, as this use case's task type needs.",
        )


def _segment(segment, check: _RowCheck):
    if segment is None:
        segment = ""
    elif type(segment) is not str or len(segment) > MAX_SEGMENT:
        check.fail(
            "segment",
            "segment: not a text of up to 100 characters",
            f"{_shown(segment)} is not a segment (text of up to 100 characters).",
        )
    elif NUL in segment:
        check.fail("segment", "segment: contains a NUL character", f"The segment {NUL_MESSAGE}.")
    return segment


def validate_outcomes(
    rows: list, use_case: UseCase, problems: Problems
) -> tuple[dict[str, object], dict[str, datetime], int]:
    """{request id: outcome} and {request id: time} of the valid rows (the first of a
    repeated id wins; repeats are counted)."""
    task = use_case.task_type
    outcomes: dict[str, object] = {}
    times: dict[str, datetime] = {}
    duplicates = 0
    now = timezone.now()
    latest = now + timedelta(days=1)
    for row, check in _object_rows(rows, OUTCOME_FIELDS, problems):
        request_id = _outcome_request_id(row.get("request_id"), check)
        outcome = _outcome(row.get("outcome"), task, check)
        observed_at = _observed_at(row.get("timestamp"), now, latest, check)
        if check.errors:
            problems.bad_rows += 1
            continue
        if request_id in outcomes:
            duplicates += 1
            continue
        outcomes[request_id] = outcome
        times[request_id] = observed_at
    return outcomes, times, duplicates


def _outcome_request_id(raw, check: _RowCheck) -> str | None:
    request_id = _request_id(raw)
    if request_id is None:
        if type(raw) is str and NUL in raw:
            check.fail(
                "request_id",
                "request_id: contains a NUL character",
                f"The request id {NUL_MESSAGE}.",
            )
        else:
            check.fail(
                "request_id", "request_id: missing", "The request id is missing or not text."
            )
    return request_id


def _outcome(outcome, task: str, check: _RowCheck):
    """The outcome as stored: 0/1 for binary, a class name's text for multiclass."""
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
            check.fail(
                "outcome", "outcome: contains a NUL character", f"The outcome {NUL_MESSAGE}."
            )
        elif outcome is None:
            check.fail("outcome", "outcome: missing", "The outcome is missing.")
        else:
            check.fail(
                "outcome",
                f"outcome: not {expected}",
                f"{_shown(outcome)} is not {expected}, as this use case's task type needs.",
            )
    return outcome


def _observed_at(raw, now: datetime, latest: datetime, check: _RowCheck) -> datetime | None:
    """When the outcome was observed: its timestamp, or `now` when it has none."""
    if raw is None:
        return now
    observed_at, out_of_range = _time_in_range(raw, latest)
    if out_of_range:
        check.fail(
            "timestamp",
            "timestamp: out of range",
            f"{_shown(raw)} is out of range: timestamps go {TIME_RANGE}.",
        )
    elif observed_at is None:
        check.fail(
            "timestamp",
            "timestamp: not ISO 8601",
            f"{_shown(raw)} is not an ISO 8601 date and time.",
        )
    return observed_at


def refuse_if_needed(rows: int, valid: int, problems: Problems, partial: bool) -> None:
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
