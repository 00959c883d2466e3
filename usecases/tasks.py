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
