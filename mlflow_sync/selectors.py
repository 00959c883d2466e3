"""Reads of the MLflow link shared by its page and its API."""

from __future__ import annotations

from django.db.models import Count, Q

from mlflow_sync.models import MlflowLink


def version_counts(link: MlflowLink) -> dict[str, int]:
    """Versions imported through the link, and of them those marked deleted in MLflow."""
    if link.pk is None:
        return {"imported": 0, "deleted_in_mlflow": 0}
    return link.versions.aggregate(
        imported=Count("pk"), deleted_in_mlflow=Count("pk", filter=Q(deleted_at__isnull=False))
    )
