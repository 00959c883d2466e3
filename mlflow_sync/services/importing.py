"""Import a linked MLflow model's versions (rest.py's calls): each READY version becomes a
Quorum version named by its MLflow number, with its run id, source, tags and aliases, and
its run's parameters and last metric values. Idempotent: a re-import of an unchanged
registry writes nothing. A version gone from MLflow is marked (deleted_at), never removed.

Reads happen before the transaction (MLflow may be slow); the writes are one transaction
under the use case's lock, so two imports of one link cannot make a version twice."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.utils import timezone

from mlflow_sync import rest
from mlflow_sync.models import ImportedVersion, MlflowLink
from portal.errors import DomainError
from registry.models import ModelVersion
from registry.services import registering
from usecases.services import audit
from usecases.services.usecases import lock

logger = logging.getLogger(__name__)

VERB = "mlflow.imported"
OWN_TAGS = "quorum."  # tags Quorum writes back (quorum.stage): not the version's own data
# A run in these no longer changes (DELETED: MLflow no longer has it), so it is not re-read.
FINISHED_RUNS = {"FINISHED", "FAILED", "KILLED", "DELETED"}


@dataclass
class Summary:
    """What an import did; kept on the link (last_import) and shown on its page."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    restored: int = 0
    adopted: int = 0  # Quorum versions of an earlier link, taken back by their run
    skipped: list[str] = field(default_factory=list)  # "version 4: why"
    requests: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted or self.restored or self.adopted)


def clean(value: object, limit: int = 1000) -> str:
    """A text from MLflow, as Quorum's columns take it: valid UTF-8 (a lone surrogate becomes
    "?"), no NUL, at most `limit` characters."""
    text = str(value or "").encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "")[:limit]


def pairs(items: list[dict] | None, *, skip_own: bool = False) -> dict[str, str]:
    """MLflow's [{"key", "value"}] as a dict."""
    found = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        key = clean(item.get("key"), 250)
        if key and not (skip_own and key.startswith(OWN_TAGS)):
            found[key] = clean(item.get("value"), 5000)
    return found


def run_fields(run: dict | None) -> dict:
    """The run's experiment, status, parameters and each metric's last value."""
    if not run:
        return {"experiment_id": "", "run_status": "DELETED", "run_params": {}, "run_metrics": {}}
    data, info = run.get("data"), run.get("info")
    data, info = data if isinstance(data, dict) else {}, info if isinstance(info, dict) else {}
    metrics = {}
    for metric in data.get("metrics") if isinstance(data.get("metrics"), list) else []:
        if not isinstance(metric, dict):
            continue
        key, value = clean(metric.get("key"), 250), metric.get("value")
        if key and isinstance(value, int | float) and not isinstance(value, bool):
            metrics[key] = value
    return {
        "experiment_id": clean(info.get("experiment_id"), 64),
        "run_status": clean(info.get("status"), 20),
        "run_params": pairs(data.get("params")),
        "run_metrics": metrics,
    }


def read_mlflow(link: MlflowLink, api: rest.Mlflow, known: dict[str, ImportedVersion]):
    """MLflow's READY versions as our fields, by version number, and the skipped ones."""
    model = api.registered_model(link.model_name)
    aliases: dict[str, list[str]] = {}
    for item in model.get("aliases") if isinstance(model.get("aliases"), list) else []:
        if not isinstance(item, dict):
            continue
        aliases.setdefault(str(item.get("version")), []).append(clean(item.get("alias"), 255))
    found, skipped, runs = {}, [], {}
    for version in api.versions(link.model_name):
        number = clean(version.get("version"), 20)
        if version.get("status", "READY") != "READY":
            skipped.append(f"version {number}: {version.get('status')} in MLflow")
            continue
        run_id = clean(version.get("run_id"), 64)
        fields = {
            "run_id": run_id,
            "source": clean(version.get("source")),
            "tags": pairs(version.get("tags"), skip_own=True),
            "aliases": sorted(aliases.get(number, [])),
            "description": clean(version.get("description"), 10000),
        }
        before = known.get(number)
        if run_id and before and before.run_id == run_id and before.run_status in FINISHED_RUNS:
            fields.update(run_fields_of(before))  # a finished run does not change
        elif run_id:
            if run_id not in runs:
                runs[run_id] = run_fields(api.run(run_id))
            fields.update(runs[run_id])
        else:
            fields.update(run_fields(None) | {"run_status": ""})
        found[number] = fields
    return found, skipped


