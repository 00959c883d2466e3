"""Writes to the model registry: versions, evaluation datasets and prediction sets.

Uploads are parsed and validated completely (registry/uploads.py and tables/) before
anything is written; the rows then go in as one Parquet blob in the same transaction as
their metadata and audit event, so a bad or interrupted upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError

from portal.errors import DomainError, InvalidInput
from registry import uploads
from registry.models import EvaluationDataset, ModelVersion, PredictionSet, StoredTable
from tables import io as table_io
from tables import rules
from usecases.models import UseCase
from usecases.services import audit
from usecases.services.usecases import UNCHANGED, Unchanged, apply_changes, given, lock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

VERSION_FIELDS = ModelVersion.INPUT_FIELDS
VERSION_EDITABLE = ModelVersion.EDITABLE_FIELDS


def _check_version_fields(fields: dict) -> None:
    if "parameters" in fields and not isinstance(fields["parameters"], dict):
        raise InvalidInput("Parameters must be a JSON object.", field="parameters")
    tags = fields.get("tags", {})
    if not isinstance(tags, dict) or not all(
        isinstance(v, str | int | float | bool) for v in tags.values()
    ):
        raise InvalidInput(
            "Tags must be a JSON object of simple values, e.g. "
            '{"team": "forecasting", "champion": true}.',
            field="tags",
        )


@transaction.atomic
def register_version(
    use_case: UseCase,
    *,
    by: User,
    version: str,
    description: str = "",
    artifact_uri: str = "",
    git_commit: str = "",
    mlflow_run_id: str = "",
    framework: str = "",
    parameters: dict | None = None,
    training_data_ref: str = "",
    tags: dict | None = None,
) -> ModelVersion:
    """Register a model version (unique per use case); it starts in the registered stage."""
    use_case = lock(use_case)
    fields = {
        "description": description,
        "artifact_uri": artifact_uri,
        "git_commit": git_commit,
        "mlflow_run_id": mlflow_run_id,
        "framework": framework,
        "parameters": {} if parameters is None else parameters,
        "training_data_ref": training_data_ref,
        "tags": {} if tags is None else tags,
    }
    _check_version_fields(fields)
    if not version or not str(version).strip():
        raise InvalidInput("Give the version a name, e.g. 1.4.0.", field="version")
    if "/" in str(version):
        # The name is part of the version's page address, which a slash would split.
        raise InvalidInput("A version name cannot contain “/”; use e.g. 1.4.0.", field="version")
    try:
        with transaction.atomic():
            model_version = ModelVersion.objects.create(
                use_case=use_case, version=str(version).strip(), registered_by=by, **fields
            )
    except IntegrityError:
        raise InvalidInput(
            f"Version “{version}” is already registered for this use case.", field="version"
        ) from None
    audit.record(
        actor=by,
        verb="version.registered",
        target=model_version,
        use_case=use_case,
        after=audit.snapshot(model_version, list(VERSION_FIELDS)),
    )
    return model_version


@transaction.atomic
def update_version(
    model_version: ModelVersion,
    *,
    by: User,
    description: str | Unchanged = UNCHANGED,
    artifact_uri: str | Unchanged = UNCHANGED,
    git_commit: str | Unchanged = UNCHANGED,
    mlflow_run_id: str | Unchanged = UNCHANGED,
    framework: str | Unchanged = UNCHANGED,
    parameters: dict | Unchanged = UNCHANGED,
    training_data_ref: str | Unchanged = UNCHANGED,
    tags: dict | Unchanged = UNCHANGED,
) -> ModelVersion:
    """Edit the given description and metadata fields (the others stay); the version name and
    stage cannot be changed here."""
    changes = given(
        description=description,
        artifact_uri=artifact_uri,
        git_commit=git_commit,
        mlflow_run_id=mlflow_run_id,
        framework=framework,
        parameters=parameters,
        training_data_ref=training_data_ref,
        tags=tags,
    )
    use_case = lock(model_version.use_case)
    _check_version_fields(changes)
    fresh = ModelVersion.objects.get(pk=model_version.pk)
    before, after = apply_changes(fresh, changes)
    if after:
        fresh.save()
        audit.record(
            actor=by,
            verb="version.updated",
            target=fresh,
            use_case=use_case,
            before=before,
            after=after,
        )
    return fresh


def _store(parquet: bytes) -> StoredTable:
    return StoredTable.objects.create(
        parquet=parquet, size_bytes=len(parquet), sha256=hashlib.sha256(parquet).hexdigest()
    )


def rule_specs(use_case: UseCase) -> list[rules.RuleSpec]:
    """The use case's data-quality rules as the validator takes them."""
    return [
        rules.RuleSpec(
            id=rule.pk,
            field=rule.field,
            kind=rule.kind,
            params=rule.params,
            severity=rule.severity,
            summary=f"{rule.field} {rule.summary}",
        )
        for rule in use_case.data_quality_rules.order_by("pk")
    ]


