"""The model registry: versions of a use case's model, labelled evaluation datasets, a
version's predictions on a dataset, and evaluations run by Celery workers.

Datasets and prediction sets are stored column-wise, as a Parquet file in a bytea/blob
column of their own table (`StoredTable`): an evaluation reads two compact blobs from the
database instead of a million rows, and every worker on every machine reads the same data
without a shared file system. Row order is the dataset's; predictions are stored aligned to
it, so no join is needed at evaluation time.

The tables keep the names they had in the usecases app (issue 8), so a database migrated
from before the registry app keeps every row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from portal.text import multi_line, single_line
from usecases.models import UseCase


class RegistryQuerySet(models.QuerySet):
    def visible_to(self, user) -> RegistryQuerySet:
        """Rows of the use cases `user` may see (see UseCase.objects.visible_to)."""
        return self.filter(use_case__in=UseCase.objects.visible_to(user).values("pk"))


class ModelVersion(models.Model):
    class Stage(models.TextChoices):
        REGISTERED = "registered", "Registered"
        SHADOW = "shadow", "Shadow"
        CANARY = "canary", "Canary"
        PRODUCTION = "production", "Production"
        ARCHIVED = "archived", "Archived"

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50, validators=[single_line])
    description = models.TextField(blank=True, validators=[multi_line])
    artifact_uri = models.CharField(max_length=500, blank=True, validators=[single_line])
    git_commit = models.CharField(max_length=64, blank=True, validators=[single_line])
    mlflow_run_id = models.CharField(max_length=64, blank=True, validators=[single_line])
    framework = models.CharField(max_length=100, blank=True, validators=[single_line])
    parameters = models.JSONField(default=dict, blank=True)
    training_data_ref = models.CharField(max_length=500, blank=True, validators=[single_line])
    tags = models.JSONField(default=dict, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.REGISTERED)
    traffic_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    # Set by the promotions app when it moves the stage; nothing in the registry writes
    # stage, traffic_percent or this (DESIGN.md "Deployment stages and promotion").
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # What a data scientist describes a version with; the name is set once, at registration.
    EDITABLE_FIELDS = (
        "description",
        "artifact_uri",
        "git_commit",
        "mlflow_run_id",
        "framework",
        "parameters",
        "training_data_ref",
        "tags",
    )
    INPUT_FIELDS = ("version", *EDITABLE_FIELDS)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        db_table = "usecases_modelversion"
        ordering = ["use_case", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "version"], name="usecases_version_unique_per_use_case"
            ),
            # DESIGN.md: at most one production and one canary version per use case.
            models.UniqueConstraint(
                fields=["use_case"],
                condition=Q(stage="production"),
                name="usecases_one_production_per_use_case",
            ),
            models.UniqueConstraint(
                fields=["use_case"],
                condition=Q(stage="canary"),
                name="usecases_one_canary_per_use_case",
            ),
            models.CheckConstraint(
                condition=Q(traffic_percent__isnull=True) | Q(traffic_percent__lte=100),
                name="usecases_traffic_percent_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.use_case.slug} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("registry:version_detail", args=[self.use_case.slug, self.version])


class StoredTable(models.Model):
    """A Parquet file kept in the database (see the module docstring)."""

    parquet = models.BinaryField()
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "usecases_storedtable"

    def __str__(self) -> str:
        return f"table {self.pk} ({self.size_bytes} bytes)"


class EvaluationDataset(models.Model):
    """Labelled rows (id, features…, label, optional segment), validated on upload."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=120, validators=[single_line])
    description = models.TextField(blank=True, validators=[multi_line])
    source_filename = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=10)
    row_count = models.PositiveIntegerField()
    columns = models.JSONField(default=list)
    has_segment = models.BooleanField(default=False)
    # Its distinct segments (up to uploads.MAX_SEGMENTS_KEPT), offered by the KPI form.
    segments = models.JSONField(
        default=list,
        db_default=models.Value([], output_field=models.JSONField()),  # for older writers
        blank=True,
        editable=False,
    )
    # {"kind": "numeric"|"categorical", "histogram" or "counts": …} for the dataset page.
    label_summary = models.JSONField(default=dict)
    # [{"rule": id, "description": "...", "severity": "...", "violations": n}, …]
    rule_violations = models.JSONField(default=list)
    # The holdout promotions are gated on; the owner marks it (services/reference.py).
    is_reference = models.BooleanField(default=False)
    table = models.OneToOneField(StoredTable, on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        db_table = "usecases_evaluationdataset"
        ordering = ["use_case", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "name"], name="usecases_dataset_name_unique_per_use_case"
            ),
            models.UniqueConstraint(
                fields=["use_case"],
                condition=Q(is_reference=True),
                name="usecases_one_reference_dataset_per_use_case",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:dataset_detail", args=[self.use_case.slug, self.pk])


class PredictionSet(models.Model):
    """One model version's predictions for every row of one dataset, in the dataset's order."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="prediction_sets"
    )
    dataset = models.ForeignKey(
        EvaluationDataset, on_delete=models.CASCADE, related_name="prediction_sets"
    )
    row_count = models.PositiveIntegerField()
    has_score = models.BooleanField(default=False)
    # Binary with both columns: rows whose 0/1 prediction is not what the score gives at the
    # use case's decision threshold (evaluations classify by the score); None otherwise.
    disagreeing_rows = models.PositiveIntegerField(null=True, blank=True)
    source_filename = models.CharField(max_length=255, blank=True)
    table = models.OneToOneField(StoredTable, on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        db_table = "usecases_predictionset"
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "dataset"], name="usecases_one_prediction_set_per_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} on {self.dataset}"


class EvaluationQuerySet(RegistryQuerySet):
    def current(self) -> EvaluationQuerySet:
        """The evaluations not superseded by a later run of the same version and dataset."""
        return self.filter(superseded_at__isnull=True)


class Evaluation(models.Model):
    """A model version's predictions scored against a dataset's labels, by a Celery worker.

    One current evaluation per (version, dataset). Running a finished one again creates a
    new row and marks the old one superseded (services/evaluations.py): results are never
    overwritten, and a promotion's evidence stays readable at its own URL.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="evaluations")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="evaluations"
    )
    dataset = models.ForeignKey(
        EvaluationDataset, on_delete=models.CASCADE, related_name="evaluations"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    run_count = models.PositiveIntegerField(default=0, help_text="Times the results were written.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # host:pid:task-id of the run that holds the claim; every write of a run checks it.
    claimed_by = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker_seconds = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True, help_text="Binary decision threshold.")
    champion = models.ForeignKey(
        ModelVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The production version compared against, if it had predictions here.",
    )
    results = models.JSONField(default=dict, blank=True)
    gates = models.JSONField(default=list, blank=True)
    passed_gates = models.BooleanField(null=True)
    # When a later run of the same pair replaced this one, and which run that is (null once
    # that run is deleted: the dataset or version going takes this one with it anyway).
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="supersedes"
    )

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        db_table = "usecases_evaluation"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "dataset"],
                condition=Q(superseded_at__isnull=True),
                name="usecases_one_current_evaluation_per_pair",
            ),
            # Only a finished run is replaced; a queued or running one is re-queued instead.
            models.CheckConstraint(
                condition=Q(superseded_at__isnull=True, superseded_by__isnull=True)
                | Q(superseded_at__isnull=False, status__in=["succeeded", "failed"]),
                name="usecases_evaluation_superseded_only_when_finished",
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="usecases_evaluation_progress_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"Evaluation of {self.model_version} on {self.dataset}"

    def get_absolute_url(self) -> str:
        return reverse("registry:evaluation_detail", args=[self.use_case.slug, self.pk])

    @property
    def is_running(self) -> bool:
        return self.status not in self.FINISHED

    @property
    def is_superseded(self) -> bool:
        return self.superseded_at is not None
