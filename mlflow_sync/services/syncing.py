"""Quorum's stages → MLflow's aliases and the quorum.stage tag, after a promotion or a
rollback. A sync sets the whole state, not a step: each alias of the link's map points at
the imported version now in its stage (the latest to enter it, if several share it), or is
removed when none is; each imported version's quorum.stage tag says its stage. So a retry,
or a sync after several promotions, lands on the same state; a sync never blocks or undoes
a promotion (it runs after the commit, in Celery)."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mlflow_sync import rest
from mlflow_sync.models import AliasSync, ImportedVersion, MlflowLink
from registry.models import ModelVersion

STAGE_TAG = "quorum.stage"
KEPT_SYNCS = 50  # the latest syncs kept per link


def request_sync(link: MlflowLink) -> AliasSync:
    """A queued sync; the caller queues its task on commit."""
    sync = AliasSync.objects.create(link=link)
    old = AliasSync.objects.filter(link=link).values_list("pk", flat=True)[KEPT_SYNCS:]
    AliasSync.objects.filter(pk__in=list(old)).delete()
    return sync


SKIP = object()  # the stage's version was not imported: its alias is left as it is


def desired_aliases(link: MlflowLink) -> dict[str, object]:
    """Each alias of the map → the MLflow version it should name: None to remove it (no
    version holds the stage), SKIP when the stage's version is not one imported from this
    link (registered by hand, or gone from MLflow), whose alias Quorum cannot set."""
    stages = {stage: alias for stage, alias in link.aliases.items() if alias}
    holders = (
        ModelVersion.objects.filter(use_case_id=link.use_case_id, stage__in=list(stages))
        .select_related("mlflow")
        .order_by(F("stage_changed_at").desc(nulls_last=True), "-pk")
    )
    latest: dict[str, ModelVersion] = {}
    for version in holders:
        latest.setdefault(version.stage, version)
    desired: dict[str, object] = {}
    for stage, alias in stages.items():
        version = latest.get(stage)
        imported = getattr(version, "mlflow", None) if version else None
        if version is None:
            desired[alias] = None
        elif imported is None or imported.link_id != link.pk or imported.deleted_at:
            desired[alias] = SKIP
        else:
            desired[alias] = imported.mlflow_version
    return desired


def run_sync(sync: AliasSync, api: rest.Mlflow | None = None) -> list[str]:
    """Bring MLflow to Quorum's stages; the changes made, in words. One sync of a link runs
    at a time (its row is locked), reading the stages once it has the lock, so the latest
    promotion's state is the one left in MLflow. MlflowError on failure; what was done
    before it stays done and recorded (every call is idempotent)."""
    link = sync.link
    api = api or rest.Mlflow(link.tracking_uri, link.credentials)
    changes: list[str] = []
    failure = None
    with transaction.atomic():
        MlflowLink.objects.select_for_update(no_key=True).filter(pk=link.pk).first()
        try:
            _sync_aliases(link, api, changes)
            _sync_tags(link, api, changes)
        except rest.MlflowError as error:
            failure = error
    if failure is not None:
        raise failure
    return changes


def _sync_aliases(link: MlflowLink, api: rest.Mlflow, changes: list[str]) -> None:
    answer = api.registered_model(link.model_name).get("aliases")
    current = {
        item.get("alias"): str(item.get("version"))
        for item in (answer if isinstance(answer, list) else [])
        if isinstance(item, dict)
    }
    for alias, version in desired_aliases(link).items():
        if version is SKIP:
            changes.append(f"alias {alias} left: its stage's version is not from MLflow")
        elif version is not None and current.get(alias) != version:
            if _gone(link, version, partial(api.set_alias, link.model_name, alias, version)):
                changes.append(f"version {version} is gone from MLflow: marked deleted")
            else:
                changes.append(f"alias {alias} → version {version}")
        elif version is None and alias in current:
            api.delete_alias(link.model_name, alias)
            changes.append(f"alias {alias} removed")


def _sync_tags(link: MlflowLink, api: rest.Mlflow, changes: list[str]) -> None:
    """The quorum.stage tag of each version whose stage changed since it was last written."""
    stale = (
        ImportedVersion.objects.filter(link=link, deleted_at__isnull=True)
        .exclude(synced_stage=F("model_version__stage"))
        .select_related("model_version")
        .order_by("pk")
    )
    for item in stale:
        number, stage = item.mlflow_version, item.model_version.stage
        call = partial(api.set_version_tag, link.model_name, number, STAGE_TAG, stage)
        if _gone(link, number, call):
            changes.append(f"version {number} is gone from MLflow: marked deleted")
            continue
        ImportedVersion.objects.filter(pk=item.pk).update(synced_stage=stage)
        changes.append(f"version {number} tagged {STAGE_TAG}={stage}")


def _gone(link: MlflowLink, number: str, call) -> bool:
    """Make the call; True if MLflow no longer has the version (404), which is then marked
    deleted, as an import would, instead of failing the whole sync."""
    try:
        call()
    except rest.MlflowError as error:
        if error.status != 404:
            raise
        ImportedVersion.objects.filter(link=link, mlflow_version=number).update(
            deleted_at=timezone.now()
        )
        return True
    return False


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