def run_fields_of(imported: ImportedVersion) -> dict:
    keys = ("experiment_id", "run_status", "run_params", "run_metrics")
    return {key: getattr(imported, key) for key in keys}


STORED = ("run_id", "source", "tags", "aliases", "experiment_id", "run_status")
STORED += ("run_params", "run_metrics")


def import_versions(link: MlflowLink, *, by=None, api: rest.Mlflow | None = None) -> Summary:
    """Import the link's versions now; `by` registers new versions (default: the link's
    creator, else the use case's owner). MlflowError when MLflow cannot be read: nothing
    is written then but the link's last_import_at and last_import_error (the summary stays
    the last success's)."""
    started = timezone.now()
    api = api or rest.Mlflow(link.tracking_uri, link.credentials)
    known = {v.mlflow_version: v for v in ImportedVersion.objects.filter(link=link)}
    try:
        found, skipped = read_mlflow(link, api, known)
    except rest.MlflowError as error:
        MlflowLink.objects.filter(pk=link.pk).update(
            last_import_at=timezone.now(), last_import_error=clean(error, 2000)
        )
        raise
    by = by or link.created_by or link.use_case.owner
    summary = Summary(skipped=skipped)
    with transaction.atomic():
        use_case = lock(link.use_case)
        link = MlflowLink.objects.select_for_update().get(pk=link.pk)
        known = {v.mlflow_version: v for v in ImportedVersion.objects.filter(link=link)}
        adoptable = {  # versions of an earlier link, unlinked since: one read, not one each
            v.version: v
            for v in ModelVersion.objects.filter(use_case=use_case, mlflow__isnull=True)
            .exclude(mlflow_run_id="")
            .only("pk", "version", "mlflow_run_id")
        }
        for number, fields in sorted(found.items(), key=lambda item: _order(item[0])):
            imported = known.get(number)
            if imported is None and _adopt(link, adoptable.get(number), number, fields):
                summary.adopted += 1
                continue
            _import_one(link, use_case, by, number, fields, imported, summary)
        now = timezone.now()
        for number, imported in known.items():
            if number not in found and imported.deleted_at is None:
                imported.deleted_at = now
                imported.save(update_fields=["deleted_at", "changed_at"])
                summary.deleted += 1
        summary.requests = api.requests
        summary.seconds = round((now - started).total_seconds(), 3)
        link.last_import_at, link.last_import = now, asdict(summary)
        link.last_import_error = ""
        link.save(update_fields=["last_import_at", "last_import", "last_import_error"])
        if summary.changed:
            kinds = ("created", "updated", "deleted", "restored", "adopted")
            counts = {k: getattr(summary, k) for k in kinds}
            audit.record(actor=by, verb=VERB, target=link, use_case=use_case, after=counts)
    logger.info("MLflow import of use case %s: %s", use_case.pk, asdict(summary))
    return summary


def _order(number: str) -> tuple[int, str]:
    return (int(number), "") if number.isdigit() else (10**12, number)


def _import_one(link, use_case, by, number, fields, imported, summary: Summary) -> None:
    description = fields.pop("description")
    if imported is None:
        try:
            with transaction.atomic():
                version = registering.register_version(
                    use_case,
                    by=by,
                    version=number,
                    description=description,
                    artifact_uri=fields["source"][:500],
                    mlflow_run_id=fields["run_id"],
                    parameters=fields["run_params"],
                    tags=fields["tags"],
                )
        except DomainError as error:
            summary.skipped.append(f"version {number}: {error.message}")
            return
        ImportedVersion.objects.create(
            link=link, model_version=version, mlflow_version=number, **fields
        )
        summary.created += 1
        return
    changed = [name for name in STORED if getattr(imported, name) != fields[name]]
    for name in changed:
        setattr(imported, name, fields[name])
    if imported.deleted_at is not None:
        imported.deleted_at = None
        changed.append("deleted_at")
        summary.restored += 1
    elif changed:
        summary.updated += 1
    else:
        summary.unchanged += 1
        return
    imported.save(update_fields=[*changed, "changed_at"])


def _adopt(link, version: ModelVersion | None, number: str, fields: dict) -> bool:
    """A Quorum version of this number made from the same run (imported through an earlier
    link, since unlinked) is taken back rather than skipped; whether it was."""
    if version is None or version.mlflow_run_id != fields["run_id"]:
        return False
    fields = {name: value for name, value in fields.items() if name != "description"}
    ImportedVersion.objects.create(
        link=link, model_version=version, mlflow_version=number, **fields
    )
    return True
