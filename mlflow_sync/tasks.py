"""Celery entry points of the MLflow link: a few lines each (queue "webhooks", which calls
out: CELERY_TASK_ROUTES). Imports are idempotent and a sync sets a whole state, so a second
run of either is harmless."""

from celery import shared_task


@shared_task(name="mlflow_sync.import_link", time_limit=30 * 60, soft_time_limit=25 * 60)
def import_link(link_id: int, user_id: int | None = None) -> None:
    """Import one link's versions (on demand or on its schedule); a failure is kept on the
    link (last_import_error) and logged, not retried: the next schedule tries again."""
    from mlflow_sync.services import scheduling

    scheduling.import_now(link_id, user_id)


@shared_task(name="mlflow_sync.import_due")
def import_due() -> None:
    """Every 15 minutes (CELERY_BEAT_SCHEDULE): queue the links whose schedule is due."""
    from mlflow_sync.services import scheduling

    for link_id in scheduling.due_links():
        import_link.delay(link_id)


# A first sync after a large import tags every version, one call each: minutes, not seconds.
@shared_task(
    name="mlflow_sync.sync_aliases", bind=True, time_limit=25 * 60, soft_time_limit=20 * 60
)
def sync_aliases(self, sync_id: int) -> None:
    """Set MLflow's aliases and tags to Quorum's stages. A transient failure (MLflow down,
    5xx) is retried with exponential backoff from MLFLOW_SYNC_BACKOFF_SECONDS, up to
    MLFLOW_SYNC_MAX_ATTEMPTS attempts; each attempt is recorded on the sync's row."""
    from mlflow_sync.services import scheduling

    countdown = scheduling.sync_attempt(sync_id, self.request.retries)
    if countdown is not None:
        raise self.retry(countdown=countdown, max_retries=None)
