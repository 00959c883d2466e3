from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = "Promotions"

    def ready(self) -> None:
        _register_audit_fields()


def _register_audit_fields() -> None:
    """The promotions' fields in the history's words (usecases.audit_labels)."""
    from promotions.models import Decision, Gate, PromotionPolicy, PromotionRequest, WebhookDelivery
    from promotions.services.webhooks import EVENT_STAGES_CHANGED
    from registry.models import ModelVersion
    from usecases.audit_labels import register

    stages = ModelVersion.Stage
    register(
        PromotionRequest,
        labels={
            "from_stage": "from",
            "target_stage": "to",
            "traffic_percent": "traffic",
            "required_approvals": "approvals required",
            "waiting_for": "approvals still needed",
        },
        choices={
            "from_stage": stages,
            "target_stage": stages,
            # {kind: status}, {capacity: count}: keys and values both read as labels.
            "gates": {**dict(Gate.Kind.choices), **dict(Gate.Status.choices)},
            "required_approvals": Decision.Capacity,
            "waiting_for": Decision.Capacity,
        },
        hidden={"stage_changes"},  # ids of the stage changes it made
    )
    # A move's event (target: the version) names the request that made it: the sentence's.
    register(ModelVersion, hidden={"request"})
    register(
        PromotionPolicy,
        labels={
            "acceptance_threshold": "acceptance rate needed",
            "acceptance_bound": "acceptance measured by",
            "max_violation_rate": "largest violation rate",
            "min_experts": "domain experts' approvals",
            "min_data_scientists": "data scientists' approvals",
            "min_managers": "managers' approvals",
            "webhook_url": "webhook URL",
        },
        choices={"acceptance_bound": PromotionPolicy.AcceptanceBound},
    )
    register(
        WebhookDelivery,
        labels={"url": "sent to"},
        choices={"event": {EVENT_STAGES_CHANGED: "stage changes"}},
        hidden={"of"},  # the id of the delivery sent again
    )
