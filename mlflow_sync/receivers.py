"""Receivers of the signals of apps below (connected in apps.py): each a thin caller."""

from __future__ import annotations

from django.dispatch import receiver

from promotions.signals import stages_changed


@receiver(stages_changed, dispatch_uid="mlflow_sync.sync_on_stage_change")
def sync_on_stage_change(sender, *, use_case_id: int, **kwargs) -> None:
    """A promotion or rollback executed: a linked use case's aliases follow (Celery)."""
    from mlflow_sync.models import MlflowLink
    from mlflow_sync.services import scheduling

    link = MlflowLink.objects.filter(use_case_id=use_case_id).first()
    if link is not None:
        scheduling.queue_sync(link)
