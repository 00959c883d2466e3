"""Receivers of the use cases' signals (usecases/events.py), connected in apps.py: each a
thin caller of a task."""

from __future__ import annotations

from django.dispatch import receiver

from usecases import events


@receiver(events.rules_changed, dispatch_uid="predictions.recount_on_rules_changed")
def recount_on_rules_changed(sender, *, use_case_id: int, **kwargs) -> None:
    """The tallies counted with the old rules are recounted by a worker."""
    from predictions.tasks import recount_quality_task

    recount_quality_task.delay(use_case_id)


@receiver(events.segments_requested, dispatch_uid="predictions.logged_segments")
def logged_segments(sender, *, use_case_id: int, **kwargs) -> set[str]:
    """The segments of the use case's prediction logs."""
    from predictions import selectors

    return selectors.logged_segments(use_case_id)


@receiver(events.threshold_changed, dispatch_uid="predictions.recompute_on_threshold_changed")
def recompute_on_threshold_changed(sender, *, use_case_id: int, **kwargs) -> None:
    """The distances to the old threshold are recomputed by a worker."""
    from predictions.tasks import recompute_confidences_task

    recompute_confidences_task.delay(use_case_id)
