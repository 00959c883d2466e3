from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from monitoring import receivers  # noqa: F401  (connects the receivers)

        _register_audit_fields()


def _register_audit_fields() -> None:
    """The policy's fields in the history's words (usecases.audit_labels)."""
    from monitoring.models import MonitoringPolicy
    from usecases.audit_labels import register

    register(
        MonitoringPolicy,
        labels={
            "psi_threshold": "PSI threshold",
            "is_p_value_alerting": "alerts on p-values",
            "p_value_level": "p-value level",
            "max_violation_rate": "largest share of rows breaking a rule",
            "max_refused_rate": "largest share of rows refused",
            "silence_hours": "hours without predictions",
            "is_kpi_alerting": "alerts on KPIs under their gate",
            "reference_start": "reference window's first day",
            "reference_end": "reference window's last day",
        },
    )
