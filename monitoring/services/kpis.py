"""Every KPI of a use case on one UTC day of a version's logged predictions that have an
outcome, with the metric code and intervals of evaluations (registry.metrics.evaluate,
the same resamples and seed as registry.services.evaluations).

Only the day's rows are read (predicted_at in [day, day + 1) UTC, through the
(model_version, predicted_at) index), only the columns the metrics need, streamed
(`iterator`: a server-side cursor on PostgreSQL), never the whole log.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Q

from predictions.models import Prediction
from registry import metrics
from registry.models import ModelVersion
from registry.services.evaluations import N_RESAMPLES, NO_SEGMENT, SEED
from usecases.models import KPI

logger = logging.getLogger(__name__)

CHUNK = 20_000  # rows fetched at a time


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
    counts = rows.aggregate(total=Count("pk"), known=Count("pk", filter=Q(outcome__isnull=False)))
    result = DayKPIs(n_predictions=counts["total"], n_with_outcome=counts["known"])
    kpis = list(use_case.kpis.order_by("name"))
    if not kpis:
        return result
    evaluated = None
    if result.n_with_outcome:
        arrays = _arrays(rows, use_case.task_type)
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


def _arrays(rows, task_type: str) -> dict:
    """y_true, y_pred, the score (binary, when every row has one) and the segments."""
    truth, predicted, scores, segments = [], [], [], []
    known = rows.filter(outcome__isnull=False).values_list(
        "outcome", "prediction", "score", "segment"
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
