"""Celery entry points of promotions: a few lines each; the services make a second run
harmless (queues: CELERY_TASK_ROUTES)."""

from celery import shared_task


# Messages queued before the notifications moved to the notification centre (issue 13) keep
# their name; the rows kept their ids, so the centre's service sends them.
@shared_task(
    name="promotions.send_notification_email",
    bind=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def send_notification_email_task(self, notification_id: int) -> None:
    """E-mail one notification (notifications.send_email's former name): the claim on
    `emailed_at` makes a duplicate delivery a no-op."""
    from django.conf import settings

    from notifications.services import delivery

    delivery.send_email(
        notification_id,
        base_url=settings.SITE_URL,
        is_last_attempt=self.request.retries >= self.max_retries,
    )


# A hard limit under webhooks.LEASE: a lease is never taken over while its worker still sends.
# The soft one ends a receiver that drips its answer (the service counts it as a timeout).
@shared_task(name="promotions.deliver_webhook", bind=True, time_limit=60, soft_time_limit=30)
def deliver_webhook_task(self, delivery_id: int) -> None:
    """POST one webhook delivery. The row's lease and status make a duplicate delivery a
    no-op, and its `attempts` cap the sends. The backoff comes from settings
    (WEBHOOK_BACKOFF_SECONDS), so retries are scheduled here rather than by autoretry."""
    from promotions.services import webhooks

    try:
        webhooks.deliver(delivery_id)
    except webhooks.RetryLater as retry:
        # max_retries=None: the cap is the row's `attempts` (WEBHOOK_MAX_ATTEMPTS).
        raise self.retry(countdown=retry.countdown, max_retries=None) from None
