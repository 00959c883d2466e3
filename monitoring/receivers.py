"""Receivers of the signals of apps below (connected in apps.py): each a thin caller."""

from __future__ import annotations

import datetime

from django.dispatch import receiver

from predictions.services.ingest import outcomes_attached


@receiver(outcomes_attached, dispatch_uid="monitoring.recompute_on_late_outcomes")
def recompute_on_late_outcomes(sender, *, days: list[tuple[int, datetime.date]], **kwargs) -> None:
    """Outcomes arrived for predictions of past days: those days are computed again."""
    from monitoring.services import jobs

    jobs.request_late_days(days)
