"""Evaluation statistics: the metric catalogue, 95 % bootstrap intervals, per-segment figures,
business value, champion/challenger comparison and KPI gates. Pure numpy: no Django, no ORM.

Point estimates are the exact metrics (equal to scikit-learn's to rounding). Only the
intervals are approximated, and only above 20,000 rows; the method, chosen for speed
(1,000,000 rows with 1,000 resamples and 20 segments in well under a second on 2 cores,
where a plain numpy bootstrap takes about 25 s):

- Intervals are 95 % percentile bootstrap intervals (2.5th and 97.5th percentiles of the
  metric over `n_resamples` resamples, 1,000 by default), seeded: the same seed and data
  give the same intervals. A resample is a weight per row (how often the row was drawn),
  so every metric is computed from weighted sums: one matrix product for all resamples.
- Up to 20,000 rows (EXACT_ROWS): the plain bootstrap. Each resample draws n rows with
  replacement; its weights form an (R × n) matrix; ROC AUC and PR AUC come from weighted
  cumulative counts over the score ties. This equals recomputing every metric on the
  resampled rows.
- Above: a bucketed ("batch means") bootstrap. Rows go at random into m = 2,000 buckets
  (BUCKETS); each metric's ingredients (row count, Σ|e|, Σe², Σ|y|, TP, FP, log-loss
  terms…) are summed per bucket, and a resample draws m buckets with replacement: an
  (R × m) weight matrix times the (m × k) bucket sums. Every metric is a ratio of these sums
  (MAE = Σ|e| / rows, precision = TP / predicted positives…), so the resampled row count
  cancels out as in the plain bootstrap; totals (business value) are rows × the resampled
  mean. The buckets estimate the metric's variance with m − 1 degrees of freedom instead of
  n − 1: the interval width is off by about 1/√(2m) ≈ 1.6 % (one standard deviation), less
  than the Monte-Carlo noise of 1,000 resamples (each endpoint moves by about 2 % of the
  width from one seed to the next).
- ROC AUC and PR AUC (average precision) above 20,000 rows use their first-order
  (DeLong / influence-function) expansion: T* = T + n·Σ w·g / Σ w, where g is each row's
  derivative of the metric with respect to its weight (for ROC AUC, (V10 − AUC)/P for a
  positive and (V01 − AUC)/N for a negative, V10 being the share of negatives scored below
  it and V01 the share of positives scored above, ties half). Both sums are bucket sums
  like the others; only the higher-order interactions are dropped, whose variance is
  O(1/(P·N)) against O(1/P + 1/N) for the terms kept. The expansion is poor with few
  positives or negatives: a group with fewer than MIN_CLASS_FOR_LINEAR (200) of either is
  resampled exactly, with its rows' bucket weights, at any size within a budget of
  EXACT_CELLS resample × row cells per evaluation; beyond the budget its expanded values
  are clipped to [0, 1] and the interval is approximate (`method.rank_metrics` says which).
- Segments share the resamples: a segment's rows are resampled as part of the whole table
  (its row count varies between resamples, as in a plain bootstrap of the table). ROC AUC
  and PR AUC of a segment of at most 20,000 rows use its rows' weights exactly, within the
  same budget (segments with few positives or negatives first, then the smallest).
- Paired comparison (challenger − champion): both models use the same resamples, so the
  interval of the difference is that of a paired bootstrap. The two-sided p-value is
  p = min(1, 2·min(#{d* ≤ 0} + 1, #{d* ≥ 0} + 1) / (R + 1)): about 0.05 when the 95 %
  interval of the difference just excludes 0 (the +1 keeps it conservative, so a border
  case can read 0.051 with an interval that excludes 0); identical models give p = 1 and
  the smallest p reported is 2 / (R + 1) (≈ 0.002 with 1,000 resamples).

Measured against a plain bootstrap (tests/usecases/test_metrics.py, bench/bench_evaluation.py,
docs/benchmarks.md): on 30,000 to 1,000,000 rows the endpoints differ by a few percent of
the interval width, about as much as two plain bootstraps with different seeds differ from
each other. In a one-off simulation (200 datasets each; 2,000 and 50,000 rows; prevalence
down to 0.5 %) the 95 % intervals of MAE, ROC AUC and PR AUC covered the truth 93–97.5 % of
the time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

TaskType = Literal["regression", "binary", "multiclass"]  # usecases.catalogue.TaskType
Direction = Literal["higher", "lower"]
GateMode = Literal["point", "bound"]

REGRESSION_METRICS = ("mae", "rmse", "mape", "wape", "bias", "business_value")
BINARY_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "business_value",
)
MULTICLASS_METRICS = ("accuracy", "precision", "recall", "f1", "log_loss")

CONFIDENCE = 0.95
EXACT_ROWS = 20_000  # up to this many rows: the plain bootstrap (and exact rank metrics)
BUCKETS = 2_000  # buckets of the batch-means bootstrap above EXACT_ROWS
EXACT_CELLS = 50_000_000  # resample × row weight cells for exact rank metrics (~0.5 s)
MAX_SEGMENTS = 500  # per-segment figures cost memory and time in proportion
MIN_CLASS_FOR_LINEAR = 200  # fewer positives or negatives: resample rank metrics exactly
SCATTER_POINTS = 2_000
CURVE_POINTS = 500
CALIBRATION_BINS = 10
RESIDUAL_BINS = 40
_CHUNK_CELLS = 4_000_000  # float64 cells per block of resample weights (32 MB)
_EPS = float(np.finfo(np.float64).eps)  # scikit-learn clips probabilities to [eps, 1 - eps]


# Public types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueModel:
    """How predictions turn into money (DESIGN.md); field names as on the ValueModel row."""

    value_true_positive: float | None = None
    value_true_negative: float | None = None
    cost_false_positive: float | None = None
    cost_false_negative: float | None = None
    cost_per_unit_under: float | None = None
    cost_per_unit_over: float | None = None


@dataclass(frozen=True)
class Predictions:
    """One model's outputs for the evaluated rows, e.g. the champion's for a comparison."""

    y_pred: Any = None
    score: Any = None
    proba: Any = None


@dataclass(frozen=True)
class Estimate:
    """A metric's point estimate with its 95 % interval (None when undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @property
    def interval(self) -> tuple[float, float] | None:
        """(low, high), or None when no interval was computed."""
        if self.low is None or self.high is None:
            return None
        return (self.low, self.high)

    def as_dict(self) -> dict[str, float | None]:
        """Plain JSON-able form."""
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Difference:
    """Challenger − champion on the same rows, its paired 95 % interval and p-value."""

    challenger: float | None
    champion: float | None
    difference: float | None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """Plain JSON-able form."""
        return {
            "challenger": self.challenger,
            "champion": self.champion,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
        }


