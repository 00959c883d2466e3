"""Celery entry points of the prediction log: a few lines each; the services make a second
run harmless."""

from celery import shared_task


@shared_task(name="predictions.recount_quality", acks_late=True)
def recount_quality_task(use_case_id: int) -> None:  # queue: CELERY_TASK_ROUTES
    """Recount the use case's quality tallies with its rules as they stand now (a rule was
    added, changed or deleted). A recount is exact whenever it runs, so a duplicate
    delivery only counts again."""
    from predictions.services import tally

    tally.recount_use_case(use_case_id)


@shared_task(name="predictions.recompute_confidences", acks_late=True)
def recompute_confidences_task(use_case_id: int) -> None:  # queue: CELERY_TASK_ROUTES
    """Recompute the use case's stored confidences with its threshold as it stands now (it
    changed). Exact whenever it runs: a duplicate delivery writes the same values."""
    from predictions.services import store
    from usecases.models import UseCase

    use_case = UseCase.objects.filter(pk=use_case_id).first()
    if use_case is not None:
        store.recompute_confidences(use_case)
