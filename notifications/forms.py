"""The centre's filters (all or unread, one kind), and the preferences form: for each kind,
in the app on or off, e-mail off, at once or in the daily digest, and the chat webhook on or
off; and the webhook's URL."""

from __future__ import annotations

from django import forms

from notifications.models import EmailMode, Kind
from notifications.services.preferences import Channels
from portal.web import Form


class CentreFilter(Form):
    show = forms.ChoiceField(choices=[("", "All"), ("unread", "Unread only")], required=False)
    kind = forms.ChoiceField(choices=[("", "Every kind"), *Kind.choices], required=False)

    def wanted(self) -> dict[str, str]:
        """The valid filters given (an unknown value is left out, as if not given)."""
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value}


class PreferencesForm(Form):
    webhook_url = forms.CharField(
        label="Chat webhook URL",
        required=False,
        max_length=500,
        help_text="A Slack-compatible incoming webhook (https://…): each notification of a kind "
        "ticked “Chat” is posted to it as a message. Leave empty for none.",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/services/…"}),
    )

    def __init__(self, *args, preferences: dict[str, Channels], webhook_url: str, **kwargs):
        initial = {"webhook_url": webhook_url}
        for kind, channels in preferences.items():
            initial |= {
                f"{kind}-in_app": channels.in_app,
                f"{kind}-email": channels.email,
                f"{kind}-webhook": channels.webhook,
            }
        super().__init__(*args, initial=initial, **kwargs)
        for kind, label in Kind.choices:
            self.fields[f"{kind}-in_app"] = forms.BooleanField(
                label=f"{label}: in the app", required=False
            )
            self.fields[f"{kind}-email"] = forms.ChoiceField(
                label=f"{label}: e-mail", choices=EmailMode.choices
            )
            self.fields[f"{kind}-webhook"] = forms.BooleanField(
                label=f"{label}: chat", required=False
            )

    def rows(self) -> list[tuple[str, list]]:
        """(kind's label, [in_app, email, webhook] bound fields) for the table."""
        return [
            (label, [self[f"{kind}-{part}"] for part in ("in_app", "email", "webhook")])
            for kind, label in Kind.choices
        ]

    def kinds(self) -> dict[str, Channels]:
        data = self.cleaned_data
        return {
            kind: Channels(
                in_app=data[f"{kind}-in_app"],
                email=data[f"{kind}-email"],
                webhook=data[f"{kind}-webhook"],
            )
            for kind in Kind.values
        }
