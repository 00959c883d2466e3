"""Every KPI of a use case on one UTC day of a version's logged predictions that have an
outcome, with the metric code and intervals of evaluations (registry.metrics.evaluate,
the same resamples and seed as registry.services.evaluations).

Only the day's rows are read (predicted_at in [day, day + 1) UTC, through the
(model_version, predicted_at) index), only the columns the metrics need, never the whole log,
in id order (a re-run resamples the same rows alike). On PostgreSQL one query counts the day
and returns each column as one array (array_agg; numbers in binary, array_send, read by
numpy): the outcomes and predictions as numbers (binary, regression) or texts (multiclass)
converted by the database, the only types ingestion stores (predictions/services/validate.py).
A day holding anything else (a JSON boolean or a numeric string set by hand, a number past
float8) is read the general way: every row's JSON into Python (`iterator`: a server-side
cursor), as on SQLite, with the same conversions and the same results.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

import numpy as np
from django.db import DataError, connection
from django.db.models import Count, Q

from monitoring.services.log_reads import day_read
from predictions.models import Prediction
from registry import metrics
from registry.models import ModelVersion
from registry.services.evaluations import N_RESAMPLES, NO_SEGMENT, SEED
from usecases.models import KPI

logger = logging.getLogger(__name__)

CHUNK = 20_000  # rows fetched at a time
FLOAT8_OID, INT8_OID = 701, 20  # pg_type


@dataclass
class KPIValue:
    """One KPI on one day: the estimate (value None when undefined) and its row count."""

    kpi: KPI
    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass
class DayKPIs:
    n_predictions: int = 0
    n_with_outcome: int = 0
    values: list[KPIValue] = field(default_factory=list)


def day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[day, day + 1) in UTC."""
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return start, start + datetime.timedelta(days=1)


def day_rows(version: ModelVersion, day: datetime.date):
    """The version's predictions of the day (UTC)."""
    start, end = day_bounds(day)
    return Prediction.objects.filter(
        model_version=version, predicted_at__gte=start, predicted_at__lt=end
    ).order_by()


def day_kpis(version: ModelVersion, day: datetime.date) -> DayKPIs:
    """The day's counts and every KPI of the use case on its rows with an outcome."""
    return range_kpis(version, *day_bounds(day))


def range_kpis(version: ModelVersion, start: datetime.datetime, end: datetime.datetime) -> DayKPIs:
    """The counts and every KPI of the use case on the version's rows with an outcome among
    its predictions with start ≤ predicted_at < end (a day, or a week: services/weeks.py)."""
    day = start.date()  # for the log lines
    use_case = version.use_case
    rows = Prediction.objects.filter(
        model_version=version, predicted_at__gte=start, predicted_at__lt=end
    ).order_by()
    kpis = list(use_case.kpis.order_by("name"))
    read = _read_sql(version, start, end, use_case.task_type, arrays=bool(kpis))
    if read is None:
        counts = rows.aggregate(
            total=Count("pk"), known=Count("pk", filter=Q(outcome__isnull=False))
        )
        read = counts["total"], counts["known"], None
    result = DayKPIs(n_predictions=read[0], n_with_outcome=read[1])
    if not kpis:
        return result
    evaluated = None
    if result.n_with_outcome:
        arrays = read[2] if read[2] is not None else _arrays(rows, use_case.task_type)
        try:
            evaluated = metrics.evaluate(
                use_case.task_type,
                arrays.pop("y_true"),
                arrays.pop("y_pred"),
                **arrays,
                threshold=use_case.decision_threshold if use_case.task_type == "binary" else 0.5,
                value_model=getattr(use_case, "value_model", None),
                n_resamples=N_RESAMPLES,
                seed=SEED,
            )
        except ValueError as error:  # e.g. a day whose outcomes are not numbers
            logger.warning("version %s day %s: KPIs not computed: %s", version.pk, day, error)
    for kpi in kpis:
        result.values.append(_kpi_value(kpi, evaluated))
    return result


