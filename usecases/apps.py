from django.apps import AppConfig


class UsecasesConfig(AppConfig):
    name = "usecases"
    verbose_name = "Use cases"

    def ready(self) -> None:
        from usecases import signals  # noqa: F401  (connects the receivers)
