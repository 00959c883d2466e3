"""The MLflow link's browser form: it parses input; mlflow_sync.services.links checks the
rest and calls MLflow (portal.web.call_service() puts a refusal on the form)."""

from __future__ import annotations

from django import forms

from mlflow_sync import rest
from mlflow_sync.models import DEFAULT_ALIASES, MlflowLink
from mlflow_sync.services.links import STAGES
from portal.web import Form

ENVIRONMENT = "MLflow's environment variables on the server"


class LinkForm(Form):
    tracking_uri = forms.CharField(
        label="Tracking URI",
        max_length=500,
        help_text="The MLflow server, e.g. https://mlflow.example.com. Quorum calls it to "
        "check the link when you save.",
        widget=forms.URLInput(attrs={"placeholder": "https://mlflow.example.com"}),
    )
    model_name = forms.CharField(
        label="Registered model", max_length=256, help_text="Its name in MLflow's registry."
    )
    credentials = forms.ChoiceField(
        label="Credentials",
        required=False,
        help_text="Sets an admin configured on the server (MLFLOW_CREDENTIALS). Secrets are "
        "never typed here nor shown.",
    )
    production_alias = forms.CharField(label="Production", max_length=255, required=False)
    canary_alias = forms.CharField(label="Canary", max_length=255, required=False)
    shadow_alias = forms.CharField(label="Shadow", max_length=255, required=False)
    import_every_hours = forms.TypedChoiceField(
        label="Import",
        choices=MlflowLink.Every.choices,
        coerce=int,
        help_text="Besides on demand, import new versions on this schedule.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = sorted(rest.credential_sets())
        self.fields["credentials"].choices = [("", ENVIRONMENT), *((n, n) for n in names)]

    @staticmethod
    def initial_for(link: MlflowLink | None) -> dict:
        aliases = link.aliases if link else DEFAULT_ALIASES
        initial = {f"{stage}_alias": aliases.get(stage, "") for stage in STAGES}
        if link is None:
            return initial | {"import_every_hours": MlflowLink.Every.NEVER}
        fields = ("tracking_uri", "model_name", "credentials", "import_every_hours")
        return initial | {name: getattr(link, name) for name in fields}

    def field_for_error(self, name: str) -> str | None:
        return name if name in self.fields else None

    def service_fields(self) -> dict:
        data = self.cleaned_data
        aliases = {stage: data[f"{stage}_alias"].strip() for stage in STAGES}
        fields = ("tracking_uri", "model_name", "credentials", "import_every_hours")
        return {name: data[name] for name in fields} | {"aliases": aliases}
