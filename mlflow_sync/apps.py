from django.apps import AppConfig


class MlflowSyncConfig(AppConfig):
    name = "mlflow_sync"
    verbose_name = "MLflow"

    def ready(self) -> None:
        from mlflow_sync import receivers  # noqa: F401  (connects the receivers)
        from mlflow_sync.models import MlflowLink
        from mlflow_sync.panels import version_panel
        from registry import panels
        from usecases.audit_labels import register

        panels.register(version_panel)

        register(
            MlflowLink,
            labels={
                "tracking_uri": "tracking URI",
                "model_name": "registered model",
                "credentials": "credentials set",
                "aliases": "aliases",
                "import_every_hours": "import schedule (hours)",
            },
        )