def upload_dataset(
    use_case: UseCase,
    *,
    by: User,
    name: str,
    source: BinaryIO,
    filename: str,
    description: str = "",
) -> EvaluationDataset:
    """Validate a CSV/Parquet file against the schema and rules, then store it whole or not
    at all; raises report.TableRejected with the report for a bad file."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the dataset a name, e.g. “holdout 2026-Q3”.", field="name")
    if EvaluationDataset.objects.filter(use_case=use_case, name=name).exists():
        raise InvalidInput(f"This use case already has a dataset named “{name}”.", field="name")
    parsed = uploads.read_dataset(
        source,
        filename=filename,
        feature_schema=use_case.feature_schema,
        task_type=use_case.task_type,
        rules=rule_specs(use_case),
        max_bytes=settings.MAX_UPLOAD_BYTES,  # the file, and its values once decoded
    )
    parquet = parsed.to_parquet()  # outside the transaction: it can take a while
    with transaction.atomic():
        use_case = lock(use_case)
        try:
            with transaction.atomic():
                dataset = EvaluationDataset.objects.create(
                    use_case=use_case,
                    name=name,
                    description=description,
                    source_filename=filename[:255],
                    file_format=table_io.file_format(filename),
                    row_count=parsed.row_count,
                    columns=parsed.columns,
                    has_segment=parsed.has_segment,
                    segments=parsed.segments,
                    label_summary=parsed.label_summary,
                    rule_violations=parsed.rule_violations,
                    table=_store(parquet),
                    uploaded_by=by,
                )
        except IntegrityError:
            raise InvalidInput(
                f"This use case already has a dataset named “{name}”.", field="name"
            ) from None
        audit.record(
            actor=by,
            verb="dataset.uploaded",
            target=dataset,
            use_case=use_case,
            after={"name": name, "rows": parsed.row_count, "file": filename[:255]},
        )
    logger.info("dataset %s uploaded: %s rows", dataset.pk, parsed.row_count)
    return dataset


def dataset_ids(dataset: EvaluationDataset):
    """The dataset's id column, in its row order."""
    table = StoredTable.objects.only("parquet").get(pk=dataset.table_id)
    return table_io.load_table(bytes(table.parquet), columns=["id"]).column("id")


def upload_predictions(
    model_version: ModelVersion,
    *,
    by: User,
    dataset: EvaluationDataset,
    source: BinaryIO,
    filename: str,
) -> PredictionSet:
    """Validate a version's predictions for every row of `dataset` and store them aligned to
    it, replacing earlier ones for the same pair; raises report.TableRejected if bad."""
    if dataset.use_case_id != model_version.use_case_id:
        raise InvalidInput("The dataset belongs to another use case.", field="dataset")
    parsed = uploads.read_predictions(
        source,
        filename=filename,
        dataset_ids=dataset_ids(dataset),
        task_type=model_version.use_case.task_type,
        max_bytes=settings.MAX_UPLOAD_BYTES,
    )
    parquet = parsed.to_parquet()
    with transaction.atomic():
        use_case = lock(model_version.use_case)
        disagreeing = uploads.disagreeing_rows(parsed, use_case.decision_threshold)
        previous = PredictionSet.objects.filter(model_version=model_version, dataset=dataset)
        replaced = previous.first()
        if replaced is not None:
            old_table = replaced.table_id
            replaced.delete()
            StoredTable.objects.filter(pk=old_table).delete()
        prediction_set = PredictionSet.objects.create(
            use_case=use_case,
            model_version=model_version,
            dataset=dataset,
            row_count=parsed.row_count,
            has_score=parsed.has_score,
            disagreeing_rows=disagreeing if use_case.task_type == "binary" else None,
            source_filename=filename[:255],
            table=_store(parquet),
            uploaded_by=by,
        )
        audit.record(
            actor=by,
            verb="predictions.replaced" if replaced else "predictions.uploaded",
            target=prediction_set,
            use_case=use_case,
            after={
                "version": model_version.version,
                "dataset": dataset.name,
                "rows": parsed.row_count,
                "file": filename[:255],
                **({"disagreeing_rows": disagreeing} if disagreeing is not None else {}),
            },
        )
    return prediction_set


@transaction.atomic
def delete_dataset(dataset: EvaluationDataset, *, by: User) -> None:
    """Delete a dataset with its prediction sets and evaluations."""
    use_case = lock(dataset.use_case)
    tables = [dataset.table_id, *dataset.prediction_sets.values_list("table_id", flat=True)]
    audit.record(
        actor=by,
        verb="dataset.deleted",
        target=dataset,
        use_case=use_case,
        before={"name": dataset.name, "rows": dataset.row_count},
    )
    try:
        dataset.delete()
    except RestrictedError:  # an evaluation on it is a promotion's evidence (promotions)
        raise DomainError(
            f"“{dataset.name}” holds an evaluation that a promotion request used as "
            "evidence: it is kept, so that the request's gates can still be checked."
        ) from None
    StoredTable.objects.filter(pk__in=tables).delete()
