"""A use case's link to an MLflow registered model, the versions imported through it, and
each sync of stages back to MLflow's aliases (docs/mlflow.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from portal.text import single_line
from registry.models import ModelVersion
from usecases.models import UseCase

# Quorum's stage → the MLflow alias a promotion sets (the defaults).
DEFAULT_ALIASES = {"production": "champion", "canary": "challenger", "shadow": "shadow"}


def default_aliases() -> dict:
    return dict(DEFAULT_ALIASES)


class MlflowLink(models.Model):
    """Where a use case's versions come from. The credentials are never stored here: the
    link names a set in settings (MLFLOW_CREDENTIALS) or, when blank, MLflow's own
    environment variables (MLFLOW_TRACKING_TOKEN, or _USERNAME and _PASSWORD)."""

    class Every(models.IntegerChoices):
        NEVER = 0, "on demand only"
        HOUR = 1, "every hour"
        SIX_HOURS = 6, "every 6 hours"
        DAY = 24, "every day"

    use_case = models.OneToOneField(UseCase, on_delete=models.CASCADE, related_name="mlflow_link")
    tracking_uri = models.CharField(max_length=500, validators=[single_line])
    model_name = models.CharField(max_length=256, validators=[single_line])
    credentials = models.CharField(max_length=64, blank=True, validators=[single_line])
    aliases = models.JSONField(default=default_aliases)
    import_every_hours = models.PositiveSmallIntegerField(
        choices=Every.choices, default=Every.NEVER
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    last_import_at = models.DateTimeField(null=True, blank=True)  # the last try's end
    last_import = models.JSONField(default=dict, blank=True)  # the last success's summary
    last_import_error = models.TextField(blank=True)  # the last try's, "" when it succeeded
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"MLflow model {self.model_name} of {self.use_case}"


class ImportedVersion(models.Model):
    """An MLflow model version as last imported, beside the Quorum version made from it."""

    link = models.ForeignKey(MlflowLink, on_delete=models.CASCADE, related_name="versions")
    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="mlflow"
    )
    mlflow_version = models.CharField(max_length=20)
    run_id = models.CharField(max_length=64, blank=True)
    experiment_id = models.CharField(max_length=64, blank=True)
    run_status = models.CharField(max_length=20, blank=True)
    source = models.CharField(max_length=1000, blank=True)
    tags = models.JSONField(default=dict, blank=True)  # the version's, without quorum.*
    aliases = models.JSONField(default=list, blank=True)
    run_params = models.JSONField(default=dict, blank=True)
    run_metrics = models.JSONField(default=dict, blank=True)  # each metric's last value
    deleted_at = models.DateTimeField(null=True, blank=True)  # gone from MLflow: marked
    synced_stage = models.CharField(max_length=20, blank=True)  # the quorum.stage tag set
    imported_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "mlflow_version"], name="mlflow_version_once_per_link"
            )
        ]
        ordering = ["link", "-imported_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.link.model_name} version {self.mlflow_version}"


class AliasSync(models.Model):
    """One sync of the use case's stages to MLflow's aliases and tags, after a promotion or
    a rollback; retried with backoff until it succeeds or runs out of attempts."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RETRYING = "retrying", "failed, will retry"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    link = models.ForeignKey(MlflowLink, on_delete=models.CASCADE, related_name="syncs")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    changes = models.JSONField(default=list, blank=True)  # what was set, in words
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "retrying", "succeeded", "failed"]),
                name="mlflow_sync_state_known",
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} of {self.link}"
