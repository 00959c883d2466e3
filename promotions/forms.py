"""Browser forms of promotions: they parse input; promotions.services check the rules and
write (portal.web.call_service() puts a service's refusal on the form)."""

from __future__ import annotations

from django import forms

from portal.text import multi_line
from portal.web import Form
from promotions.models import CANARY_MAX_PERCENT, CANARY_MIN_PERCENT, PromotionRequest
from registry.models import ModelVersion
from reviews.forms import VersionChoiceField
from usecases.models import UseCase

Stage = ModelVersion.Stage
PROMOTABLE = (Stage.REGISTERED, Stage.SHADOW, Stage.CANARY)


class PromotionForm(Form):
    version = VersionChoiceField(queryset=ModelVersion.objects.none())
    target_stage = forms.ChoiceField(
        choices=[(s, Stage(s).label) for s in PromotionRequest.TARGETS],
        label="Promote to",
        help_text="One step up: registered → shadow → canary → production; a shadow version "
        "may go straight to production.",
    )
    traffic_percent = forms.IntegerField(
        required=False,
        min_value=CANARY_MIN_PERCENT,
        max_value=CANARY_MAX_PERCENT,
        label="Canary traffic (%)",
        help_text=f"Canary only: {CANARY_MIN_PERCENT}–{CANARY_MAX_PERCENT} % of requests.",
    )
    rationale = forms.CharField(
        max_length=5000,
        validators=[multi_line],
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this version, why now: the approvers read it with the gates.",
    )

    def __init__(self, *args, use_case: UseCase, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = use_case.versions.filter(stage__in=PROMOTABLE).order_by(
            "-created_at"
        )


class CommentForm(Form):
    comment = forms.CharField(
        required=False,
        max_length=5000,
        validators=[multi_line],
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RejectForm(Form):
    comment = forms.CharField(
        max_length=5000,
        validators=[multi_line],
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: the requester reads it.",
    )


class OverrideForm(Form):
    justification = forms.CharField(
        max_length=5000,
        validators=[multi_line],
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the promotion may go ahead despite its gates. The audit trail keeps it.",
    )


class RollbackForm(Form):
    reason = forms.CharField(
        max_length=5000,
        validators=[multi_line],
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What went wrong with the current version. The audit trail keeps it.",
    )
