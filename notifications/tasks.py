"""Celery entry points of the notification centre: a few lines each; the services' claims
make a second run harmless (queue "notifications": CELERY_TASK_ROUTES)."""

from celery import shared_task

# OSError covers smtplib's errors, refused or dropped connections, timeouts and requests'
# errors; the services raise only the transient ones. Waits of about 30 s, 1, 2, 4 and 8 min
# (with jitter), then the last attempt records the failure on the row.
RETRIED = {
    "bind": True,
    "autoretry_for": (OSError,),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "max_retries": 5,
}


@shared_task(name="notifications.send_email", **RETRIED)
def send_email_task(self, notification_id: int) -> None:
    """E-mail one notification; the claim on `emailed_at` makes a duplicate delivery a no-op,
    and a failure on the last attempt is recorded on the notification."""
    from django.conf import settings

    from notifications.services import delivery

    delivery.send_email(
        notification_id,
        base_url=settings.SITE_URL,
        is_last_attempt=self.request.retries >= self.max_retries,
    )


# A hard limit well over the request's timeout: a stuck receiver never holds a worker.
@shared_task(name="notifications.post_webhook", time_limit=60, soft_time_limit=30, **RETRIED)
def post_webhook_task(self, notification_id: int) -> None:
    """POST one notification to its recipient's chat webhook; the claim on `webhook_sent_at`
    makes a duplicate delivery a no-op, and a failure is recorded on the notification."""
    from django.conf import settings

    from notifications.services import delivery

    delivery.post_webhook(
        notification_id,
        base_url=settings.SITE_URL,
        is_last_attempt=self.request.retries >= self.max_retries,
    )


@shared_task(name="notifications.send_digest", **RETRIED)
def send_digest_task(self, user_id: int, day: str) -> None:
    """E-mail one person's digest of `day` (ISO date); the digest row is unique per person and
    day and its `sent_at` claimed, so a second run sends nothing."""
    import datetime

    from django.conf import settings

    from notifications.services import digests

    digests.send_digest(
        user_id,
        datetime.date.fromisoformat(day),
        base_url=settings.SITE_URL,
        is_last_attempt=self.request.retries >= self.max_retries,
    )


@shared_task(name="notifications.send_digests")
def send_digests_task() -> None:
    """Daily (CELERY_BEAT_SCHEDULE): queue the digest of everyone with something to digest;
    running twice a day queues digests that then send nothing."""
    from notifications.services import digests

    digests.queue_digests()
