from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        _register_audit_fields()


def _register_audit_fields() -> None:
    """The campaigns' fields in the history's words (usecases.audit_labels)."""
    from reviews.models import ReviewCampaign
    from usecases.audit_labels import register

    register(
        ReviewCampaign,
        labels={
            "model_version": "version",
            "other_version": "second version",
            "item_count": "items sampled",
            "reviewers_per_item": "reviewers per item",
        },
        choices={
            "mode": ReviewCampaign.Mode,
            "strategy": ReviewCampaign.Strategy,
            "status": ReviewCampaign.Status,
        },
    )
