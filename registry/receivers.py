"""Receivers of the use cases' signals (usecases/events.py), connected in apps.py."""

from __future__ import annotations

from django.dispatch import receiver

from usecases import events


@receiver(events.segments_requested, dispatch_uid="registry.dataset_segments")
def dataset_segments(sender, *, use_case_id: int, **kwargs) -> set[str]:
    """The segments of the use case's evaluation datasets."""
    from registry.models import EvaluationDataset

    datasets = EvaluationDataset.objects.filter(use_case_id=use_case_id, has_segment=True)
    lists = datasets.values_list("segments", flat=True)
    return {segment for segments in lists for segment in segments}
