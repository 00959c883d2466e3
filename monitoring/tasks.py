"""Celery entry points of monitoring: a few lines each; the services make a second run
harmless (the claim on DailyRun, results replaced in one transaction)."""

from __future__ import annotations

import datetime

from celery import shared_task


@shared_task(
    name="monitoring.run_day",
    bind=True,
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=10 * 60,
    time_limit=12 * 60,  # under jobs.STALE: a live run never looks stale
)
def run_day_task(self, version_id: int, day: str) -> None:  # queue: CELERY_TASK_ROUTES
    """Monitor one version's UTC day; a duplicate delivery finds the day claimed or done,
    a failure is retried with backoff (the run's attempts cap it), a delivery that finds a
    live run elsewhere waits for it."""
    from monitoring.services import jobs

    try:
        jobs.run_day(version_id, datetime.date.fromisoformat(day))
    except jobs.RunBusy as busy:
        raise self.retry(countdown=busy.retry_in, max_retries=20) from None


@shared_task(name="monitoring.schedule_nightly", acks_late=True)
def schedule_nightly_task() -> None:  # queue: CELERY_TASK_ROUTES; beat at 02:00
    """Queue yesterday for every deployed version (a second run queues the same days, which
    the claims run once more at most: a re-run replaces the day), then open a silence alert
    for a deployed version that logged nothing for its policy's hours (once per alert)."""
    from monitoring.services import alerts, jobs

    jobs.schedule_nightly()
    alerts.check_silence()


@shared_task(
    name="monitoring.run_week",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=10 * 60,
    time_limit=12 * 60,
)
def run_week_task(version_id: int, monday: str) -> None:  # queue: CELERY_TASK_ROUTES
    """Compute one version's week of KPIs when it is due (services/weeks.py: a duplicate
    delivery finds the week up to date and does nothing)."""
    from monitoring.services import weeks

    weeks.run_week(version_id, datetime.date.fromisoformat(monday))
