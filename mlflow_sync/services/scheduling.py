"""When imports and syncs run, and what an attempt records: the tasks' logic (tasks.py
stays a few lines)."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from mlflow_sync import rest
from mlflow_sync.models import AliasSync, MlflowLink
from mlflow_sync.services import importing, syncing

logger = logging.getLogger(__name__)


def queue_import(link: MlflowLink, by) -> None:
    """An import of the link, run by a worker once the caller's transaction commits."""
    from mlflow_sync import tasks

    user_id = by.pk if by is not None else None
    transaction.on_commit(lambda: tasks.import_link.delay(link.pk, user_id))


def queue_sync(link: MlflowLink) -> AliasSync:
    """A sync of the link's aliases, run by a worker once the caller's transaction commits."""
    from mlflow_sync import tasks

    sync = syncing.request_sync(link)
    transaction.on_commit(lambda: tasks.sync_aliases.delay(sync.pk))
    return sync


def due_links(now: datetime.datetime | None = None) -> list[int]:
    """Links with a schedule whose last import is older than it (or that never imported)."""
    now = now or timezone.now()
    scheduled = MlflowLink.objects.exclude(import_every_hours=0).order_by("pk")
    return [
        pk
        for pk, hours, last in scheduled.values_list("pk", "import_every_hours", "last_import_at")
        if last is None or last <= now - datetime.timedelta(hours=hours)
    ]


def import_now(link_id: int, user_id: int | None) -> importing.Summary | None:
    """Run one import; None if the link is gone or MLflow failed (kept on the link)."""
    link = MlflowLink.objects.filter(pk=link_id).select_related("use_case").first()
    if link is None:
        return None
    by = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        return importing.import_versions(link, by=by)
    except rest.MlflowError as error:
        logger.warning("MLflow import of link %s failed: %s", link_id, error)
    except Exception as error:  # a time limit, an answer Quorum cannot store…: said, not lost
        logger.exception("MLflow import of link %s failed", link_id)
        text = f"The import stopped: {type(error).__name__}: {error}"[:2000]
        MlflowLink.objects.filter(pk=link_id).update(
            last_import_at=timezone.now(), last_import_error=text
        )
    return None


def backoff(retries: int) -> int:
    """Seconds before attempt `retries + 2`: the base, doubled each time, at most an hour."""
    return min(settings.MLFLOW_SYNC_BACKOFF_SECONDS * 2**retries, 3600)


def sync_attempt(sync_id: int, retries: int) -> int | None:
    """One attempt of a sync; the countdown to the next when it failed and may be retried."""
    sync = AliasSync.objects.filter(pk=sync_id).select_related("link").first()
    if sync is None or sync.state in (AliasSync.State.SUCCEEDED, AliasSync.State.FAILED):
        return None
    try:
        changes = syncing.run_sync(sync)
    except rest.MlflowError as error:
        final = not error.transient or retries + 1 >= settings.MLFLOW_SYNC_MAX_ATTEMPTS
        syncing.record(sync_id, error=str(error), final=final)
        logger.warning("MLflow sync %s, attempt %s: %s", sync_id, retries + 1, error)
        return None if final else backoff(retries)
    except Exception as error:  # a time limit, a bug: recorded as failed, never left queued
        logger.exception("MLflow sync %s, attempt %s failed", sync_id, retries + 1)
        syncing.record(sync_id, error=f"The sync stopped: {type(error).__name__}: {error}")
        return None
    syncing.record(sync_id, changes=changes)
    return None
