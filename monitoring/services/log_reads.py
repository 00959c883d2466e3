"""Counts over fixed bins, category counts and a bounded sample of a version's prediction log
between two instants: what drift needs from live traffic, read once per feature kind.

On PostgreSQL the counting is done by the database, one aggregate query per feature kind:

- numbers: width_bucket(value, edges) of each numeric column per row, unnested in the select
  list and GROUP BY (feature, bucket);
- categories: the values' text per row, unnested the same way and GROUP BY (feature, value);
- the KS sample: the numbers of the rows ORDER BY random_key, id LIMIT KS_SAMPLE_SIZE, the
  rows found by sorting their (random_key, id, ctid) alone.

Each read runs in a transaction of its own settings (`day_read`): the day's rows through
the (model_version, predicted_at) index, never a scan of the whole table (which the planner
prefers when one version has logged few days), and no JIT compilation, which costs about a
second per query and saves less on a day's rows (docs/benchmarks.md, "Monitoring").

Elsewhere (SQLite, the quick start) one pass over the rows in random_key order builds the
same counts in Python. Both follow the same value rules, so they give identical results
(tests/monitoring/test_drift_data.py runs both on PostgreSQL):

- a number is a JSON number (not a boolean, not a numeric string); anything else, an absent
  key or JSON null is missing. The score column is a number unless NULL or NaN;
- a category is the text of a JSON string, number or boolean ("true"/"false", as
  PostgreSQL's ->> writes it); objects, arrays, null and absent keys are missing.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from monitoring.drift import KS_SAMPLE_SIZE, Histogram, NumericBins
from predictions.models import Prediction

NUMERIC = "numeric"
CATEGORICAL = "categorical"
# The prediction and the score get these names beside the features (parentheses keep them
# apart from a feature called "prediction").
PREDICTION = "(prediction)"
SCORE = "(score)"
# Streaming batch size of the Python path.
CHUNK_SIZE = 5_000


@dataclass(frozen=True)
class Column:
    """One thing drift is measured on: a feature (`key` in the features object), the
    prediction, or the score; `kind` is NUMERIC or CATEGORICAL."""

    name: str
    kind: str
    field: str  # "features", "prediction" or "score"
    key: str | None = None


def feature_column(name: str, schema_type: str) -> Column | None:
    """A feature schema entry as a Column: number and integer are numeric; string, category
    and boolean categorical; other types (datetime) have no drift here."""
    if schema_type in ("number", "integer"):
        return Column(name, NUMERIC, "features", name)
    if schema_type in ("string", "category", "boolean"):
        return Column(name, CATEGORICAL, "features", name)
    return None


def prediction_column(task_type: str) -> Column:
    """The prediction: a number for regression, the predicted class for classification."""
    kind = NUMERIC if task_type == "regression" else CATEGORICAL
    return Column(PREDICTION, kind, "prediction")


SCORE_COLUMN = Column(SCORE, NUMERIC, "score")


@dataclass
class LogRead:
    """What one read of the log returns, by column name."""

    histograms: dict[str, Histogram] = field(default_factory=dict)
    category_counts: dict[str, dict[str | None, int]] = field(default_factory=dict)
    samples: dict[str, np.ndarray] = field(default_factory=dict)


def read_log(
    version_id: int,
    start: datetime.datetime,
    end: datetime.datetime,
    *,
    numeric: list[tuple[Column, NumericBins]] = (),
    categorical: list[Column] = (),
    sample: list[Column] = (),
    sample_size: int = KS_SAMPLE_SIZE,
    use_sql: bool | None = None,
) -> LogRead:
    """The predictions of `version_id` with start ≤ predicted_at < end: the histogram of each
    numeric column over its bins, the counts per category of each categorical column (None:
    missing), and the present values of each `sample` column among the `sample_size` rows
    with the smallest random_key. `use_sql` defaults to "the database is PostgreSQL"."""
    if use_sql is None:
        use_sql = uses_sql()
    rows = Prediction.objects.filter(
        model_version_id=version_id, predicted_at__gte=start, predicted_at__lt=end
    )
    if not use_sql:
        return _read_python(rows, list(numeric), list(categorical), list(sample), sample_size)
    where = (version_id, start, end)
    read = LogRead()
    if numeric:
        read.histograms = _histograms_sql(where, list(numeric))
    if categorical:
        read.category_counts = _categories_sql(where, list(categorical))
    if sample:
        read.samples = _sample_sql(where, list(sample), sample_size)
    return read


# PostgreSQL


def uses_sql() -> bool:
    """Whether the counting is done in SQL: on PostgreSQL (width_bucket, jsonb_typeof)."""
    return connection.vendor == "postgresql"


_WHERE = "model_version_id = %s AND predicted_at >= %s AND predicted_at < %s"
# A read's settings, for its transaction only (set_config(…, true) is SET LOCAL): the day by
# its index, no JIT, and room for the KS sample's sort of (random_key, id, ctid) in memory
# (work_mem only ever raised to this).
DAY_READ_SETTINGS = {"enable_seqscan": "off", "jit": "off", "work_mem": "64MB"}


@contextlib.contextmanager
def day_read():
    """A cursor in a transaction (a savepoint inside another) with DAY_READ_SETTINGS, for
    reads of a day of the log on PostgreSQL; the settings end with the transaction, or are
    put back at the end of a savepoint (a rolled back one undoes them by itself)."""
    names = list(DAY_READ_SETTINGS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_bytes(current_setting('work_mem')) > pg_size_bytes(%s), "
            + ", ".join(["current_setting(%s)"] * len(names)),
            [DAY_READ_SETTINGS["work_mem"], *names],
        )
        larger, *values = cursor.fetchone()
        before = dict(zip(names, values, strict=True))
        wanted = {**DAY_READ_SETTINGS, **({"work_mem": before["work_mem"]} if larger else {})}
        _set_local(cursor, wanted)
        yield cursor
        if transaction.get_connection().savepoint_ids:  # inside an outer transaction
            _set_local(cursor, before)


def _set_local(cursor, settings: dict[str, str]) -> None:
    cursor.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)),
        [p for name, value in settings.items() for p in (name, value)],
    )


def _json_sql(column: Column) -> tuple[str, str, list]:
    """The column's JSON value and its text (->>), and the parameter of each."""
    if column.field == "features":
        return "(features -> %s)", "(features ->> %s)", [column.key]
    return "prediction", "(prediction #>> '{}')", []


