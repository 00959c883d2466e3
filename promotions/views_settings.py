"""Pages of an owner's promotion settings (the policy and the deployment webhook, with its
deliveries); each person's notifications are the notification centre's (notifications app).

Use-case pages fetch through `get_use_case_for()` (outsiders 404, members lacking the right
403). Writes go through promotions.services.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.web import GET_POST, Form, HtmxRequest, call_service, page_of, posted
from promotions.forms_settings import PolicyForm
from promotions.services import policy, webhooks
from promotions.services import settings as policy_settings
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for, page_context


@GET_POST
def policy_page(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.SET_POLICY)
    current = policy.policy_for(use_case)
    form = PolicyForm(posted(request), use_case=use_case, current=current)
    if form.is_valid():
        saved = call_service(
            form, policy_settings.save_policy, use_case, by=request.user, **form.service_fields()
        )
        if saved is not None:
            messages.success(request, "The promotion policy is saved.")
            return redirect("promotions:policy", use_case.slug)
    context = page_context(
        request,
        use_case,
        form=form,
        has_secret=bool(current.webhook_secret),
        secret_set_at=policy_settings.secret_set_at(use_case),
        high_needs=policy.in_words(policy.TIER_MINIMUMS[UseCase.RiskTier.HIGH]),
        tab="promotions",
    )
    return render(request, "promotions/settings/policy.html", context)


def _render_deliveries(request, use_case: UseCase, **extra) -> HttpResponse:
    rows = use_case.webhook_deliveries.select_related("resent_by").order_by("-created_at", "-pk")
    context = page_context(
        request,
        use_case,
        page=page_of(request, rows),
        webhook_url=policy.policy_for(use_case).webhook_url,
        tab="promotions",
        **extra,
    )
    return render(request, "promotions/settings/deliveries.html", context)


@require_GET
def deliveries(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.SET_POLICY)
    return _render_deliveries(request, use_case)


@require_POST
def delivery_resend(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.SET_POLICY)
    delivery = get_object_or_404(use_case.webhook_deliveries, pk=pk)
    form = Form(request.POST)  # no fields: it carries the service's refusal, if any
    copy = call_service(form, webhooks.resend, delivery, by=request.user)
    if copy is None:
        return _render_deliveries(request, use_case, row_form=form, row_delivery=delivery.pk)
    messages.success(request, f"Delivery #{delivery.pk} is sent again as delivery #{copy.pk}.")
    return redirect("promotions:deliveries", use_case.slug)
