"""Celery entry points of the registry: a few lines each; the services make a second run
harmless."""

from celery import shared_task


# The name keeps its usecases prefix: renaming a task strands messages already queued.
@shared_task(name="usecases.run_evaluation", bind=True, acks_late=True, max_retries=60)
def run_evaluation_task(self, evaluation_id: int) -> None:  # queue: CELERY_TASK_ROUTES
    """Run one evaluation; the service's claim makes a duplicate delivery a no-op, and a
    delivery that finds another live run retries until that run has finished or is gone."""
    from registry.services import evaluations

    try:
        evaluations.run_evaluation(evaluation_id, task_id=self.request.id or "")
    except evaluations.EvaluationBusy as busy:
        raise self.retry(countdown=busy.retry_in) from None
