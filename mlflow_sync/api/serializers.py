"""The MLflow link's representations and inputs. Serializers validate shapes; the services
check the rest (the URI's host, the credentials set, the aliases) and call MLflow."""

from __future__ import annotations

from rest_framework import serializers

from mlflow_sync.models import AliasSync, ImportedVersion, MlflowLink
from mlflow_sync.panels import run_url
from mlflow_sync.selectors import version_counts
from portal.text import single_line


class AliasesField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, max_length=255, validators=[single_line])


class LinkSerializer(serializers.ModelSerializer):
    tracking_uri = serializers.CharField(max_length=500, validators=[single_line])
    model_name = serializers.CharField(max_length=256, validators=[single_line])
    credentials = serializers.CharField(
        max_length=64,
        allow_blank=True,
        required=False,
        validators=[single_line],
        help_text="The name of a credentials set in the server's MLFLOW_CREDENTIALS; blank: "
        "MLflow's environment variables on the server. Never a secret.",
    )
    aliases = AliasesField(
        required=False,
        help_text='The MLflow alias each stage sets, e.g. {"production": "champion", '
        '"canary": "challenger", "shadow": "shadow"}; blank: that stage sets none.',
    )
    import_every_hours = serializers.ChoiceField(
        choices=MlflowLink.Every.choices, required=False, help_text="0: on demand only."
    )
    versions = serializers.SerializerMethodField()

    class Meta:
        model = MlflowLink
        fields = [
            "tracking_uri",
            "model_name",
            "credentials",
            "aliases",
            "import_every_hours",
            "checked_at",
            "last_import_at",
            "last_import",
            "last_import_error",
            "versions",
        ]
        read_only_fields = ["checked_at", "last_import_at", "last_import", "last_import_error"]

    def get_versions(self, link: MlflowLink) -> dict[str, int]:
        """Versions imported, and of them marked deleted in MLflow."""
        return version_counts(link)


class ImportedVersionSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version")
    stage = serializers.CharField(source="model_version.stage")
    run_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportedVersion
        fields = [
            "version",
            "stage",
            "mlflow_version",
            "run_id",
            "run_url",
            "experiment_id",
            "run_status",
            "source",
            "tags",
            "aliases",
            "run_params",
            "run_metrics",
            "deleted_at",
            "synced_stage",
            "imported_at",
            "changed_at",
        ]

    def get_run_url(self, imported: ImportedVersion) -> str:
        return run_url(imported)


class SyncSerializer(serializers.ModelSerializer):
    class Meta:
        model = AliasSync
        fields = ["id", "state", "attempts", "error", "changes", "requested_at", "finished_at"]


class Queued(serializers.Serializer):
    queued = serializers.BooleanField()
    detail = serializers.CharField()