@dataclass(frozen=True)
class SegmentResult:
    """The metrics of one segment's rows."""

    rows: int
    metrics: dict[str, Estimate]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {"rows": self.rows, "metrics": {k: v.as_dict() for k, v in self.metrics.items()}}


@dataclass
class EvaluationResult:
    """Everything an evaluation reports; `to_dict()` gives plain JSON-able data."""

    task_type: str
    rows: int
    metrics: dict[str, Estimate]
    segments: dict[str, SegmentResult] = field(default_factory=dict)
    business_value: dict[str, Any] | None = None
    confusion_matrix: dict[str, Any] | None = None
    comparison: dict[str, Difference] | None = None
    charts: dict[str, Any] = field(default_factory=dict)
    method: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists, str, int, float and None only (NaN becomes None)."""
        business = None
        if self.business_value is not None:
            business = {
                k: v.as_dict() if isinstance(v, Estimate) else v
                for k, v in self.business_value.items()
            }
        return {
            "task_type": self.task_type,
            "rows": self.rows,
            "overall": {k: v.as_dict() for k, v in self.metrics.items()},
            "segments": {k: v.as_dict() for k, v in self.segments.items()},
            "business_value": business,
            "confusion_matrix": self.confusion_matrix,
            "comparison": (
                None
                if self.comparison is None
                else {k: v.as_dict() for k, v in self.comparison.items()}
            ),
            "charts": self.charts,
            "method": self.method,
        }


# KPI gates ---------------------------------------------------------------------------------


def gate_passes(
    direction: Direction,
    threshold: float,
    value: float | None,
    interval: tuple[float | None, float | None] | None,
    mode: GateMode,
    metric: str,
) -> bool:
    """True when the estimate ("point") or the interval's conservative end ("bound") reaches
    the threshold in the KPI's direction; bias is compared as |bias|. Undefined: False."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"Unknown gate direction “{direction}”: use “higher” or “lower”.")
    if mode not in ("point", "bound"):
        raise ValueError(f"Unknown gate mode “{mode}”: use “point” or “bound”.")
    if mode == "point":
        candidate = value
        if metric == "bias" and value is not None:
            candidate = abs(value)
    else:
        if interval is None or interval[0] is None or interval[1] is None:
            return False  # a bound that was not computed cannot vouch for the model
        low, high = float(interval[0]), float(interval[1])
        if metric == "bias":
            if direction == "lower":  # the end furthest from 0 is the worst case
                candidate = max(abs(low), abs(high))
            else:
                candidate = 0.0 if low <= 0.0 <= high else min(abs(low), abs(high))
        else:
            candidate = low if direction == "higher" else high
    if candidate is None or not math.isfinite(candidate):
        return False
    return candidate >= threshold if direction == "higher" else candidate <= threshold


# Entry point -------------------------------------------------------------------------------


