"""Pages of an owner's promotion settings (the policy and the deployment webhook, with its
deliveries) and of each person's notifications (the list, and the bell in the top bar).

Use-case pages fetch through `get_use_case_for()` (outsiders 404, members lacking the right
403); notifications are only ever the user's own. Writes go through promotions.services.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from portal.web import GET_POST, Form, HtmxRequest, call_service, page_of, posted
from promotions.forms_settings import PolicyForm
from promotions.models import Notification
from promotions.services import notify, policy, webhooks
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


# Notifications


@require_GET
def notifications(request: HtmxRequest) -> HttpResponse:
    rows = Notification.objects.filter(recipient=request.user).select_related("use_case")
    return render(request, "promotions/notifications.html", {"page": page_of(request, rows)})


# An expired session answers 204 (htmx swaps nothing) rather than the login page, which
# the poll would put in the top bar; the counts are only ever the user's own.
@login_not_required
@require_GET
def notifications_bell(request: HtmxRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponse(status=204)
    return render(request, "promotions/notifications_bell.html")


@require_POST
def notifications_read(request: HtmxRequest) -> HttpResponse:
    count = notify.mark_all_read(request.user)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("promotions:notifications")


@require_GET
def notification_open(request: HtmxRequest, pk: int) -> HttpResponse:
    """Mark the notification read and go where it points (a path inside Quorum only)."""
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    notify.mark_read(notification)
    url = notification.url
    if not (url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None)):
        return redirect("promotions:notifications")
    return redirect(url)
