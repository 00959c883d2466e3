"""Browser forms of the reviews app: they parse input; reviews.services check the rules and
write (portal.web.call_service() puts a service's refusal on the form)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from portal.text import multi_line, single_line
from portal.web import DateInput, Form
from registry.models import ModelVersion
from reviews.models import Review, ReviewCampaign
from usecases.models import UseCase

MAX_REASON_TAGS = 20
# The strategies that compare two versions' predictions of the same requests.
NEEDS_OTHER_VERSION = (ReviewCampaign.Strategy.DISAGREEMENT,)
# Where the second version applies (static/js/app.js hides it elsewhere; clean() ignores it).
OTHER_VERSION_SHOWN_FOR = " ".join(
    [f"mode:{ReviewCampaign.Mode.PAIRWISE}", *(f"strategy:{s}" for s in NEEDS_OTHER_VERSION)]
)
# What <input type=datetime-local> sends (seconds only if typed): the one format the window
# fields read and write, in the site's time zone, so a value comes back as it was typed.
DATETIME_LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class DateTimeInput(forms.DateTimeInput):
    """The datetime-local twin of portal.web.DateInput: 2030-01-31T09:00, never localized."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=DATETIME_LOCAL_FORMATS[0])


def window_field(help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        widget=DateTimeInput,
        input_formats=DATETIME_LOCAL_FORMATS,
        required=False,
        help_text=help_text,
        error_messages={"invalid": "Enter a date and time as 2030-01-31T09:00."},
    )


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"{obj.version} ({obj.get_stage_display().lower()})"


class CampaignForm(Form):
    name = forms.CharField(
        max_length=200,
        validators=[single_line],
        help_text="e.g. “October check of 2.1 by the buyers”.",
    )
    mode = forms.ChoiceField(
        choices=ReviewCampaign.Mode.choices,
        initial=ReviewCampaign.Mode.SINGLE,
        widget=forms.RadioSelect,
        help_text="Blind pairwise shows two versions' predictions for the same input as A and "
        "B, in random order; reviewers never learn which version is which.",
    )
    model_version = VersionChoiceField(queryset=ModelVersion.objects.none(), label="Version")
    other_version = VersionChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        label="Second version",
        help_text="Pairwise: the version compared with the first. Disagreement sampling: the "
        "champion whose predictions differ most.",
        widget=forms.Select(attrs={"data-show-for": OTHER_VERSION_SHOWN_FOR}),
    )
    strategy = forms.ChoiceField(
        choices=ReviewCampaign.Strategy.choices,
        initial=ReviewCampaign.Strategy.UNIFORM,
        label="Sampling",
    )
    sample_size = forms.IntegerField(
        min_value=1, max_value=10_000, initial=100, help_text="Predictions to review (≤ 10,000)."
    )
    reviewers_per_item = forms.IntegerField(
        min_value=1,
        max_value=5,
        initial=1,
        help_text="Two or more measure the agreement between reviewers.",
    )
    due_date = forms.DateField(widget=DateInput, required=False)
    window_start = window_field(f"Only predictions made from… ({settings.TIME_ZONE} time)")
    window_end = window_field("…until (not included).")
    reason_tags = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Reasons reviewers can tick, comma-separated: “promotion, weather, new store”.",
    )
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        validators=[multi_line],
        help_text="What reviewers should check, shown above every item.",
    )

    def __init__(self, *args, use_case: UseCase, **kwargs):
        super().__init__(*args, **kwargs)
        versions = use_case.versions.order_by("-created_at")
        self.fields["model_version"].queryset = versions
        self.fields["other_version"].queryset = versions

    def _in_range(self, name: str):
        value = self.cleaned_data[name]
        if value is not None and not 1970 <= value.year <= 2100:
            raise ValidationError("Choose a date between 1970 and 2100.")
        return value

    def clean_window_start(self):
        return self._in_range("window_start")

    def clean_window_end(self):
        return self._in_range("window_end")

    def clean_reason_tags(self) -> list[str]:
        tags: list[str] = []
        for tag in self.cleaned_data["reason_tags"].split(","):
            tag = " ".join(tag.split())
            if tag and tag.casefold() not in {t.casefold() for t in tags}:
                tags.append(tag)
        if len(tags) > MAX_REASON_TAGS:
            raise ValidationError(f"At most {MAX_REASON_TAGS} reason tags.")
        if any(len(tag) > 50 for tag in tags):
            raise ValidationError("Keep each reason tag under 50 characters.")
        return tags

    def clean(self):
        data = super().clean()
        version, other = data.get("model_version"), data.get("other_version")
        mode, strategy = data.get("mode"), data.get("strategy")
        compares = mode == ReviewCampaign.Mode.PAIRWISE or strategy in NEEDS_OTHER_VERSION
        if mode and strategy and not compares:
            # Unused by this mode and strategy (and hidden): ignore the input.
            data["other_version"] = other = None
            self.errors.pop("other_version", None)
        if other is None and mode == ReviewCampaign.Mode.PAIRWISE:
            self.add_error("other_version", "Blind pairwise compares two versions: choose one.")
        elif other is None and strategy in NEEDS_OTHER_VERSION:
            self.add_error("other_version", "Disagreement sampling needs a champion to compare.")
        if version is not None and other is not None and version == other:
            self.add_error("other_version", "Choose a version different from the first.")
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end <= start:
            self.add_error("window_end", "The window must end after it starts.")
        return data


class ReviewForm(Form):
    """One review of the slot on screen: a verdict (or, pairwise, a preference) and details."""

    verdict = forms.ChoiceField(choices=Review.Verdict.choices, required=False)
    preference = forms.ChoiceField(choices=Review.Preference.choices, required=False)
    corrected_value = forms.CharField(max_length=200, required=False)
    reason_tags = forms.MultipleChoiceField(required=False)
    comment = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea, validators=[multi_line]
    )
    seconds_spent = forms.FloatField(required=False, min_value=0)

    def __init__(self, *args, campaign: ReviewCampaign, use_case: UseCase, **kwargs):
        super().__init__(*args, **kwargs)
        self.campaign, self.use_case = campaign, use_case
        self.fields["reason_tags"].choices = [(tag, tag) for tag in campaign.reason_tags or ()]

    @property
    def is_pairwise(self) -> bool:
        return self.campaign.mode == ReviewCampaign.Mode.PAIRWISE

    def clean_corrected_value(self) -> str | None:
        # Text as typed: the reviewing service checks it against the verdict, the task type
        # and the prediction (issue 11, item 3), for the API's callers too, and its refusal
        # lands beside this field.
        return None if self.is_pairwise else self.cleaned_data["corrected_value"] or None

    def clean_seconds_spent(self):
        seconds = self.cleaned_data["seconds_spent"]
        # A tab left open overnight is not review time; cap what one item may count.
        return None if seconds is None else min(seconds, 3600.0)

    def clean(self):
        data = super().clean()
        if self.is_pairwise:
            data["verdict"] = ""
            if not data.get("preference"):
                self.add_error(
                    None, "Choose which is better: A (key A), B (key B) or equal (key E)."
                )
        else:
            data["preference"] = ""
            if not data.get("verdict"):
                self.add_error(
                    None,
                    "Choose a verdict: correct (key 1), incorrect (key 2) or unsure (key 3).",
                )
        return data