def _number_sql(column: Column) -> tuple[str, list]:
    """The column's number as float8, NULL when missing; the CASE guards the cast. The
    text's cast is what PostgreSQL does for numeric → float8 anyway, and faster."""
    if column.field == "score":
        return "NULLIF(score, 'NaN')", []
    value, text, params = _json_sql(column)
    return f"CASE WHEN jsonb_typeof({value}) = 'number' THEN {text}::float8 END", params * 2


def _text_sql(column: Column) -> tuple[str, list]:
    value, text, params = _json_sql(column)
    sql = f"CASE WHEN jsonb_typeof({value}) IN ('string', 'number', 'boolean') THEN {text} END"
    return sql, params * 2


def _bucket_sql(column: Column, bins: NumericBins) -> tuple[str, list]:
    """width_bucket over the bins' edges: 0 below the first edge, i from edges[i−1] up,
    NULL for a missing value (drift.NumericBins)."""
    number, params = _number_sql(column)
    if not bins.edges:  # one bin: everything present falls in bucket 0
        return f"CASE WHEN {number} IS NULL THEN NULL ELSE 0 END", params
    return f"width_bucket({number}, %s::float8[])", [*params, list(bins.edges)]


def _unnested(expressions: list[tuple[str, list]], array_type: str) -> tuple[str, list]:
    """SELECT (feature number, value, count) for an array of per-row expressions: one scan
    of the day, in parallel workers where PostgreSQL plans them (no LIMIT or OFFSET in the
    subquery for that reason; its array is used once, so each expression runs once a row).
    The two unnest() of the select list run in step (numbers 1…n beside the values): a
    ProjectSet, about a sixth cheaper than unnest in a lateral FROM, which builds a
    tuplestore per row."""
    params = [list(range(1, len(expressions) + 1))]
    params += [p for _, ps in expressions for p in ps]
    array = ", ".join(sql for sql, _ in expressions)
    sql = (
        f"SELECT u.i, u.v, count(*) FROM (SELECT unnest(%s::int[]) AS i, "
        f"unnest(ARRAY[{array}]::{array_type}) AS v "
        f"FROM reviews_prediction WHERE {_WHERE}) AS u GROUP BY 1, 2"
    )
    return sql, params


