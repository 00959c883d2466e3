"""Forms of the promotion settings page: they parse input; promotions.services.settings
checks the rules (the minimums only raise the tier's, the URL's scheme and host) and writes."""

from __future__ import annotations

from django import forms

from portal.text import single_line
from portal.web import Form
from promotions.models import PromotionPolicy
from promotions.services import policy
from usecases.models import UseCase


class PolicyForm(Form):
    acceptance_threshold = forms.FloatField(
        label="Experts' acceptance needed for production",
        help_text="A rate from 0 to 1: 0.8 means 80 % of the reviewed predictions accepted.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
    )
    acceptance_bound = forms.ChoiceField(
        label="Compared on",
        choices=PromotionPolicy.AcceptanceBound.choices,
        help_text="The Wilson lower bound is stricter on few verdicts.",
    )
    max_violation_rate = forms.FloatField(
        label="Largest data-quality violation rate",
        help_text="Share of logged predictions breaking a rule, above 0 and at most 1 "
        "(0.05 is 5 %).",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
    )
    min_experts = forms.IntegerField(label="Domain experts", min_value=0, max_value=10)
    min_data_scientists = forms.IntegerField(label="Data scientists", min_value=0, max_value=10)
    min_managers = forms.IntegerField(label="Managers", min_value=0, max_value=10)
    webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=PromotionPolicy._meta.get_field("webhook_url").max_length,
        validators=[single_line],
        widget=forms.URLInput(attrs={"placeholder": "https://deploy.example.com/quorum"}),
        help_text="Called after each stage change (https or http). Leave empty to remove the "
        "webhook and its secret.",
    )
    webhook_secret = forms.CharField(
        label="Secret",
        required=False,
        max_length=PromotionPolicy._meta.get_field("webhook_secret").max_length,
        strip=False,
        # Never rendered back, not even after an error.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs every call (HMAC-SHA256). At least 16 characters; it is never shown "
        "again after saving.",
    )

    def __init__(self, *args, use_case: UseCase, current: PromotionPolicy, **kwargs):
        required = policy.required_approvals(use_case, current)
        initial = {
            "acceptance_threshold": current.acceptance_threshold,
            "acceptance_bound": current.acceptance_bound,
            "max_violation_rate": current.max_violation_rate,
            "webhook_url": current.webhook_url,
            **{field: required[str(c)] for c, field in policy.POLICY_FIELDS.items()},
        }
        super().__init__(*args, initial=initial, **kwargs)
        tier = policy.TIER_MINIMUMS[use_case.risk_tier]
        for capacity, field in policy.POLICY_FIELDS.items():
            self.fields[field].help_text = (
                f"The {use_case.get_risk_tier_display().lower()} risk tier needs "
                f"{tier[capacity]}; you may raise it."
            )
        if current.webhook_secret:
            self.fields["webhook_secret"].label = "Replace the secret"
            self.fields[
                "webhook_secret"
            ].help_text = "Leave empty to keep the current secret. A new one takes effect at once."

    def service_fields(self) -> dict:
        """The cleaned data as save_policy() takes it (an empty secret keeps the current)."""
        data = dict(self.cleaned_data)
        data["webhook_secret"] = data["webhook_secret"] or None
        return data
