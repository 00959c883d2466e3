"""The form that moves a use case's phase; promotions.services.phases checks the rules (steps,
evidence, an Admin's skip) and call_service() puts its refusal beside the field concerned."""

from __future__ import annotations

from django import forms

from portal.text import multi_line
from portal.web import Form
from promotions.services.phases import NOTE_LENGTH
from usecases.forms import phase_options
from usecases.models import UseCase


class PhaseForm(Form):
    # Any phase parses: the service, not the list offered, says why a move is refused.
    phase = forms.ChoiceField(choices=UseCase.Phase.choices, label="Move to")
    # Not required here: the service's refusal says why a note is needed (as in the API).
    note = forms.CharField(
        max_length=NOTE_LENGTH,
        required=False,
        validators=[multi_line],
        widget=forms.TextInput(attrs={"placeholder": "Why?"}),
        help_text="Kept in the use case's history.",
    )

    def __init__(self, *args, use_case: UseCase, can_skip: bool, **kwargs):
        super().__init__(*args, **kwargs)
        steps, skips = phase_options(use_case, can_skip=can_skip)
        if skips:  # an Admin: every phase, the skips apart, and a justification
            self.fields["phase"].widget.choices = [
                ("One step", steps),
                ("Skipping steps (justify below)", skips),
            ]
            self.fields["skip_justification"] = forms.CharField(
                max_length=NOTE_LENGTH,
                required=False,
                validators=[multi_line],
                widget=forms.Textarea(attrs={"rows": 2}),
                label="Justification for skipping",
                help_text="Admins only, to skip a step or a missing version; the audit log "
                "keeps it.",
            )
        else:
            self.fields["phase"].widget.choices = steps
