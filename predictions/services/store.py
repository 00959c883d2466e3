"""Writing validated rows, on PostgreSQL and on SQLite, and setting outcomes.

Predictions: on PostgreSQL the rows are COPY'd into a temporary staging table (kept per
connection, emptied at each commit) and moved with one INSERT … SELECT … ON CONFLICT DO
NOTHING, sorted by the unique (model_version, request_id) key so that concurrent batches
take its index locks in one order; on SQLite, bulk_create(ignore_conflicts=True). A new
prediction whose request id already has an outcome (attached to another version's
prediction) gets it too: the late outcomes. Asked for (`which=True`), both also tell which
rows were new: the quality tally counts only those.

Outcomes: the use case's predictions of each request id are locked in id order and get the
outcome, its time and the error (`outcome_error`); on PostgreSQL through a staging table
and one UPDATE … FROM, on SQLite with bulk_update. The caller opens the transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import orjson
from django.db import connection
from django.db.models import F
from django.db.models.functions import Abs

from predictions.models import Prediction
from predictions.services.validate import ValidPredictions
from usecases.models import UseCase

SQLITE_BATCH = 500  # rows per INSERT, parameters per IN (…) on SQLite


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


def first_of_each(version_ids: list[int], request_ids: list[str]) -> list[int]:
    """Indices of the first row of each (version, request id) in the batch."""
    seen: dict[tuple[int, str], int] = {}
    for index, key in enumerate(zip(version_ids, request_ids, strict=True)):
        seen.setdefault(key, index)
    if len(seen) == len(request_ids):
        return list(range(len(request_ids)))
    return sorted(seen.values())


# --- Predictions ----------------------------------------------------------------------------

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
# Only the rows this statement stored: a conflicting row of a concurrent batch is skipped
# once that batch commits, and is not returned.
_MOVE_RETURNING = _MOVE.rstrip() + " RETURNING model_version_id, request_id"


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


def _confidences(use_case: UseCase, scores: list) -> list[float | None]:
    """What "lowest confidence" sampling orders by (Prediction.confidence): binary, the
    score's distance to the use case's decision threshold; multiclass, the predicted class's
    score; regression, none."""
    if use_case.task_type == "binary":
        threshold = use_case.decision_threshold
        return [None if s is None else abs(s - threshold) for s in scores]
    if use_case.task_type == "multiclass":
        return scores
    return [None] * len(scores)


def recompute_confidences(use_case: UseCase) -> int:
    """Recompute the stored binary predictions' distances to the threshold as it stands now
    (after it changed); rows updated. One UPDATE."""
    rows = Prediction.objects.filter(use_case=use_case)
    if use_case.task_type == "binary":
        distance = Abs(F("score") - use_case.decision_threshold)
        return rows.filter(score__isnull=False).update(confidence=distance)
    if use_case.task_type == "multiclass":
        return rows.update(confidence=F("score"))
    return rows.filter(confidence__isnull=False).update(confidence=None)


def _positions(valid: ValidPredictions, keep: list[int], keys) -> list[int]:
    """The indices among the valid rows of the stored (version id, request id) keys."""
    index = {(valid.version_ids[i], valid.request_ids[i]): i for i in keep}
    return sorted(index[(version_id, request_id)] for version_id, request_id in keys)


def insert_postgresql(
    use_case: UseCase, valid: ValidPredictions, keep: list[int], *, which: bool = False
) -> tuple[int, list[int] | None]:
    """COPY the rows into the staging table, then one INSERT … SELECT … ON CONFLICT: (rows
    stored, and with `which` their indices among the valid rows, else None)."""
    random_keys = np.random.default_rng().random(len(keep)).tolist()
    confidences = _confidences(use_case, valid.scores)
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
        cursor.execute(_MOVE_RETURNING if which else _MOVE, [use_case.pk])
        inserted = cursor.rowcount
        stored = _positions(valid, keep, cursor.fetchall()) if which else None
        if known and inserted:
            _late_outcomes_postgresql(cursor, use_case, known)
        return inserted, stored


def _late_outcomes_postgresql(cursor, use_case: UseCase, known: list[tuple]) -> None:
    """The batch's new predictions whose request id already had an outcome get it, as
    attach_outcomes sets it (re-sent rows keep theirs)."""
    outcomes = {
        (version_id, request_id): (_from_jsonb(o), at) for version_id, request_id, o, at in known
    }
    cursor.execute(
        "SELECT p.id, p.model_version_id, p.request_id, p.prediction, p.score "
        "FROM reviews_prediction AS p JOIN unnest(%s::bigint[], %s::text[]) AS k(v, r) "
        "ON p.model_version_id = k.v AND p.request_id = k.r "
        "WHERE p.outcome IS NULL ORDER BY p.id",
        [[key[0] for key in outcomes], [key[1] for key in outcomes]],
    )
    rows = [
        (pk, _from_jsonb(prediction), score, *outcomes[(version_id, request_id)])
        for pk, version_id, request_id, prediction, score in cursor.fetchall()
    ]
    if rows:
        _write_outcomes_postgresql(cursor, use_case.task_type, rows)


def insert_sqlite(
    use_case: UseCase, valid: ValidPredictions, keep: list[int], *, which: bool = False
) -> tuple[int, list[int] | None]:
    """bulk_create(ignore_conflicts=True); the count of new rows from before and after (the
    IMMEDIATE transaction holds SQLite's write lock, so nobody else inserts meanwhile), and
    with `which` their indices among the valid rows (the keys not stored before), else None."""
    stored = _not_stored_yet(valid, keep) if which else None
    random_keys = np.random.default_rng().random(len(keep)).tolist()
    confidences = _confidences(use_case, valid.scores)
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
    return inserted, stored


def _not_stored_yet(valid: ValidPredictions, keep: list[int]) -> list[int]:
    """The kept rows whose (version, request id) is not in the log yet, SQLITE_BATCH request
    ids at a time per version."""
    by_version: dict[int, list[str]] = {}
    for i in keep:
        by_version.setdefault(valid.version_ids[i], []).append(valid.request_ids[i])
    logged: set[tuple[int, str]] = set()
    for version_id, request_ids in by_version.items():
        for start in range(0, len(request_ids), SQLITE_BATCH):
            chunk = request_ids[start : start + SQLITE_BATCH]
            found = Prediction.objects.filter(model_version_id=version_id, request_id__in=chunk)
            logged.update((version_id, r) for r in found.values_list("request_id", flat=True))
    return [i for i in keep if (valid.version_ids[i], valid.request_ids[i]) not in logged]


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


# --- Outcomes -------------------------------------------------------------------------------

_OUTCOME_STAGING = "reviews_outcome_staging"
_OUTCOME_DDL = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_OUTCOME_STAGING} (
    id bigint NOT NULL,
    outcome jsonb NOT NULL,
    outcome_at timestamptz NOT NULL,
    error double precision
) ON COMMIT DELETE ROWS
"""


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def attach_postgresql(
    use_case: UseCase, outcomes: dict[str, object], times: dict[str, datetime]
) -> tuple[set[str], int, set[tuple[int, date]]]:
    """Lock the predictions in id order (two batches cannot deadlock), compute each error,
    COPY (id, outcome, time, error) into staging, and one UPDATE … FROM: (request ids
    matched, predictions updated, their (version id, UTC day) pairs)."""
    task = use_case.task_type
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, request_id, prediction, score, model_version_id, predicted_at "
            "FROM reviews_prediction "
            "WHERE use_case_id = %s AND request_id = ANY(%s) ORDER BY id FOR UPDATE",
            [use_case.pk, list(outcomes)],
        )
        found = cursor.fetchall()
        if not found:
            return set(), 0, set()
        rows = [
            (pk, _from_jsonb(prediction), score, outcomes[request_id], times[request_id])
            for pk, request_id, prediction, score, _, _ in found
        ]
        updated = _write_outcomes_postgresql(cursor, task, rows)
        days = {(row[4], _day(row[5])) for row in found}
        return {row[1] for row in found}, updated, days


