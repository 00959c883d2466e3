"""Browser forms of the model registry: they parse input; registry.services.registering and
registry.services.evaluations check the business rules and write.

`call_upload()` is `call_service()` for uploads: a file the validator rejects keeps its
report (`form.rejection`: message, problems by row and column, counts per rule) for the page.
"""

from __future__ import annotations

import json

from django import forms

from portal.parsers import JSONFormField
from portal.text import multi_line, single_line
from portal.web import Form, call_service
from registry.models import EvaluationDataset
from tables import report

PARAMETERS_EXAMPLE = '{"learning_rate": 0.05, "max_depth": 6}'
TAGS_EXAMPLE = '{"team": "forecasting", "champion": true}'
UPLOAD_ACCEPT = ".csv,.gz,.parquet"  # what tables.io.file_format() reads


def call_upload(form: forms.Form, service, /, *args, **kwargs):
    """Run an upload service; a rejected file leaves its report on `form.rejection`."""
    form.rejection = None

    def run(*args, **kwargs):
        try:
            return service(*args, **kwargs)
        except report.TableRejected as rejection:  # before call_service sees a DomainError
            form.rejection = rejection
            return None

    result = call_service(form, run, *args, **kwargs)
    if form.rejection is not None:
        form.add_error("file", form.rejection.message)
    return result


class JSONObjectField(JSONFormField):
    """A JSON object in a monospaced textarea; blank means {}. Too deep, or holding a NUL,
    is a form error of its own (portal.parsers), not the example."""

    default_error_messages = {
        "invalid": "This is not valid JSON. Check commas, quotes and braces, e.g. %(example)s."
    }

    def __init__(self, *, example: str, **kwargs):
        self.example = example
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "widget",
            forms.Textarea(
                attrs={"rows": 3, "class": "code", "spellcheck": "false", "placeholder": example}
            ),
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}  # an absent field (an API-style post) is blank too
        try:
            return super().to_python(value)
        except forms.ValidationError as error:
            if error.code != "invalid":
                raise
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"example": self.example}
            ) from None

    def validate(self, value):
        super().validate(value)
        if not isinstance(value, dict):
            raise forms.ValidationError(
                f"Give a JSON object in braces, e.g. {self.example}.", code="not_object"
            )

    def prepare_value(self, value):
        if isinstance(value, str):
            return value
        return "" if not value else json.dumps(value, indent=2, ensure_ascii=False)


class VersionForm(Form):
    version = forms.RegexField(
        max_length=50,
        regex=r"^[\w][\w.+-]*$",
        error_messages={
            "invalid": "Use letters, digits, dots, dashes, plus signs or underscores, e.g. 1.4.0."
        },
        help_text="Unique within the use case, e.g. 1.4.0 or 2026-11-rc1.",
    )
    framework = forms.CharField(
        max_length=100,
        required=False,
        validators=[single_line],
        help_text="e.g. scikit-learn 1.9, LightGBM 4.5.",
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        validators=[multi_line],
        help_text="What changed compared with earlier versions.",
    )
    artifact_uri = forms.CharField(
        max_length=500,
        required=False,
        validators=[single_line],
        label="Artifact URI",
        help_text="Where the model is stored, e.g. s3://models/demand/1.4.0/.",
    )
    git_commit = forms.CharField(
        max_length=64, required=False, label="Git commit", validators=[single_line]
    )
    mlflow_run_id = forms.CharField(
        max_length=64, required=False, label="MLflow run id", validators=[single_line]
    )
    training_data_ref = forms.CharField(
        max_length=500,
        required=False,
        validators=[single_line],
        label="Training data",
        help_text="A reference to the training data, e.g. a table and snapshot date.",
    )
    parameters = JSONObjectField(
        example=PARAMETERS_EXAMPLE, help_text="Hyper-parameters, as a JSON object."
    )
    tags = JSONObjectField(
        example=TAGS_EXAMPLE, help_text="Simple labels, as a JSON object of names to values."
    )


class DatasetUploadForm(Form):
    name = forms.CharField(
        max_length=120, validators=[single_line], help_text="e.g. holdout 2026-Q3."
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, validators=[multi_line]
    )
    file = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"accept": UPLOAD_ACCEPT}),
        help_text="CSV (.csv or .csv.gz) or Parquet, up to 1,000,000 rows and 200 MB, with the "
        "columns id, the features, label and optionally segment.",
    )


class PredictionUploadForm(Form):
    dataset = forms.ModelChoiceField(
        queryset=EvaluationDataset.objects.none(),
        empty_label=None,
        help_text="The predictions must have one row per row of this dataset, by id.",
    )
    file = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"accept": UPLOAD_ACCEPT}),
        help_text="CSV (.csv or .csv.gz) or Parquet with the columns id and prediction; "
        "binary classification also takes score, the probability of 1.",
    )

    def __init__(self, *args, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets


class EvaluationStartForm(Form):
    dataset = forms.ModelChoiceField(queryset=EvaluationDataset.objects.none())

    def __init__(self, *args, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets
