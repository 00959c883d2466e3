"""Reads of the prediction log for other apps' pages and gates."""

from __future__ import annotations

from predictions.models import QualityTally
from registry.models import ModelVersion


def violation_rate(model_version: ModelVersion) -> dict:
    """The data-quality violation rate of the version's logged predictions, from its tally
    (QualityTally says what counts): {"rows": stored rows checked, "violating": rows
    breaking at least one row-level error rule, "rate": violating / rows, or None when no
    row was logged}. One query; 0 rows when nothing was ever logged."""
    counts = (
        QualityTally.objects.filter(model_version_id=model_version.pk)
        .values_list("rows_checked", "rows_violating")
        .first()
    )
    rows, violating = counts or (0, 0)
    return {"rows": rows, "violating": violating, "rate": violating / rows if rows else None}
