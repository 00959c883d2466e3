"""A challenger against production on the same requests, one UTC day at a time (issue 14).

A shadow or canary version logs predictions for requests that production answered too (the
same request id in the use case). For a challenger's day this module pairs its rows with the
production version's rows of the same request ids and measures:

- before any outcome, how often the two disagree: for classes, a different predicted class;
  for numbers (regression), predictions more than DISAGREE_RELATIVE (5 %) apart, relative to
  the larger of the two in absolute value (two zeros agree); and for regression the mean
  absolute difference;
- once outcomes arrive, each KPI's paired difference, challenger − production, on the paired
  rows with an outcome: registry.metrics.evaluate with `champion=`, so both models are
  resampled with the same bootstrap resamples and the 95 % interval and p-value are those of
  a paired bootstrap (docs/monitoring.md). A KPI on a segment is evaluated on that segment's
  paired rows.

The baseline is the version in production at the end of the day: the last stage change to
production before the day ended (promotions.StageChange); none when the history shows
production only later; the version in production now when there is no history at all. A
version is not compared with itself: a day it was in production has no comparison, and
nor has a day without a request both logged.

The pairs are read with one join on the (model_version, request_id) unique index, only the
columns the metrics need, streamed in chunks.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

import numpy as np
import orjson
from django.db import connection

from monitoring.services.kpis import day_bounds
from promotions.models import StageChange
from registry import metrics
from registry.models import ModelVersion
from registry.services.evaluations import N_RESAMPLES, NO_SEGMENT, SEED
from usecases.models import KPI

logger = logging.getLogger(__name__)

DISAGREE_RELATIVE = 0.05
CHUNK = 20_000


@dataclass
class KPIDifference:
    kpi: KPI
    challenger: float | None = None
    baseline: float | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    n: int = 0


@dataclass
class DayComparison:
    baseline: ModelVersion
    n_paired: int = 0
    n_disagree: int = 0
    n_with_outcome: int = 0
    mean_abs_difference: float | None = None
    differences: list[KPIDifference] = field(default_factory=list)


@dataclass
class _Pairs:
    """The day's paired rows as arrays, challenger and baseline side by side."""

    challenger: list = field(default_factory=list)
    baseline: list = field(default_factory=list)
    challenger_score: list = field(default_factory=list)
    baseline_score: list = field(default_factory=list)
    outcome: list = field(default_factory=list)
    segment: list = field(default_factory=list)


def baseline_on(version: ModelVersion, day: datetime.date) -> ModelVersion | None:
    """The use case's production version at the end of `day` (UTC), if it is another one."""
    _, end = day_bounds(day)
    change = (
        StageChange.objects.filter(
            use_case_id=version.use_case_id,
            to_stage=ModelVersion.Stage.PRODUCTION,
            changed_at__lt=end,
        )
        .select_related("model_version")
        .order_by("-changed_at", "-id")
        .first()
    )
    if change is not None:
        baseline = change.model_version
    elif StageChange.objects.filter(
        use_case_id=version.use_case_id, to_stage=ModelVersion.Stage.PRODUCTION
    ).exists():
        return None  # every stage change is recorded: nothing was in production that day
    else:  # no history at all (versions staged before it was kept): production now
        baseline = ModelVersion.objects.filter(
            use_case_id=version.use_case_id, stage=ModelVersion.Stage.PRODUCTION
        ).first()
    if baseline is None or baseline.pk == version.pk:
        return None
    return baseline


def day_comparison(version: ModelVersion, day: datetime.date) -> DayComparison | None:
    """The version's day against the day's production version; None when the version was
    the production version itself, the use case had none, or no request was logged by both."""
    baseline = baseline_on(version, day)
    if baseline is None:
        return None
    task_type = version.use_case.task_type
    pairs = _read_pairs(version, baseline, day)
    if not pairs.challenger:
        return None  # nothing to compare: the tab says how requests are paired
    result = DayComparison(baseline=baseline, n_paired=len(pairs.challenger))
    result.n_disagree, result.mean_abs_difference = _disagreement(pairs, task_type)
    known = [i for i, outcome in enumerate(pairs.outcome) if outcome is not None]
    result.n_with_outcome = len(known)
    result.differences = _differences(version, pairs, known, task_type)
    return result


def _read_pairs(version: ModelVersion, baseline: ModelVersion, day: datetime.date) -> _Pairs:
    start, end = day_bounds(day)
    sql = (
        "SELECT c.prediction, b.prediction, c.score, b.score, c.outcome, c.segment "
        "FROM reviews_prediction AS c JOIN reviews_prediction AS b "
        "ON b.model_version_id = %s AND b.request_id = c.request_id "
        "WHERE c.model_version_id = %s AND c.predicted_at >= %s AND c.predicted_at < %s "
        "ORDER BY c.id"
    )
    pairs = _Pairs()
    # A server-side cursor on PostgreSQL: the pairs arrive CHUNK at a time, not all at once.
    with connection.chunked_cursor() as cursor:
        adapt = connection.ops.adapt_datetimefield_value  # SQLite: naive UTC text, as stored
        cursor.execute(sql, [baseline.pk, version.pk, adapt(start), adapt(end)])
        while chunk := cursor.fetchmany(CHUNK):
            for mine, theirs, my_score, their_score, outcome, segment in chunk:
                pairs.challenger.append(_json(mine))
                pairs.baseline.append(_json(theirs))
                pairs.challenger_score.append(my_score)
                pairs.baseline_score.append(their_score)
                pairs.outcome.append(_json(outcome))
                pairs.segment.append(segment or NO_SEGMENT)
    return pairs


