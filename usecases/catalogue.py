"""The one catalogue of metrics, task types and feature types, and how a metric's value reads.

Every list of metrics, task types or feature types in the code derives from here.
"""

from __future__ import annotations

from django.db import models

from portal.formatting import DASH, MINUS, decimals_shown, format_money, format_number, signed


class TaskType(models.TextChoices):
    REGRESSION = "regression", "Regression / forecasting"
    BINARY = "binary", "Binary classification"
    MULTICLASS = "multiclass", "Multiclass classification"


# The types a feature of a use case's schema may have (tables/casts.py casts each).
FEATURE_TYPES = ("number", "integer", "string", "boolean", "category", "datetime")


class Metric(models.TextChoices):
    """The metric catalogue (DESIGN.md); which task types each applies to is below."""

    MAE = "mae", "MAE"
    RMSE = "rmse", "RMSE"
    MAPE = "mape", "MAPE"
    WAPE = "wape", "WAPE"
    BIAS = "bias", "Bias"
    ACCURACY = "accuracy", "Accuracy"
    PRECISION = "precision", "Precision"
    RECALL = "recall", "Recall"
    F1 = "f1", "F1"
    ROC_AUC = "roc_auc", "ROC AUC"
    PR_AUC = "pr_auc", "PR AUC"
    LOG_LOSS = "log_loss", "Log loss"
    BRIER = "brier", "Brier score"
    BUSINESS_VALUE = "business_value", "Business value"


_R, _B, _M = TaskType.REGRESSION, TaskType.BINARY, TaskType.MULTICLASS
METRIC_TASK_TYPES: dict[str, set[str]] = {
    Metric.MAE: {_R},
    Metric.RMSE: {_R},
    Metric.MAPE: {_R},
    Metric.WAPE: {_R},
    Metric.BIAS: {_R},
    Metric.ACCURACY: {_B, _M},
    Metric.PRECISION: {_B, _M},
    Metric.RECALL: {_B, _M},
    Metric.F1: {_B, _M},
    Metric.ROC_AUC: {_B},
    Metric.PR_AUC: {_B},
    Metric.LOG_LOSS: {_B, _M},
    Metric.BRIER: {_B},
    Metric.BUSINESS_VALUE: {_R, _B, _M},
}
# Errors and losses: lower is better. Bias is best at zero; its KPI compares |bias|.
LOWER_IS_BETTER = {
    Metric.MAE,
    Metric.RMSE,
    Metric.MAPE,
    Metric.WAPE,
    Metric.BIAS,
    Metric.LOG_LOSS,
    Metric.BRIER,
}

PERCENT_METRICS = {Metric.MAPE, Metric.WAPE}  # stored as fractions (0.12 = 12 %), as in sklearn
UNIT_INTERVAL_METRICS = {
    Metric.ACCURACY,
    Metric.PRECISION,
    Metric.RECALL,
    Metric.F1,
    Metric.ROC_AUC,
    Metric.PR_AUC,
    Metric.BRIER,
}


def format_metric(
    metric: str, value: float | None, currency: str = "", *, like: float | None = None
) -> str:
    """A metric's value in its unit: MAPE and WAPE in %, business value in money; `like`
    (an interval's estimate) sets the decimals of plain numbers."""
    if value is None:
        return DASH
    if metric in PERCENT_METRICS:
        return signed(f"{value * 100:,.1f}") + " %"
    if metric == "business_value":
        return format_money(value, currency)
    if metric in UNIT_INTERVAL_METRICS:
        return signed(f"{value:.3f}")
    return format_number(value, decimals_shown(like) if like is not None else None)


def format_difference(
    metric: str, value: float | None, currency: str = "", *, like: float | None = None
) -> str:
    """A signed difference: +0.012, −1.5 pp (percentage points), +1,200 EUR."""
    if value is None:
        return DASH
    if metric in PERCENT_METRICS:
        return signed(f"{value * 100:+,.1f}") + " pp"
    if metric == "business_value":
        text = format_money(value, currency)
    else:
        text = format_metric(metric, value, like=like)
    return text if text.startswith(MINUS) else "+" + text
