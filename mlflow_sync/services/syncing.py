"""Quorum's stages → MLflow's aliases and the quorum.stage tag, after a promotion or a
rollback. A sync sets the whole state, not a step: each alias of the link's map points at
the imported version now in its stage (the latest to enter it, if several share it), or is
removed when none is; each imported version's quorum.stage tag says its stage. So a retry,
or a sync after several promotions, lands on the same state; a sync never blocks or undoes
a promotion (it runs after the commit, in Celery)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from mlflow_sync import rest
from mlflow_sync.models import AliasSync, ImportedVersion, MlflowLink

STAGE_TAG = "quorum.stage"
KEPT_SYNCS = 50  # the latest syncs kept per link


def request_sync(link: MlflowLink) -> AliasSync:
    """A queued sync; the caller queues its task on commit."""
    sync = AliasSync.objects.create(link=link)
    old = AliasSync.objects.filter(link=link).values_list("pk", flat=True)[KEPT_SYNCS:]
    AliasSync.objects.filter(pk__in=list(old)).delete()
    return sync


def desired_aliases(link: MlflowLink) -> dict[str, str | None]:
    """Each alias of the map → the MLflow version it should name (None: remove it)."""
    imported = (
        ImportedVersion.objects.filter(link=link, deleted_at__isnull=True)
        .select_related("model_version")
        .order_by("-model_version__stage_changed_at", "-pk")
    )
    holders: dict[str, str] = {}
    for item in imported:
        holders.setdefault(item.model_version.stage, item.mlflow_version)
    return {alias: holders.get(stage) for stage, alias in link.aliases.items() if alias}


def run_sync(sync: AliasSync, api: rest.Mlflow | None = None) -> list[str]:
    """Bring MLflow to Quorum's stages; the changes made, in words. MlflowError on failure
    (what was done before it stays done: every call is idempotent)."""
    link = sync.link
    api = api or rest.Mlflow(link.tracking_uri, link.credentials)
    changes = []
    current = {
        item.get("alias"): str(item.get("version"))
        for item in api.registered_model(link.model_name).get("aliases") or []
    }
    for alias, version in desired_aliases(link).items():
        if version is not None and current.get(alias) != version:
            api.set_alias(link.model_name, alias, version)
            changes.append(f"alias {alias} → version {version}")
        elif version is None and alias in current:
            api.delete_alias(link.model_name, alias)
            changes.append(f"alias {alias} removed")
    stale = ImportedVersion.objects.filter(link=link, deleted_at__isnull=True).select_related(
        "model_version"
    )
    for item in stale:
        stage = item.model_version.stage
        if item.synced_stage != stage:
            api.set_version_tag(link.model_name, item.mlflow_version, STAGE_TAG, stage)
            ImportedVersion.objects.filter(pk=item.pk).update(synced_stage=stage)
            changes.append(f"version {item.mlflow_version} tagged {STAGE_TAG}={stage}")
    return changes


def record(sync_id: int, *, error: str = "", changes=None, final: bool = True) -> None:
    """One attempt's outcome on its row."""
    with transaction.atomic():
        sync = AliasSync.objects.select_for_update().get(pk=sync_id)
        sync.attempts += 1
        if error:
            sync.error = error[:2000]
            sync.state = AliasSync.State.FAILED if final else AliasSync.State.RETRYING
        else:
            sync.error, sync.state = "", AliasSync.State.SUCCEEDED
            sync.changes = changes or []
        if sync.state in (AliasSync.State.SUCCEEDED, AliasSync.State.FAILED):
            sync.finished_at = timezone.now()
        sync.save()