def _write_outcomes_postgresql(cursor, task: str, rows: list[tuple]) -> int:
    """Set (id, prediction, score, outcome, outcome_at) rows' outcome, time and error: COPY
    into staging, one UPDATE … FROM. Used by attach_outcomes and for late predictions. The
    prediction and outcome are Python values (the callers decode what they read)."""
    cursor.execute(_OUTCOME_DDL)
    cursor.execute(f"DELETE FROM {_OUTCOME_STAGING}")
    dumps = orjson.dumps
    columns = "id, outcome, outcome_at, error"
    with cursor.cursor.copy(f"COPY {_OUTCOME_STAGING} ({columns}) FROM STDIN") as copy:
        for pk, prediction, score, outcome, outcome_at in rows:
            error = outcome_error(task, prediction, score, outcome)
            copy.write_row((pk, dumps(outcome).decode(), outcome_at, error))
    cursor.execute(
        f"UPDATE reviews_prediction AS p SET outcome = s.outcome, "
        f"outcome_at = s.outcome_at, error = s.error FROM {_OUTCOME_STAGING} AS s "
        f"WHERE p.id = s.id"
    )
    return cursor.rowcount


def _from_jsonb(value):
    """A jsonb column read through a raw cursor, as a Python value. Django's PostgreSQL
    backend has psycopg return jsonb as its text (JSONField decodes it), so "cat" arrives
    as '"cat"'. Only what the database returns goes through here: a validated outcome is
    already a Python value, and decoding the class name cat as JSON failed (issue 10)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def attach_sqlite(
    use_case: UseCase, outcomes: dict[str, object], times: dict[str, datetime]
) -> tuple[set[str], int, set[tuple[int, date]]]:
    """Set the outcomes SQLITE_BATCH request ids at a time: (request ids matched, predictions
    updated, their (version id, UTC day) pairs)."""
    task = use_case.task_type
    request_ids = list(outcomes)
    matched: set[str] = set()
    days: set[tuple[int, date]] = set()
    updated = 0
    for start in range(0, len(request_ids), SQLITE_BATCH):
        chunk = request_ids[start : start + SQLITE_BATCH]
        predictions = list(
            Prediction.objects.filter(use_case=use_case, request_id__in=chunk).only(
                "id", "request_id", "prediction", "score", "model_version_id", "predicted_at"
            )
        )
        _write_outcomes_sqlite(task, predictions, outcomes, times)
        matched.update(prediction.request_id for prediction in predictions)
        days.update((p.model_version_id, _day(p.predicted_at)) for p in predictions)
        updated += len(predictions)
    return matched, updated, days


def _write_outcomes_sqlite(
    task: str, predictions: list, outcomes: dict[str, object], times: dict[str, datetime]
) -> None:
    """Set each prediction's outcome, time and error from its request id; one executemany
    of a plain UPDATE by id (bulk_update's CASE per row grows with the square of the batch
    on SQLite: 8 s against 0.5 s for the demo's outcomes). Used by attach_outcomes and for
    late predictions; the objects are updated too."""
    adapt = connection.ops.adapt_datetimefield_value  # naive UTC text, as the ORM stores it
    rows = []
    for prediction in predictions:
        outcome = outcomes[prediction.request_id]
        prediction.outcome = outcome
        prediction.outcome_at = times[prediction.request_id]
        prediction.error = outcome_error(task, prediction.prediction, prediction.score, outcome)
        rows.append(
            (json.dumps(outcome), adapt(prediction.outcome_at), prediction.error, prediction.pk)
        )
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE reviews_prediction SET outcome = %s, outcome_at = %s, error = %s WHERE id = %s",
            rows,
        )
