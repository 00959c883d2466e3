"""Browser forms of monitoring: they parse input; monitoring.services check the rules and
write (portal.web.call_service() puts a service's refusal on the form)."""

from __future__ import annotations

from django import forms

from monitoring.models import MonitoringPolicy
from monitoring.services.alerts import MAX_SILENCE_HOURS
from portal.web import Form


def _percent(label: str, help_text: str) -> forms.FloatField:
    return forms.FloatField(
        label=f"{label} (%)",
        min_value=0,
        max_value=100,
        help_text=help_text,
        error_messages={
            "min_value": "A share from 0 to 100 %%.",
            "max_value": "A share from 0 to 100 %%.",
        },
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "100"}),
    )


class PolicyForm(Form):
    """A use case's alert thresholds. People type shares of rows as percentages (5 for
    5 %); `service_fields()` gives them to the service as the shares it stores (0.05)."""

    psi_threshold = forms.FloatField(
        label="PSI threshold",
        help_text="A feature (or the prediction) drifting more than this on a day opens an "
        "alert. 0.1 is a moderate shift, 0.2 a significant one.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0"}),
    )
    is_p_value_alerting = forms.BooleanField(
        required=False,
        label="Alert on p-values too",
        help_text="Off by default: with many rows a p-value flags shifts too small to matter, "
        "so the PSI leads.",
    )
    p_value_level = forms.FloatField(
        label="p-value level",
        help_text="When p-values alert: a Kolmogorov–Smirnov or chi-square p-value under this "
        "opens an alert. Between 0 and 1, e.g. 0.01.",
        widget=forms.NumberInput(attrs={"step": "0.001", "min": "0", "max": "1"}),
    )
    max_violation_percent = _percent(
        "Largest share of rows breaking a rule",
        "A data-quality rule broken by more of a day's predictions than this opens an alert.",
    )
    max_refused_percent = _percent(
        "Largest share of rows refused at ingestion",
        "More of the rows sent in a day refused (bad rows of every version together) opens "
        "one alert for the use case.",
    )
    silence_hours = forms.IntegerField(
        label="Hours without predictions",
        min_value=1,
        max_value=MAX_SILENCE_HOURS,
        help_text="A deployed version that logs nothing for this long opens an alert.",
        error_messages={
            "min_value": f"A whole number of hours from 1 to {MAX_SILENCE_HOURS:,}.",
            "max_value": f"A whole number of hours from 1 to {MAX_SILENCE_HOURS:,}.",
        },
        widget=forms.NumberInput(attrs={"step": "1", "min": "1", "max": str(MAX_SILENCE_HOURS)}),
    )
    is_kpi_alerting = forms.BooleanField(
        required=False,
        label="Alert when a gating KPI misses its gate",
        help_text="A KPI that gates promotion, on the wrong side of its gate on a day.",
    )

    reference_start = forms.DateField(
        required=False,
        label="Reference window: first day",
        help_text="Leave both days empty to compare each version with the holdout of its "
        "last evaluation. Otherwise these UTC days of each version's own log are the "
        "reference (a version that logged nothing in them keeps its holdout).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reference_end = forms.DateField(
        required=False,
        label="Reference window: last day",
        help_text="Inclusive, yesterday at the latest. Days already computed keep their "
        "figures until they are run again.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    # The form's percentages and the shares the service stores.
    PERCENT = {
        "max_violation_percent": "max_violation_rate",
        "max_refused_percent": "max_refused_rate",
    }

    @classmethod
    def initial_for(cls, policy: MonitoringPolicy) -> dict:
        initial = {
            name: getattr(policy, name) for name in cls.base_fields if name not in cls.PERCENT
        }
        for name, share in cls.PERCENT.items():
            percent = round(getattr(policy, share) * 100, 4)  # 5, not 5.000000000000001
            initial[name] = int(percent) if percent.is_integer() else percent
        return initial

    def field_for_error(self, name: str) -> str | None:
        reverse = {share: name for name, share in self.PERCENT.items()}
        return super().field_for_error(reverse.get(name, name))

    def clean_psi_threshold(self) -> float:
        value = self.cleaned_data["psi_threshold"]
        if value <= 0:
            raise forms.ValidationError("A PSI threshold above 0, e.g. 0.2.")
        return value

    def clean_p_value_level(self) -> float:
        value = self.cleaned_data["p_value_level"]
        if not 0 < value < 1:
            raise forms.ValidationError("A level between 0 and 1 (both excluded), e.g. 0.01.")
        return value

    def service_fields(self) -> dict:
        """The fields the person changed, as save_policy() takes them: percentages as shares.
        Only those: the form shows shares rounded, and sending an untouched one back would
        overwrite a finer value set through the API."""
        changed = set(self.changed_data)
        data = {
            name: v
            for name, v in self.cleaned_data.items()
            if name not in self.PERCENT and name in changed
        }
        for name, share in self.PERCENT.items():
            if name in changed:
                data[share] = self.cleaned_data[name] / 100
        return data