def evaluate(
    task_type: TaskType,
    y_true: Any,
    y_pred: Any = None,
    *,
    score: Any = None,
    proba: Any = None,
    classes: Any = None,
    segments: Any = None,
    threshold: float = 0.5,
    value_model: ValueModel | Mapping[str, Any] | Any | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    champion: Predictions | Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Every metric of the task type with seeded 95 % intervals, overall and per segment, the
    business value, chart data and, given the champion's outputs on the same rows, the paired
    differences. Raises ValueError on malformed input.

    Regression (forecasts too): `y_pred` are the predicted values. Binary: labels are 0/1 (or
    booleans); the positive-class score is `proba` (must lie in [0, 1]), else `score` (any
    real; log loss and Brier only when it lies in [0, 1]), else `y_pred`; a row is predicted
    positive when its score ≥ `threshold`. Multiclass: `y_pred` are labels (or the argmax of
    `proba`); `proba` has one column per class in the order of `classes` (default: the sorted
    labels seen); macro averages run over `classes`. `value_model` is a ValueModel, a mapping
    or any object with its attributes (the ValueModel row). `progress` receives percentages.
    """
    report = _Progress(progress)
    task = _task_type(task_type)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
        raise ValueError("n_resamples must be a whole number ≥ 0 (0: no intervals).")
    if not math.isfinite(float(threshold)):
        raise ValueError("The decision threshold must be a finite number.")
    truth = _as_array("y_true", y_true)
    n = len(truth)
    if n == 0:
        raise ValueError("No rows to evaluate: y_true is empty.")
    if classes is not None and task != "multiclass":
        raise ValueError("classes applies to multiclass evaluations only.")
    groups = _segments(segments, n)
    value = _value_model(value_model, task)
    chart_seed, resample_seed = np.random.SeedSequence(seed).spawn(2)
    report(2)

    models = _models(task, truth, y_pred, score, proba, classes, threshold, value, groups, champion)
    report(20)

    resampler = _Resampler(n, n_resamples, resample_seed) if n_resamples else None
    plan = _rank_plan(models[0], groups, resampler)
    overall = [m.resampled(None, resampler, plan) for m in models]
    report(50)
    seg_results = [m.resampled(groups, resampler, plan) for m in models] if groups else None
    report(80)

    main = overall[0]
    metrics = {k: _estimate_from(main, k) for k in models[0].keys}
    segments_out: dict[str, SegmentResult] = {}
    if groups is not None and seg_results is not None:
        segments_out = {
            label: SegmentResult(
                rows=int(groups.counts[index]),
                metrics={k: _estimate_from(seg_results[0][index], k) for k in models[0].keys},
            )
            for index, label in enumerate(groups.labels)
        }
    comparison = None
    if len(models) == 2:
        comparison = {k: _difference(overall[0], overall[1], k) for k in models[0].keys}
    business = models[0].business_block(main) if value is not None else None
    result = EvaluationResult(
        task_type=task,
        rows=n,
        metrics=metrics,
        segments=segments_out,
        business_value=business,
        confusion_matrix=models[0].confusion(),
        comparison=comparison,
        charts=models[0].charts(np.random.default_rng(chart_seed)),
        method=_method(resampler, n_resamples, seed, plan) | getattr(models[0], "notes", {}),
    )
    report(100)
    return result


def _models(task, truth, y_pred, score, proba, classes, threshold, value, groups, champion):
    """The evaluated model, and the champion on the same rows when given: each holds the
    validated arrays of its task type and computes its metrics on any resample."""
    n = len(truth)
    if task == "regression":
        y = _numbers("y_true", truth)
        models = [_RegressionModel(y, _predictions_regression(y_pred, n), value)]
        if champion is not None:
            models.append(
                _RegressionModel(y, _predictions_regression(_get_pred(champion), n), value)
            )
    elif task == "binary":
        y = _binary_labels(truth)
        models = [
            _BinaryModel(y, *_binary_score(y_pred, score, proba, n), threshold, value, groups)
        ]
        if champion is not None:
            ch = _champion(champion)
            ch_score = _binary_score(ch.y_pred, ch.score, ch.proba, n, who="champion ")
            models.append(_BinaryModel(y, *ch_score, threshold, value, groups))
    else:
        labels = _label_codes_and_classes(truth, y_pred, proba, classes)
        models = [_MulticlassModel(labels, *_multiclass_prediction(labels, y_pred, proba, n))]
        if champion is not None:
            ch = _champion(champion)
            ch_pred = _multiclass_prediction(labels, ch.y_pred, ch.proba, n, who="champion ")
            models.append(_MulticlassModel(labels, *ch_pred))
    return models


# Input validation --------------------------------------------------------------------------


class _Progress:
    """Calls the callback with increasing whole percentages, never twice with one value."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self.callback = callback
        self.last = -1

    def __call__(self, percent: int) -> None:
        if self.callback is not None and percent > self.last:
            self.last = percent
            self.callback(percent)


def _task_type(task_type: str) -> str:
    if task_type in ("regression", "binary", "multiclass"):
        return task_type
    raise ValueError(f"Unknown task type “{task_type}”: use regression, binary or multiclass.")


def _as_array(name: str, values: Any, *, ndim: int = 1) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != ndim:
        shape = "one value per row" if ndim == 1 else "a table of rows × classes"
        raise ValueError(f"{name} must be {shape}; got an array of shape {array.shape}.")
    return array


def _check_length(name: str, array: np.ndarray, n: int) -> None:
    if len(array) != n:
        raise ValueError(f"y_true has {n} rows but {name} has {len(array)}: lengths must match.")


def _numbers(name: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must contain numbers only.") from None
    array = np.asarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} has a missing or infinite value (NaN/inf) at row {bad}.")
    return array


def _get_pred(champion: Any) -> Any:
    return _champion(champion).y_pred


def _champion(champion: Any) -> Predictions:
    if isinstance(champion, Predictions):
        return champion
    if isinstance(champion, Mapping):
        unknown = set(champion) - {"y_pred", "score", "proba"}
        if unknown:
            raise ValueError(f"Unknown champion fields: {', '.join(sorted(unknown))}.")
        return Predictions(**champion)
    raise ValueError("champion must be Predictions(y_pred=…, score=…, proba=…) or a mapping.")


def _predictions_regression(y_pred: Any, n: int) -> np.ndarray:
    if y_pred is None:
        raise ValueError("Regression needs y_pred, the predicted values.")
    predicted = _as_array("y_pred", y_pred)
    _check_length("y_pred", predicted, n)
    return _numbers("y_pred", predicted)


def _binary_labels(truth: np.ndarray) -> np.ndarray:
    if truth.dtype.kind == "b":
        return truth
    y = _numbers("y_true", truth)
    if not np.isin(y, (0.0, 1.0)).all():
        seen = ", ".join(str(v) for v in np.unique(y)[:5])
        raise ValueError(f"Binary labels must be 0 or 1 (or booleans); y_true has {seen}.")
    return y == 1.0


def _binary_score(
    y_pred: Any, score: Any, proba: Any, n: int, *, who: str = ""
) -> tuple[np.ndarray, bool]:
    """The positive-class score and whether it is a probability (log loss, Brier)."""
    if proba is not None and score is not None:
        raise ValueError(f"Give the {who}score or the {who}proba, not both.")
    if proba is not None:
        array = _as_array(f"{who}proba", proba)
        _check_length(f"{who}proba", array, n)
        values = _numbers(f"{who}proba", array)
        if values.min() < 0.0 or values.max() > 1.0:
            raise ValueError(
                f"{who}proba must lie in [0, 1] (probabilities of the positive class)."
            )
        return values, True
    source = score if score is not None else y_pred
    name = f"{who}score" if score is not None else f"{who}y_pred"
    if source is None:
        raise ValueError(f"Binary evaluation needs the {who}proba, score or y_pred.")
    array = _as_array(name, source)
    _check_length(name, array, n)
    values = _numbers(name, array)
    if score is None:  # hard 0/1 predictions: no log loss, Brier or calibration from them
        return values, False
    return values, bool(values.min() >= 0.0 and values.max() <= 1.0)


@dataclass(frozen=True)
class _Groups:
    codes: np.ndarray  # segment index of each row
    labels: list[str]
    counts: np.ndarray


def _segments(segments: Any, n: int) -> _Groups | None:
    if segments is None:
        return None
    array = _as_array("segments", segments)
    _check_length("segments", array, n)
    codes, labels = _factorize("segments", array)
    if len(labels) > MAX_SEGMENTS:
        raise ValueError(
            f"The segment column has {len(labels):,} distinct values; at most "
            f"{MAX_SEGMENTS:,} are evaluated separately. Use a coarser segment (a region "
            "rather than a store, say)."
        )
    names = [str(label) for label in labels]
    if len(set(names)) != len(names):
        raise ValueError("Two segment labels read the same as text; use distinct labels.")
    dtype = np.int16 if len(labels) < 2**15 else np.int32  # small codes sort by radix
    return _Groups(codes.astype(dtype), names, np.bincount(codes, minlength=len(labels)))


def _factorize(name: str, values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Codes 0…k−1 of each value and the k distinct values, sorted."""
    kind = values.dtype.kind
    if kind in "US":  # a dict of the distinct texts beats np.unique's sort of every row
        values, kind = values.astype(object), "O"
    if kind == "b":
        values, kind = values.astype(np.int8), "i"
    if kind in "iu":
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * len(values) + 1024:  # counting beats sorting
            shifted = values.astype(np.int64) - low
            present = np.bincount(shifted, minlength=high - low + 1) > 0
            lookup = np.cumsum(present) - 1
            return lookup[shifted], (np.flatnonzero(present) + low).tolist()
    elif kind == "f":
        if np.isnan(values).any():
            raise ValueError(f"{name} has missing values (NaN).")
    elif kind == "O":
        index: dict[Any, int] = {}
        codes = np.fromiter(
            (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
        )
        found = list(index)
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in found):
            raise ValueError(f"{name} has missing values (None/NaN).")
        try:
            order = sorted(range(len(found)), key=found.__getitem__)
        except TypeError:
            raise ValueError(f"{name} mixes labels of different types.") from None
        rank = np.empty(len(found), dtype=np.int64)
        rank[order] = np.arange(len(found))
        return rank[codes], [found[i] for i in order]
    elif kind not in "USM":
        raise ValueError(f"{name} must hold numbers or text labels.")
    labels, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), labels.tolist()


@dataclass(frozen=True)
class _Labels:
    true_codes: np.ndarray
    classes: list[Any]
    lookup: Callable[[np.ndarray, str], np.ndarray]  # label array → codes (ValueError if unknown)


def _label_codes_and_classes(truth: np.ndarray, y_pred: Any, proba: Any, classes: Any) -> _Labels:
    if truth.dtype.kind == "f" and np.isnan(truth).any():
        raise ValueError("y_true has missing labels (NaN).")
    if classes is None:
        if y_pred is not None:
            predicted = _as_array("y_pred", y_pred)
            _check_length("y_pred", predicted, len(truth))
            both = np.concatenate([truth, predicted]) if predicted.dtype == truth.dtype else None
            if both is None:
                both = np.concatenate([truth.astype(object), predicted.astype(object)])
            _, found = _factorize("labels", both)
        else:
            _, found = _factorize("y_true", truth)
        classes_list = found
    else:
        classes_list = list(np.asarray(classes).tolist())
        if len(set(classes_list)) != len(classes_list):
            raise ValueError("classes must not repeat a label.")
    if len(classes_list) < 2:
        raise ValueError("Multiclass evaluation needs at least two classes.")
    position = {label: i for i, label in enumerate(classes_list)}

    def lookup(values: np.ndarray, name: str) -> np.ndarray:
        codes, found = _factorize(name, values)
        mapping = np.array([position.get(v, -1) for v in found], dtype=np.int64)
        if (mapping < 0).any():
            unknown = ", ".join(str(v) for v, c in zip(found, mapping, strict=True) if c < 0)
            raise ValueError(f"{name} has labels that are not among the classes: {unknown}.")
        return mapping[codes]

    return _Labels(lookup(truth, "y_true"), classes_list, lookup)


def _multiclass_prediction(
    labels: _Labels, y_pred: Any, proba: Any, n: int, *, who: str = ""
) -> tuple[np.ndarray, np.ndarray | None]:
    k = len(labels.classes)
    probabilities = None
    if proba is not None:
        probabilities = np.asarray(_as_array(f"{who}proba", proba, ndim=2), dtype=np.float64)
        _check_length(f"{who}proba", probabilities, n)
        if probabilities.shape[1] != k:
            raise ValueError(
                f"{who}proba has {probabilities.shape[1]} columns but there are {k} classes; "
                "give classes in the order of the columns."
            )
        if not np.isfinite(probabilities).all():
            raise ValueError(f"{who}proba has missing or infinite values (NaN/inf).")
        if probabilities.min() < 0.0 or probabilities.max() > 1.0:
            raise ValueError(f"{who}proba must lie in [0, 1] (class probabilities).")
    if y_pred is not None:
        predicted = _as_array(f"{who}y_pred", y_pred)
        _check_length(f"{who}y_pred", predicted, n)
        if predicted.dtype.kind == "f" and np.isnan(predicted).any():
            raise ValueError(f"{who}y_pred has missing labels (NaN).")
        pred_codes = labels.lookup(predicted, f"{who}y_pred")
    elif probabilities is not None:
        pred_codes = np.argmax(probabilities, axis=1)
    else:
        raise ValueError(f"Multiclass evaluation needs the {who}y_pred or the {who}proba.")
    return pred_codes, probabilities


def _value_model(value_model: Any, task: str) -> ValueModel | None:
    if value_model is None or task == "multiclass":
        return None
    names = (
        ("cost_per_unit_under", "cost_per_unit_over")
        if task == "regression"
        else (
            "value_true_positive",
            "value_true_negative",
            "cost_false_positive",
            "cost_false_negative",
        )
    )
    values: dict[str, float] = {}
    for name in names:
        raw = (
            value_model.get(name)
            if isinstance(value_model, Mapping)
            else getattr(value_model, name, None)
        )
        if raw is None:
            raise ValueError(f"The value model needs {name} for a {task} use case.")
        number = float(raw)
        if not math.isfinite(number):
            raise ValueError(f"The value model's {name} must be a finite number.")
        values[name] = number
    return ValueModel(**values)


# Resampling --------------------------------------------------------------------------------


class _Resampler:
    """The resample weights: per row up to EXACT_ROWS rows, per random bucket above."""

    def __init__(self, n: int, n_resamples: int, seed: np.random.SeedSequence) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.count = n, n_resamples
        self.exact = n <= EXACT_ROWS
        self.m = n if self.exact else BUCKETS
        self.bucket = None if self.exact else rng.integers(0, self.m, n)
        # Multinomial(m, 1/m) draw counts per resample, built from drawn indices in blocks.
        self.weights = np.empty((n_resamples, self.m), dtype=np.uint16)
        block = max(1, _CHUNK_CELLS // self.m)
        for start in range(0, n_resamples, block):
            stop = min(n_resamples, start + block)
            draws = rng.integers(0, self.m, size=(stop - start, self.m))
            draws += np.arange(stop - start)[:, None] * self.m
            counts = np.bincount(draws.ravel(), minlength=(stop - start) * self.m)
            self.weights[start:stop] = counts.reshape(stop - start, self.m)
        self._float = self.weights.astype(np.float64) if self.weights.size <= _CHUNK_CELLS else None

    def column_blocks(self, columns: np.ndarray | None) -> Iterator[tuple[slice, np.ndarray]]:
        """Blocks of resamples: (which resamples, their float weights of `columns`)."""
        width = self.m if columns is None else len(columns)
        if self._float is not None and columns is None:
            yield slice(0, self.count), self._float
            return
        block = max(1, _CHUNK_CELLS // max(width, 1))
        for start in range(0, self.count, block):
            rows = slice(start, min(self.count, start + block))
            chunk = self.weights[rows] if columns is None else self.weights[rows][:, columns]
            yield rows, chunk.astype(np.float64)

    def row_blocks(self, rows: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """Blocks of resamples: the weight of each of `rows` (its bucket's weight)."""
        return self.column_blocks(rows if self.bucket is None else self.bucket[rows])

    def product(self, sums: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """Resampled totals: weights (R × m, or the given columns) @ sums (m × k)."""
        out = np.empty((self.count, sums.shape[1]))
        for rows, weights in self.column_blocks(columns):
            np.matmul(weights, sums, out=out[rows])
        return out

    def overall(self, sums_fn: Callable[[np.ndarray, int, str], np.ndarray]) -> np.ndarray:
        """(R × k) resampled sums over all rows."""
        key = np.arange(self.n) if self.bucket is None else self.bucket
        return self.product(sums_fn(key, self.m, "overall"))

    def by_segment(self, sums_fn: Callable, groups: _Groups) -> list[np.ndarray]:
        """Per segment, (R × k) resampled sums over its rows."""
        s = len(groups.labels)
        if self.bucket is None:
            table = sums_fn(np.arange(self.n), self.n, "segment")
            rows = np.argsort(groups.codes, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(groups.counts)])
            return [
                self.product(table[rows[a:b]], rows[a:b])
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        key = groups.codes.astype(np.int64) * self.m + self.bucket
        table = sums_fn(key, s * self.m, "segment")
        k = table.shape[1]
        wide = table.reshape(s, self.m, k).transpose(1, 0, 2).reshape(self.m, s * k)
        resampled = self.product(wide).reshape(self.count, s, k)
        return [resampled[:, i, :] for i in range(s)]


def _percentiles(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column; NaN where under half the resamples define the metric."""
    tail = (1.0 - CONFIDENCE) / 2.0
    finite = np.isfinite(samples)
    if finite.all():
        low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
        return low, high
    low = np.full(samples.shape[1], np.nan)
    high = np.full(samples.shape[1], np.nan)
    for j in range(samples.shape[1]):
        column = samples[finite[:, j], j]
        if len(column) * 2 >= len(samples) and len(column):
            low[j], high[j] = np.quantile(column, [tail, 1.0 - tail])
    return low, high


def _number(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class _Figures:
    """Point values and, when resampled, the (R,) resampled values of each metric."""

    point: dict[str, float]
    samples: dict[str, np.ndarray] | None
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def _finish(point: dict[str, Any], samples: dict[str, np.ndarray] | None) -> _Figures:
    figures = _Figures({k: float(np.asarray(v).reshape(-1)[0]) for k, v in point.items()}, samples)
    if samples:
        keys = list(samples)
        low, high = _percentiles(np.column_stack([samples[k] for k in keys]))
        figures.intervals = {k: (low[i], high[i]) for i, k in enumerate(keys)}
    return figures


def _estimate_from(figures: _Figures, key: str) -> Estimate:
    value = _number(figures.point[key])
    low, high = figures.intervals.get(key, (math.nan, math.nan))
    if value is None:
        return Estimate(None)
    return Estimate(value, _number(low), _number(high))


def _difference(challenger: _Figures, champion: _Figures, key: str) -> Difference:
    a, b = _number(challenger.point[key]), _number(champion.point[key])
    if a is None or b is None:
        return Difference(a, b, None)
    if not challenger.samples or not champion.samples:
        return Difference(a, b, a - b)
    delta = challenger.samples[key] - champion.samples[key]
    delta = delta[np.isfinite(delta)]
    if len(delta) * 2 < len(challenger.samples[key]):
        return Difference(a, b, a - b)
    tail = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(delta, [tail, 1.0 - tail])
    below, above = int((delta <= 0).sum()), int((delta >= 0).sum())
    p = min(1.0, 2.0 * (min(below, above) + 1) / (len(delta) + 1))
    return Difference(a, b, a - b, float(low), float(high), p)


def _method(resampler: _Resampler | None, n_resamples: int, seed: int, plan: dict) -> dict:
    if resampler is None:
        return {"intervals": None}
    return {
        "intervals": "percentile bootstrap",
        "confidence": CONFIDENCE,
        "resamples": n_resamples,
        "seed": seed,
        "scheme": "rows" if resampler.exact else "buckets",
        "buckets": None if resampler.exact else resampler.m,
        "rank_metrics": {"overall": plan.get(None)} if plan else None,
    }


# Models: per-row terms whose sums give every metric ----------------------------------------


def _bin_sums(columns: list[np.ndarray], key: np.ndarray, size: int) -> np.ndarray:
    """(size × k): the sum of each term column per key value."""
    return np.column_stack([np.bincount(key, weights=c, minlength=size) for c in columns])


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom, NaN where bottom is 0 (the metric is undefined there)."""
    out = np.full(np.broadcast(top, bottom).shape, np.nan)
    np.divide(top, bottom, out=out, where=bottom != 0)
    return out


class _Model:
    """One model's outputs on the rows. Subclasses give the term columns and the metrics as
    functions of their sums; resampling multiplies weights by per-bucket sums."""

    keys: tuple[str, ...]
    n: int
    group_rows: dict[int | None, int]  # rows of the whole table (None) and of each segment

    def sums(self, key: np.ndarray, size: int, kind: str) -> np.ndarray:
        return _bin_sums(self.columns(kind), key, size)

    def columns(self, kind: str) -> list[np.ndarray]:
        raise NotImplementedError

    def compute(self, sums: np.ndarray, group: int | None) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def exact_rank(
        self, rows: np.ndarray | None, group: int | None, resampler: _Resampler
    ) -> dict[str, np.ndarray]:
        return {}

    def exact_point(self, group: int | None) -> dict[str, float]:
        return {}

    def resampled(
        self, groups: _Groups | None, resampler: _Resampler | None, plan: dict
    ) -> _Figures | list[_Figures]:
        self.group_rows = {None: self.n}
        if groups is not None:
            self.group_rows.update({i: int(k) for i, k in enumerate(groups.counts)})
        if groups is None:
            point = self.compute(self.sums(np.zeros(self.n, np.int64), 1, "overall"), None)
            point.update(self.exact_point(None))
            samples = None
            if resampler is not None:
                samples = self.compute(resampler.overall(self.sums), None)
                if plan.get(None) == "exact":
                    samples.update(self.exact_rank(None, None, resampler))
            return _finish(point, samples)
        count = len(groups.labels)
        table = self.sums(groups.codes, count, "segment")
        resampled = resampler.by_segment(self.sums, groups) if resampler is not None else None
        order = np.argsort(groups.codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(groups.counts)])
        out = []
        for i in range(count):
            point = self.compute(table[i : i + 1], i)
            point.update(self.exact_point(i))
            samples = None
            if resampled is not None:
                samples = self.compute(resampled[i], i)
                if plan.get(i) == "exact":
                    rows = np.sort(order[bounds[i] : bounds[i + 1]])
                    samples.update(self.exact_rank(rows, i, resampler))
            out.append(_finish(point, samples))
        return out

    def business_block(self, figures: _Figures) -> dict[str, Any]:
        total = _estimate_from(figures, "business_value")
        scale = 1.0 / self.n
        per_row = Estimate(
            None if total.value is None else total.value * scale,
            None if total.low is None else total.low * scale,
            None if total.high is None else total.high * scale,
        )
        return {"total": total, "per_row": per_row}

    def confusion(self) -> dict[str, Any] | None:
        return None

    def charts(self, rng: np.random.Generator) -> dict[str, Any]:
        return {}


class _RegressionModel(_Model):
    """MAE, RMSE, MAPE (a fraction, over the rows whose actual is not 0), WAPE, bias (mean of
    predicted − actual) and the business value: −(cost under × units short + cost over ×
    units over), a total."""

    def __init__(self, y: np.ndarray, predicted: np.ndarray, value: ValueModel | None) -> None:
        self.n = len(y)
        self.y, self.predicted, self.value = y, predicted, value
        error = predicted - y
        self.error = error
        self._columns = [
            np.ones(self.n),
            error,
            np.abs(error),
            error * error,
            np.abs(y),
            # MAPE skips rows whose actual is 0 (their percentage error is undefined, and
            # scikit-learn's ε-division would turn one such row into a 10¹⁵ error).
            np.divide(np.abs(error), np.abs(y), out=np.zeros(self.n), where=y != 0),
            (y != 0).astype(np.float64),
        ]
        self.notes = {"mape_rows_without_actual": int(self.n - np.count_nonzero(y))}
        if value is not None:
            self._columns.append(
                -(
                    value.cost_per_unit_under * np.maximum(-error, 0.0)
                    + value.cost_per_unit_over * np.maximum(error, 0.0)
                )
            )
        self.keys = ("mae", "rmse", "mape", "wape", "bias") + (
            ("business_value",) if value is not None else ()
        )

    def columns(self, kind: str) -> list[np.ndarray]:
        return self._columns

    def compute(self, sums: np.ndarray, group: int | None) -> dict[str, np.ndarray]:
        c = sums[:, 0]
        out = {
            "mae": _ratio(sums[:, 2], c),
            "rmse": np.sqrt(_ratio(sums[:, 3], c)),
            "mape": _ratio(sums[:, 5], sums[:, 6]),
            "wape": _ratio(sums[:, 2], sums[:, 4]),
            "bias": _ratio(sums[:, 1], c),
        }
        if self.value is not None:  # a total: the group's rows × the (resampled) mean
            out["business_value"] = self.group_rows[group] * _ratio(sums[:, 7], c)
        return out

    def charts(self, rng: np.random.Generator) -> dict[str, Any]:
        sample = np.arange(self.n)
        if self.n > SCATTER_POINTS:
            sample = np.sort(rng.choice(self.n, SCATTER_POINTS, replace=False))
        counts, edges = np.histogram(self.error, bins=RESIDUAL_BINS)
        return {
            "scatter": {
                "actual": self.y[sample].tolist(),
                "predicted": self.predicted[sample].tolist(),
            },
            "residuals": {"edges": edges.tolist(), "counts": counts.tolist()},
        }


def _downsample(length: int, points: int = CURVE_POINTS) -> np.ndarray:
    """At most `points` evenly spread indices of 0…length−1, both ends included."""
    if length <= points:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, points).round().astype(np.int64))


def _rank_influence(
    score: np.ndarray, y: np.ndarray
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """ROC AUC and average precision (as scikit-learn, ties included) with each row's
    derivative dT/dw at equal row weights: the terms of their first-order (DeLong / influence
    function) expansion, T(w) ≈ T + Σ (w − 1)·dT/dw, whose sum over all rows is 0.

    One sort: rows in ascending score, counted per group of tied scores."""
    n = len(score)
    zeros = np.zeros(n)
    order = np.argsort(score, kind="stable")
    ranked, positive = score[order], y[order]
    start = np.concatenate([[True], ranked[1:] != ranked[:-1]])
    tie = np.cumsum(start) - 1  # each sorted row's tie group
    pos_in = np.bincount(tie, weights=positive).astype(np.float64)
    all_in = np.bincount(tie).astype(np.float64)
    pos_below = np.concatenate([[0.0], np.cumsum(pos_in)[:-1]])[tie]  # strictly lower scores
    all_below = np.concatenate([[0.0], np.cumsum(all_in)[:-1]])[tie]
    pos_tied, all_tied = pos_in[tie], all_in[tie]
    neg_below, neg_tied = all_below - pos_below, all_tied - pos_tied
    p = float(pos_in.sum())
    q = n - p
    if p == 0:
        return math.nan, math.nan, zeros, zeros
    # Average precision: the mean over positives of the precision at their score.
    at_least = n - all_below  # rows scored at least this row's score
    precision = (p - pos_below) / at_least
    ap = float(precision[positive].mean())
    # dAP/dw_j sums, over positives i scored at most s_j, (y_j − precision_i) / at_least_i.
    weight = np.where(positive, 1.0 / at_least, 0.0)
    cum_a = np.cumsum(weight)
    cum_b = np.cumsum(weight * precision)
    last = np.flatnonzero(np.concatenate([start[1:], [True]]))  # each tie group's last row
    a, b = cum_a[last][tie], cum_b[last][tie]
    g_ap = (np.where(positive, precision - ap + a, 0.0) - b) / p
    g_ap_rows = np.empty(n)
    g_ap_rows[order] = g_ap
    if q == 0:
        return math.nan, ap, zeros, g_ap_rows
    v10 = (neg_below + 0.5 * neg_tied) / q  # negatives scored below (ties ½)
    v01 = (p - pos_below - pos_tied + 0.5 * pos_tied) / p  # positives scored above
    auc = float(v10[positive].mean())
    g_auc = np.where(positive, (v10 - auc) / p, (v01 - auc) / q)
    g_auc_rows = np.empty(n)
    g_auc_rows[order] = g_auc
    return auc, ap, g_auc_rows, g_ap_rows


def _weighted_rank(
    score: np.ndarray, y: np.ndarray, blocks: Iterator[tuple[slice, np.ndarray]], count: int
) -> dict[str, np.ndarray]:
    """ROC AUC and average precision of each resample, exactly, from its row weights."""
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    starts = np.flatnonzero(np.concatenate([[True], ranked[1:] != ranked[:-1]]))
    positive = y[order].astype(np.float64)
    auc, ap = np.full(count, np.nan), np.full(count, np.nan)
    for rows, weights in blocks:
        w = weights[:, order]
        pos = np.add.reduceat(w * positive, starts, axis=1)
        neg = np.add.reduceat(w * (1.0 - positive), starts, axis=1)
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        p, q = tp[:, -1], fp[:, -1]
        auc[rows] = _ratio((pos * (q[:, None] - fp + 0.5 * neg)).sum(axis=1), p * q)
        precision = np.zeros_like(tp)
        np.divide(tp, tp + fp, out=precision, where=tp + fp > 0)
        ap[rows] = _ratio((pos * precision).sum(axis=1), p)
    return {"roc_auc": auc, "pr_auc": ap}


class _BinaryModel(_Model):
    """Accuracy, precision, recall, F1 at the decision threshold (positive when score ≥ it),
    ROC AUC, PR AUC (average precision), log loss and Brier (probabilities only) and the
    business value: value TP·TP + value TN·TN − cost FP·FP − cost FN·FN, a total."""

    def __init__(
        self,
        y: np.ndarray,
        score: np.ndarray,
        is_probability: bool,
        threshold: float,
        value: ValueModel | None,
        groups: _Groups | None,
    ) -> None:
        self.n = len(y)
        self.y, self.score, self.is_probability = y, score, is_probability
        self.threshold, self.value, self.groups = float(threshold), value, groups
        self._curve_cache: dict[str, np.ndarray] | None = None
        predicted = score >= self.threshold
        self.predicted = predicted
        base = [
            np.ones(self.n),
            y.astype(np.float64),
            predicted.astype(np.float64),
            (y & predicted).astype(np.float64),
        ]
        if is_probability:
            clipped = np.clip(score, _EPS, 1.0 - _EPS)
            base.append(-np.where(y, np.log(clipped), np.log1p(-clipped)))
            base.append((score - y) ** 2)
        self._base = base
        self.keys = (
            "accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "pr_auc",
            "log_loss",
            "brier",
        ) + (("business_value",) if value is not None else ())
        auc, ap, g_auc, g_ap = _rank_influence(score, y)
        self._rank = {None: (auc, ap)}
        positives = int(y.sum())
        self.minority: dict[int | None, int] = {None: min(positives, self.n - positives)}
        if groups is not None:
            seg_pos = np.bincount(groups.codes, weights=y, minlength=len(groups.labels))
            for i, (count, pos) in enumerate(zip(groups.counts, seg_pos, strict=True)):
                self.minority[i] = int(min(pos, count - pos))
        self._influence = {"overall": [g_auc, g_ap]}
        if groups is not None:
            seg_auc, seg_ap = np.zeros(self.n), np.zeros(self.n)
            order = np.argsort(groups.codes, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(groups.counts)])
            for i in range(len(groups.labels)):
                rows = order[bounds[i] : bounds[i + 1]]
                a, b, ga, gb = _rank_influence(score[rows], y[rows])
                self._rank[i] = (a, b)
                seg_auc[rows], seg_ap[rows] = ga, gb
            self._influence["segment"] = [seg_auc, seg_ap]

    def columns(self, kind: str) -> list[np.ndarray]:
        return self._base + self._influence[kind]

    def compute(self, sums: np.ndarray, group: int | None) -> dict[str, np.ndarray]:
        c, positives, predicted, tp = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3]
        fp, fn = predicted - tp, positives - tp
        tn = c - tp - fp - fn
        rows = self.group_rows[group]
        auc, ap = self._rank[group]
        out = {
            "accuracy": _ratio(tp + tn, c),
            "precision": _ratio(tp, predicted),
            "recall": _ratio(tp, positives),
            "f1": _ratio(2.0 * tp, positives + predicted),
            # First-order expansions, kept inside the metrics' range [0, 1].
            "roc_auc": np.clip(auc + rows * _ratio(sums[:, -2], c), 0.0, 1.0),
            "pr_auc": np.clip(ap + rows * _ratio(sums[:, -1], c), 0.0, 1.0),
            "log_loss": _ratio(sums[:, 4], c) if self.is_probability else np.full(len(c), np.nan),
            "brier": _ratio(sums[:, 5], c) if self.is_probability else np.full(len(c), np.nan),
        }
        if self.value is not None:
            v = self.value
            total = (
                v.value_true_positive * tp
                + v.value_true_negative * tn
                - v.cost_false_positive * fp
                - v.cost_false_negative * fn
            )
            out["business_value"] = rows * _ratio(total, c)
        return out

    def exact_point(self, group: int | None) -> dict[str, float]:
        auc, ap = self._rank[group]
        return {"roc_auc": auc, "pr_auc": ap}

    def exact_rank(
        self, rows: np.ndarray | None, group: int | None, resampler: _Resampler
    ) -> dict[str, np.ndarray]:
        if rows is None:
            rows = np.arange(self.n)
        samples = _weighted_rank(
            self.score[rows], self.y[rows], resampler.row_blocks(rows), resampler.count
        )
        auc, ap = self._rank[group]
        if math.isnan(auc):  # undefined on the data: not "defined on some resamples"
            samples["roc_auc"][:] = np.nan
        if math.isnan(ap):
            samples["pr_auc"][:] = np.nan
        return samples

    def _curve(self) -> dict[str, np.ndarray]:
        """Cumulative positives and negatives at each distinct score, highest first."""
        if self._curve_cache is None:
            self._curve_cache = self._compute_curve()
        return self._curve_cache

    def _compute_curve(self) -> dict[str, np.ndarray]:
        order = np.argsort(-self.score, kind="stable")
        ranked = self.score[order]
        last = np.flatnonzero(np.concatenate([ranked[1:] != ranked[:-1], [True]]))
        tp = np.cumsum(self.y[order])[last].astype(np.float64)
        fp = (last + 1) - tp
        return {"threshold": ranked[last], "tp": tp, "fp": fp}

    def _totals(self, tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
        v = self.value
        p, q = float(self.y.sum()), float(self.n - self.y.sum())
        return (
            v.value_true_positive * tp
            + v.value_true_negative * (q - fp)
            - v.cost_false_positive * fp
            - v.cost_false_negative * (p - tp)
        )

    def business_block(self, figures: _Figures) -> dict[str, Any]:
        block = super().business_block(figures)
        curve = self._curve()
        # Predict positive at score ≥ each distinct score, or never (above the highest).
        tp = np.concatenate([[0.0], curve["tp"]])
        fp = np.concatenate([[0.0], curve["fp"]])
        thresholds = np.concatenate(
            [[float(np.nextafter(curve["threshold"][0], np.inf))], curve["threshold"]]
        )
        totals = self._totals(tp, fp)
        best = int(np.argmax(totals))
        block.update(
            threshold=self.threshold,
            best_threshold=float(thresholds[best]),
            best_total=float(totals[best]),
        )
        return block

    def confusion(self) -> dict[str, Any]:
        y, predicted = self.y, self.predicted
        tp = int((y & predicted).sum())
        fp = int((~y & predicted).sum())
        fn = int((y & ~predicted).sum())
        tn = self.n - tp - fp - fn
        return {"labels": ["0", "1"], "matrix": [[tn, fp], [fn, tp]]}

    def charts(self, rng: np.random.Generator) -> dict[str, Any]:
        curve = self._curve()
        tp, fp = curve["tp"], curve["fp"]
        p, q = float(self.y.sum()), float(self.n - self.y.sum())
        out: dict[str, Any] = {}
        if p and q:
            fpr = np.concatenate([[0.0], fp / q])
            tpr = np.concatenate([[0.0], tp / p])
            keep = _downsample(len(fpr))
            out["roc"] = {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}
        if p:
            keep = _downsample(len(tp))
            out["pr"] = {
                "recall": (tp / p)[keep].tolist(),
                "precision": (tp / (tp + fp))[keep].tolist(),
            }
        if self.is_probability:
            bins = np.minimum(
                (self.score * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1
            )
            rows = np.bincount(bins, minlength=CALIBRATION_BINS)
            predicted = np.bincount(bins, weights=self.score, minlength=CALIBRATION_BINS)
            observed = np.bincount(
                bins, weights=self.y.astype(np.float64), minlength=CALIBRATION_BINS
            )
            filled = rows > 0
            out["calibration"] = {
                "predicted": (predicted[filled] / rows[filled]).tolist(),
                "observed": (observed[filled] / rows[filled]).tolist(),
                "rows": rows[filled].tolist(),
            }
        if self.value is not None:
            keep = _downsample(len(tp))
            out["value_by_threshold"] = {
                "threshold": curve["threshold"][keep].tolist(),
                "total": self._totals(tp, fp)[keep].tolist(),
            }
        return out


class _MulticlassModel(_Model):
    """Accuracy, macro precision, recall and F1 over the classes (a class never predicted or
    never present counts 0, as scikit-learn's default) and log loss with class probabilities."""

    def __init__(self, labels: _Labels, predicted: np.ndarray, proba: np.ndarray | None) -> None:
        self.truth, self.predicted = labels.true_codes, predicted
        self.classes = labels.classes
        self.k = len(self.classes)
        self.n = len(self.truth)
        self.keys = ("accuracy", "precision", "recall", "f1", "log_loss")
        self.loss = None
        if proba is not None:
            chosen = proba[np.arange(self.n), self.truth]
            self.loss = -np.log(np.clip(chosen, _EPS, 1.0 - _EPS))
        self.correct = (self.truth == predicted).astype(np.float64)

    def sums(self, key: np.ndarray, size: int, kind: str) -> np.ndarray:
        """Columns: rows, correct, log loss, then per class: actual, predicted, true positives."""
        key = key.astype(np.int64)
        k = self.k
        plain = [np.ones(self.n), self.correct, self.loss if self.loss is not None else None]
        first = _bin_sums([c for c in plain if c is not None], key, size)
        if self.loss is None:
            first = np.column_stack([first, np.zeros(size)])
        actual = np.bincount(key * k + self.truth, minlength=size * k).reshape(size, k)
        predicted = np.bincount(key * k + self.predicted, minlength=size * k).reshape(size, k)
        hits = np.bincount(key * k + self.truth, weights=self.correct, minlength=size * k).reshape(
            size, k
        )
        return np.column_stack([first, actual, predicted, hits]).astype(np.float64)

    def compute(self, sums: np.ndarray, group: int | None) -> dict[str, np.ndarray]:
        k = self.k
        c, correct = sums[:, 0], sums[:, 1]
        actual, predicted, hits = (
            sums[:, 3 : 3 + k],
            sums[:, 3 + k : 3 + 2 * k],
            sums[:, 3 + 2 * k :],
        )
        precision = np.nan_to_num(_ratio(hits, predicted))
        recall = np.nan_to_num(_ratio(hits, actual))
        f1 = np.nan_to_num(_ratio(2.0 * hits, actual + predicted))
        return {
            "accuracy": _ratio(correct, c),
            "precision": precision.mean(axis=1),
            "recall": recall.mean(axis=1),
            "f1": f1.mean(axis=1),
            "log_loss": _ratio(sums[:, 2], c) if self.loss is not None else np.full(len(c), np.nan),
        }

    def confusion(self) -> dict[str, Any]:
        matrix = np.bincount(self.truth * self.k + self.predicted, minlength=self.k * self.k)
        return {
            "labels": [str(label) for label in self.classes],
            "matrix": matrix.reshape(self.k, self.k).tolist(),
        }


def _rank_plan(model: _Model, groups: _Groups | None, resampler: _Resampler | None) -> dict:
    """Which groups (None: the whole table; i: segment i) get exact resampled ROC AUC and
    PR AUC ("exact") and which their first-order expansion ("linear"): exact up to
    EXACT_ROWS rows, or at any size with fewer than MIN_CLASS_FOR_LINEAR positives or
    negatives, within EXACT_CELLS resample × row cells in all (those groups first)."""
    if resampler is None or not isinstance(model, _BinaryModel):
        return {}
    sizes = [(None, model.n)]
    if groups is not None:
        sizes += [(i, int(count)) for i, count in enumerate(groups.counts)]

    # Groups with few positives or negatives first: there the expansion is poorest (it can
    # even leave [0, 1]); then the smallest groups.
    def need(item: tuple[int | None, int]) -> tuple[bool, int]:
        return (model.minority[item[0]] >= MIN_CLASS_FOR_LINEAR, item[1])

    budget, plan = EXACT_CELLS, {}
    for group, rows in sorted(sizes, key=need):
        cells = rows * resampler.count
        few = model.minority[group] < MIN_CLASS_FOR_LINEAR
        if (rows <= EXACT_ROWS or few) and cells <= budget:
            plan[group], budget = "exact", budget - cells
        else:
            plan[group] = "linear"
    return plan
