"""The one catalogue of metrics, task types and feature types, and how a metric's value reads.

Every list of metrics, task types or feature types in the code derives from here.
"""

from __future__ import annotations

from portal.formatting import DASH, MINUS, decimals_shown, format_money, format_number, signed

PERCENT_METRICS = {"mape", "wape"}  # stored as fractions (0.12 = 12 %), as in scikit-learn
UNIT_INTERVAL_METRICS = {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier"}


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
