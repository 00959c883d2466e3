"""Reads of the prediction log for other apps' pages and gates."""

from __future__ import annotations

from django.db import connection

from predictions.models import Prediction, QualityTally
from registry.models import ModelVersion

# A version's distinct segments by a skip scan of the (model_version, segment, …) index: one
# probe per segment instead of reading every row (PostgreSQL has no skip scan of its own).
SEGMENTS_SKIP_SCAN = """
    WITH RECURSIVE segments(segment) AS (
        (SELECT segment FROM {table} WHERE model_version_id = %(version)s
         ORDER BY segment LIMIT 1)
        UNION ALL
        SELECT (SELECT p.segment FROM {table} p
                WHERE p.model_version_id = %(version)s AND p.segment > segments.segment
                ORDER BY p.segment LIMIT 1)
        FROM segments WHERE segments.segment IS NOT NULL
    )
    SELECT segment FROM segments WHERE segment IS NOT NULL
"""


def logged_segments(use_case_id: int) -> set[str]:
    """The distinct non-blank segments of the use case's logged predictions."""
    versions = list(
        ModelVersion.objects.filter(use_case_id=use_case_id).values_list("pk", flat=True)
    )
    if connection.vendor != "postgresql":
        rows = Prediction.objects.filter(model_version_id__in=versions).order_by()
        found = set(rows.values_list("segment", flat=True).distinct())
    else:
        found = set()
        query = SEGMENTS_SKIP_SCAN.format(table=Prediction._meta.db_table)
        with connection.cursor() as cursor:
            for version in versions:
                cursor.execute(query, {"version": version})
                found.update(segment for (segment,) in cursor.fetchall())
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
