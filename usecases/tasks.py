"""Celery entry points: a few lines each; the services make a second run harmless."""

from celery import shared_task


@shared_task(
    name="usecases.send_welcome",
    bind=True,
    # OSError covers smtplib's errors and refused or dropped connections; the service raises
    # only the transient ones. Waits of about 30 s, 1, 2, 4 and 8 min (with jitter).
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def send_welcome_task(self, member_id: int) -> None:  # queue: CELERY_TASK_ROUTES
    """E-mail a new member; the claim on `notified_at` makes a duplicate delivery a no-op, and
    a failure on the last attempt is recorded on the membership instead of being lost."""
    from django.conf import settings

    from usecases.services import notifications

    notifications.send_welcome(
        member_id,
        base_url=settings.SITE_URL,
        is_last_attempt=self.request.retries >= self.max_retries,
    )
