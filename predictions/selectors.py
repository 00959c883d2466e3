"""Reads of the prediction log for other apps' pages and gates."""

from __future__ import annotations

from predictions.models import QualityTally, SegmentCount
from registry.models import ModelVersion


def logged_segments(use_case_id: int) -> set[str]:
    """The distinct non-blank segments of the use case's logged predictions, from the
    per-day counts (SegmentCount, a few rows per version and day): one small query."""
    counts = SegmentCount.objects.filter(model_version__use_case_id=use_case_id)
    found = counts.order_by().values_list("segment", flat=True).distinct()
    return {segment for segment in found if segment and segment.strip()}


def violation_rate(model_version: ModelVersion) -> dict:
    """The data-quality violation rate of the version's logged predictions, from its tally
    (QualityTally says what counts): {"rows": stored rows checked, "violating": rows
    breaking at least one row-level error rule, "rate": violating / rows, or None when no
    row was logged, "rules_changed_at": the use case's last rule change if the tally counted
    with older rules (being recounted, predictions/tasks.py), else None}. One query; 0 rows
    when nothing was ever logged."""
    found = (
        QualityTally.objects.filter(model_version_id=model_version.pk)
        .values_list("rows_checked", "rows_violating", "rules_as_of", "use_case__rules_changed_at")
        .first()
    )
    rows, violating, as_of, changed = found or (0, 0, None, None)
    stale = changed if changed is not None and as_of is not None and as_of < changed else None
    return {
        "rows": rows,
        "violating": violating,
        "rate": violating / rows if rows else None,
        "rules_changed_at": stale,
    }