def _read_sql(version: ModelVersion, start, end, task_type: str, *, arrays: bool):
    """PostgreSQL: (rows, rows with an outcome, the arrays of `_arrays` or None) from one
    query, the arrays only when asked for and when every outcome and prediction is of the
    type ingestion stores; None elsewhere, or when a value is out of float8's range."""
    if connection.vendor != "postgresql":
        return None
    multiclass = task_type == "multiclass"
    if multiclass:  # str() of a JSON string is its text
        label = "CASE WHEN jsonb_typeof({0}) = 'string' THEN {0} #>> '{{}}' END"
    else:  # a JSON number's float, as float() of the number json.loads gives
        label = "CASE WHEN jsonb_typeof({0}) = 'number' THEN ({0} #>> '{{}}')::float8 END"

    def column(expression: str, numbers: bool = True) -> str:
        """The rows with an outcome, in an array; numbers in binary (array_send), read by
        numpy without a Python object each."""
        values = f"array_agg({expression}) FILTER (WHERE outcome IS NOT NULL)"
        return f"array_send({values})" if numbers else values

    columns = [
        column(label.format("outcome"), not multiclass),
        column(label.format("prediction"), not multiclass),
        column("score"),
        column("CASE segment WHEN '' THEN %s ELSE segment END", numbers=False),
        column("id"),
    ]
    select = ", ".join(columns if arrays else ["NULL"] * len(columns))
    sql = (
        f"SELECT count(*), count(outcome), {select} FROM reviews_prediction "
        "WHERE model_version_id = %s AND predicted_at >= %s AND predicted_at < %s"
    )
    try:
        with day_read() as cursor:
            cursor.execute(sql, [*([NO_SEGMENT] if arrays else []), version.pk, start, end])
            total, with_outcome, *found = cursor.fetchone()
    except DataError:  # e.g. a number past float8: the general way says what to do
        return None
    if not arrays or not with_outcome:
        return total, with_outcome, None
    return total, with_outcome, _found_arrays(task_type, *found)


def _found_arrays(task_type: str, truth, predicted, scores, segments, ids) -> dict | None:
    """The arrays of `_arrays` from _read_sql's columns, in id order; None when an outcome
    or a prediction is not of the stored type (NULL in its column)."""
    numbers = task_type != "multiclass"
    if numbers:
        truth, predicted = _binary_array(truth), _binary_array(predicted)
        if truth is None or predicted is None:
            return None
    elif None in truth or None in predicted:
        return None
    order = np.argsort(_binary_array(ids), kind="stable")
    found: dict = {"segments": np.asarray(segments, dtype=object)[order]}
    kind = float if numbers else object
    found["y_true"] = np.asarray(truth, dtype=kind)[order]
    found["y_pred"] = np.asarray(predicted, dtype=kind)[order]
    score = _binary_array(scores)
    if task_type == "binary" and score is not None:  # every row has a score
        found["score"] = score[order]
    return found


def _binary_array(data: bytes) -> np.ndarray | None:
    """A one-dimensional float8[] or int8[] in PostgreSQL's binary form (array_send): a
    header of 5 int32 (dimensions, has NULLs, element type, length, lower bound), then each
    element's int32 size and big-endian value. None when it holds a NULL."""
    dimensions, has_null, element_type = np.frombuffer(data, ">i4", count=3)
    if has_null:
        return None
    kind = {FLOAT8_OID: ">f8", INT8_OID: ">i8"}[int(element_type)]
    if not dimensions:
        return np.empty(0, dtype=kind[1:])
    items = np.frombuffer(data, [("size", ">i4"), ("value", kind)], offset=20)
    return items["value"].astype(kind[1:])


def _arrays(rows, task_type: str) -> dict:
    """y_true, y_pred, the score (binary, when every row has one) and the segments."""
    truth, predicted, scores, segments = [], [], [], []
    known = (
        rows.filter(outcome__isnull=False)
        .order_by("pk")
        .values_list("outcome", "prediction", "score", "segment")
    )
    for outcome, prediction, score, segment in known.iterator(chunk_size=CHUNK):
        truth.append(outcome)
        predicted.append(prediction)
        scores.append(score)
        segments.append(segment or NO_SEGMENT)  # a blank segment is a segment of its own
    arrays: dict = {"segments": np.asarray(segments, dtype=object)}
    if task_type == "multiclass":
        arrays["y_true"] = np.asarray([str(v) for v in truth], dtype=object)
        arrays["y_pred"] = np.asarray([str(v) for v in predicted], dtype=object)
        return arrays  # the logged score is the predicted class's, not a probability row
    arrays["y_true"] = np.asarray(truth, dtype=float)
    arrays["y_pred"] = np.asarray(predicted, dtype=float)
    if task_type == "binary" and scores and all(s is not None for s in scores):
        arrays["score"] = np.asarray(scores, dtype=float)
    return arrays


def _kpi_value(kpi: KPI, evaluated: metrics.EvaluationResult | None) -> KPIValue:
    if evaluated is None:
        return KPIValue(kpi, None, None, None, 0)
    if kpi.segment:
        segment = evaluated.segments.get(kpi.segment)
        if segment is None:
            return KPIValue(kpi, None, None, None, 0)
        estimate, n = segment.metrics.get(kpi.metric), segment.rows
    else:
        estimate, n = evaluated.metrics.get(kpi.metric), evaluated.rows
    if estimate is None:
        return KPIValue(kpi, None, None, None, n)
    return KPIValue(kpi, estimate.value, estimate.low, estimate.high, n)
