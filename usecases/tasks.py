"""Celery entry points: a few lines each; the services make a second run harmless."""

from celery import shared_task


@shared_task(
    name="usecases.send_welcome",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_welcome_task(member_id: int) -> None:  # queue: CELERY_TASK_ROUTES
    """E-mail a new member; the claim on `notified_at` makes a duplicate delivery a no-op."""
    from django.conf import settings

    from usecases.services import notifications

    notifications.send_welcome(member_id, base_url=settings.SITE_URL)


@shared_task(name="usecases.run_evaluation", bind=True, acks_late=True, max_retries=60)
def run_evaluation_task(self, evaluation_id: int) -> None:  # queue: CELERY_TASK_ROUTES
    """Run one evaluation; the service's claim makes a duplicate delivery a no-op, and a
    delivery that finds another live run retries until that run has finished or is gone."""
    from usecases.services import evaluations

    try:
        evaluations.run_evaluation(evaluation_id, task_id=self.request.id or "")
    except evaluations.EvaluationBusy as busy:
        raise self.retry(countdown=busy.retry_in) from None
