from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Prediction log"

    def ready(self) -> None:
        from predictions import receivers  # noqa: F401  (connects the receivers)
