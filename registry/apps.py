from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from registry import receivers  # noqa: F401  (connects the receivers)

        _register_audit_fields()


def _register_audit_fields() -> None:
    """The registry's fields in the history's words (usecases.audit_labels)."""
    from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet
    from usecases.audit_labels import register

    register(
        ModelVersion,
        labels={
            "artifact_uri": "artifact",
            "mlflow_run_id": "MLflow run",
            "git_commit": "Git commit",
            "training_data_ref": "training data",
            "traffic_percent": "traffic",
            "production": "version in production",
        },
        choices={"stage": ModelVersion.Stage},
    )
    register(EvaluationDataset, labels={"file": "file uploaded", "reference": "reference dataset"})
    register(
        PredictionSet, labels={"file": "file uploaded", "disagreeing_rows": "rows that differ"}
    )
    register(
        Evaluation,
        labels={"passed_gates": "every gate passed"},
        hidden={"supersedes"},  # the id of the evaluation it replaces
    )
