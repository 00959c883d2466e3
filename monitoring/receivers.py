"""Receivers of the signals of apps below (connected in apps.py): each a thin caller."""

from __future__ import annotations

import datetime

from django.dispatch import receiver

from predictions.services.ingest import outcomes_attached
from promotions.signals import stages_changed


@receiver(outcomes_attached, dispatch_uid="monitoring.recompute_on_late_outcomes")
def recompute_on_late_outcomes(sender, *, days: list[tuple[int, datetime.date]], **kwargs) -> None:
    """Outcomes arrived for predictions of past days: those days are computed again."""
    from monitoring.services import jobs

    jobs.request_late_days(days)


@receiver(stages_changed, dispatch_uid="monitoring.close_alerts_on_stage_change")
def close_alerts_on_stage_change(
    sender, *, use_case_id: int, change_ids: list[int], **kwargs
) -> None:
    """A promotion or rollback executed: alerts of versions it took out of deployment close."""
    from monitoring.services import alerts
    from promotions.models import StageChange

    moved = StageChange.objects.filter(pk__in=change_ids).values_list("model_version_id", flat=True)
    alerts.close_undeployed_alerts(use_case_id, sorted(set(moved)))
