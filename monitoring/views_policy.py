"""The monitoring policy page of a use case (/usecases/<slug>/monitoring/policy/): the alert
thresholds the nightly job uses. Every member reads them; the owner and admins change them
(SET_POLICY, as the promotion policy), through monitoring.services.alerts.save_policy()."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from monitoring.forms import PolicyForm
from monitoring.models import MonitoringPolicy
from monitoring.services import alerts
from portal.formatting import value_text
from portal.web import GET_POST, HtmxRequest, call_service, posted
from usecases.permissions import Action, can, get_use_case_for, page_context


def policy_rows(policy: MonitoringPolicy) -> list[dict]:
    """Each threshold in words, for people who may not change them: the form's labels and
    help, percentages as "5 %", switches as on or off."""
    initial = PolicyForm.initial_for(policy)
    rows = []
    for name, field in PolicyForm.base_fields.items():
        value = initial[name]
        if isinstance(field, forms.BooleanField):
            text = "On" if value else "Off"
        elif name in PolicyForm.PERCENT:
            text = f"{value_text(value, decimals=4)} %"
        elif isinstance(field, forms.DateField):
            text = value.strftime("%-d %b %Y") if value else "— (the holdout)"
        else:
            text = value_text(value, decimals=4)
        label = str(field.label).removesuffix(" (%)")
        rows.append({"name": name, "label": label, "value": text, "help": field.help_text})
    return rows


@GET_POST
def policy_page(request: HtmxRequest, slug: str) -> HttpResponse:
    needed = Action.SET_POLICY if request.method == "POST" else Action.VIEW
    use_case = get_use_case_for(request, slug, needed)
    policy = alerts.current_policy(use_case)
    form = None
    if can(request.user, Action.SET_POLICY, use_case):
        form = PolicyForm(posted(request), initial=PolicyForm.initial_for(policy))
        if form.is_valid():
            changed = form.has_changed()
            saved = call_service(
                form, alerts.save_policy, use_case, by=request.user, **form.service_fields()
            )
            if saved is not None:
                text = "The monitoring policy is saved: the next daily runs use it."
                messages.success(request, text if changed else "Nothing changed.")
                return redirect("monitoring:policy", use_case.slug)
    context = page_context(
        request, use_case, form=form, policy=policy, rows=policy_rows(policy), tab="monitoring"
    )
    return render(request, "monitoring/policy.html", context)