def _histograms_sql(where, numeric: list[tuple[Column, NumericBins]]) -> dict[str, Histogram]:
    sql, params = _unnested([_bucket_sql(c, b) for c, b in numeric], "int[]")
    counts: list[dict[int | None, int]] = [{} for _ in numeric]
    with day_read() as cursor:
        cursor.execute(sql, [*params, *where])
        for i, bucket, n in cursor.fetchall():
            counts[i - 1][bucket] = n
    return {c.name: _histogram(counts[i], b) for i, (c, b) in enumerate(numeric)}


def _histogram(counts_by_bucket: dict[int | None, int], bins: NumericBins) -> Histogram:
    counts = [0] * bins.size
    for bucket, n in counts_by_bucket.items():
        if bucket is not None:
            counts[bucket] += n
    return Histogram(tuple(counts), counts_by_bucket.get(None, 0))


def _categories_sql(where, categorical: list[Column]) -> dict[str, dict[str | None, int]]:
    sql, params = _unnested([_text_sql(c) for c in categorical], "text[]")
    counts: list[dict[str | None, int]] = [{} for _ in categorical]
    with day_read() as cursor:
        cursor.execute(sql, [*params, *where])
        for i, value, n in cursor.fetchall():
            counts[i - 1][value] = n
    return {c.name: counts[i] for i, c in enumerate(categorical)}


def _sample_sql(where, columns: list[Column], size: int) -> dict[str, np.ndarray]:
    expressions = [_number_sql(c) for c in columns]
    params = [p for _, ps in expressions for p in ps]
    select = ", ".join(sql for sql, _ in expressions)
    # The day's rows are sorted on (random_key, id) alone, their ctid beside, and only the
    # first `size` have their numbers read (a TID scan): sorting the rows with their features
    # would move every row's JSON through the sort, and the numbers of every row be read.
    # "+ 0" keeps the planner off the (version, random_key) index, which would walk every
    # day of the version in key order: the day is found by the time index, then top-N sorted.
    sql = (
        f"SELECT {select} FROM reviews_prediction WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM reviews_prediction WHERE {_WHERE} "
        "ORDER BY random_key + 0, id LIMIT %s)) ORDER BY random_key, id"
    )
    with day_read() as cursor:
        cursor.execute(sql, [*params, *where, size])
        rows = cursor.fetchall()
    return {c.name: _present([row[i] for row in rows]) for i, c in enumerate(columns)}


def _present(values: list[float | None]) -> np.ndarray:
    x = np.array([v for v in values if v is not None], dtype=float)
    return x[~np.isnan(x)]


# Python: the same rules, one pass in random_key order


def number_of(column: Column, features, prediction, score) -> float | None:
    """The column's number in one logged row, as the SQL reads it."""
    if column.field == "score":
        value = score
    elif column.field == "prediction":
        value = prediction
    else:
        value = features.get(column.key) if isinstance(features, dict) else None
    if type(value) not in (int, float):  # bool is not a number; nor is "3.5"
        return None
    number = float(value)
    return None if math.isnan(number) else number


def text_of(column: Column, features, prediction) -> str | None:
    """The column's category in one logged row: the text PostgreSQL's #>> gives a JSON
    string, number or boolean; None for anything else."""
    if column.field == "prediction":
        value = prediction
    else:
        value = features.get(column.key) if isinstance(features, dict) else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    return None


def _read_python(rows, numeric, categorical, sample, sample_size: int) -> LogRead:
    edges = [list(bins.edges) for _, bins in numeric]
    buckets = [Counter() for _ in numeric]
    categories = [Counter() for _ in categorical]
    samples: list[list[float]] = [[] for _ in sample]
    stream = rows.order_by("random_key", "id").values_list("features", "prediction", "score")
    for position, (features, prediction, score) in enumerate(stream.iterator(CHUNK_SIZE)):
        for i, (column, _) in enumerate(numeric):
            number = number_of(column, features, prediction, score)
            buckets[i][None if number is None else bisect.bisect_right(edges[i], number)] += 1
        for i, column in enumerate(categorical):
            categories[i][text_of(column, features, prediction)] += 1
        if position < sample_size:
            for i, column in enumerate(sample):
                number = number_of(column, features, prediction, score)
                if number is not None:
                    samples[i].append(number)
    return LogRead(
        histograms={c.name: _histogram(buckets[i], b) for i, (c, b) in enumerate(numeric)},
        category_counts={c.name: dict(categories[i]) for i, c in enumerate(categorical)},
        samples={c.name: np.array(samples[i], dtype=float) for i, c in enumerate(sample)},
    )