def _json(value):
    """A JSON column as Python: PostgreSQL through Django's psycopg set-up and SQLite give
    its text."""
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


def _numbers(values: list) -> np.ndarray | None:
    """The values as floats, or None when one is not a number (bools are not)."""
    if any(type(v) not in (int, float) for v in values):
        return None
    return np.asarray(values, dtype=float)


def _same(a, b) -> bool:
    """One class: numbers by value (1 and 1.0 agree), anything else by its text."""
    if type(a) in (int, float) and type(b) in (int, float):
        return float(a) == float(b)
    return str(a) == str(b)


def _disagreement(pairs: _Pairs, task_type: str) -> tuple[int, float | None]:
    """How many pairs disagree, and for regression the mean absolute difference."""
    if task_type != "regression":
        count = sum(
            1 for a, b in zip(pairs.challenger, pairs.baseline, strict=True) if not _same(a, b)
        )
        return count, None
    mine, theirs = _numbers(pairs.challenger), _numbers(pairs.baseline)
    if mine is None or theirs is None:
        count = sum(1 for a, b in zip(pairs.challenger, pairs.baseline, strict=True) if a != b)
        return count, None
    gap = np.abs(mine - theirs)
    scale = np.maximum(np.abs(mine), np.abs(theirs))
    count = int(np.count_nonzero(gap > DISAGREE_RELATIVE * scale))
    return count, float(gap.mean())


def _differences(
    version: ModelVersion, pairs: _Pairs, known: list[int], task_type: str
) -> list[KPIDifference]:
    """Each KPI's paired difference on the rows with an outcome (a segment's KPI on that
    segment's rows), evaluated once per segment the KPIs name."""
    kpis = list(version.use_case.kpis.order_by("name"))
    by_segment: dict[str, list[int]] = {"": known}
    for kpi in kpis:
        if kpi.segment and kpi.segment not in by_segment:
            by_segment[kpi.segment] = [i for i in known if pairs.segment[i] == kpi.segment]
    classes = None
    if task_type == "multiclass":  # every class either side or the truth named, for each call
        labels = (pairs.outcome[i] for i in known)
        sides = (pairs.challenger[i] for i in known), (pairs.baseline[i] for i in known)
        classes = sorted({str(v) for v in labels} | {str(v) for side in sides for v in side})
    evaluated = {
        segment: _evaluate(version, pairs, rows, task_type, classes) if rows else None
        for segment, rows in by_segment.items()
    }
    differences = []
    for kpi in kpis:
        result = evaluated.get(kpi.segment or "")
        found = result.comparison.get(kpi.metric) if result and result.comparison else None
        if found is None:
            differences.append(KPIDifference(kpi, n=result.rows if result else 0))
            continue
        differences.append(
            KPIDifference(
                kpi,
                challenger=found.challenger,
                baseline=found.champion,
                difference=found.difference,
                low=found.low,
                high=found.high,
                p_value=found.p_value,
                n=result.rows,
            )
        )
    return differences


def _evaluate(
    version: ModelVersion, pairs: _Pairs, rows: list[int], task_type: str, classes: list | None
):
    """registry.metrics.evaluate of the challenger with the baseline as champion on `rows`;
    None when the outcomes do not evaluate (logged, as the daily KPIs do)."""
    use_case = version.use_case
    pick = lambda values: [values[i] for i in rows]  # noqa: E731
    if task_type == "multiclass":
        truth = np.asarray([str(v) for v in pick(pairs.outcome)], dtype=object)
        mine = np.asarray([str(v) for v in pick(pairs.challenger)], dtype=object)
        theirs = np.asarray([str(v) for v in pick(pairs.baseline)], dtype=object)
        scores = {}
    else:
        truth, mine, theirs = (
            _numbers(pick(pairs.outcome)),
            _numbers(pick(pairs.challenger)),
            _numbers(pick(pairs.baseline)),
        )
        if truth is None or mine is None or theirs is None:
            logger.warning("version %s: paired KPIs not computed: values not numbers", version.pk)
            return None
        scores = _scores(pick(pairs.challenger_score), pick(pairs.baseline_score), task_type)
    try:
        return metrics.evaluate(
            task_type,
            truth,
            mine,
            score=scores.get("mine"),
            threshold=use_case.decision_threshold if task_type == "binary" else 0.5,
            value_model=getattr(use_case, "value_model", None),
            n_resamples=N_RESAMPLES,
            seed=SEED,
            classes=classes,
            champion=metrics.Predictions(y_pred=theirs, score=scores.get("theirs")),
        )
    except ValueError as error:
        logger.warning("version %s: paired KPIs not computed: %s", version.pk, error)
        return None


def _scores(mine: list, theirs: list, task_type: str) -> dict:
    """Binary: both models' scores when every paired row has both, as the daily KPIs use the
    score only when all rows have one; else neither (the 0/1 predictions are compared)."""
    if task_type != "binary" or any(s is None for s in mine) or any(s is None for s in theirs):
        return {}
    return {"mine": np.asarray(mine, dtype=float), "theirs": np.asarray(theirs, dtype=float)}
