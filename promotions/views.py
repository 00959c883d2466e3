"""Pages of promotions: every request across the use cases one sees (those waiting for the
user first), a use case's deployment and requests (opening one, rolling back), and a
request's page with its gates, decisions and the steps the user may take.

Every view fetches the use case through `get_use_case_for()` (outsiders 404, members lacking
the right 403); writes go through promotions.services, whose refusals become form errors.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.web import GET_POST, HtmxRequest, call_service, page_of, posted
from promotions import selectors
from promotions.forms import CommentForm, OverrideForm, PromotionForm, RejectForm, RollbackForm
from promotions.models import Gate, PromotionRequest
from promotions.services import execution, policy, requests
from registry.models import ModelVersion
from usecases.models import UseCase
from usecases.permissions import Action, can, get_use_case_for, page_context


@require_GET
def overview(request: HtmxRequest) -> HttpResponse:
    waiting = selectors.waiting_for_user(request.user)
    rows = (
        PromotionRequest.objects.filter(
            use_case__in=UseCase.objects.visible_to(request.user).values("pk")
        )
        .select_related("use_case", "model_version", "requested_by")
        .order_by("-created_at", "-pk")
    )
    context = {"waiting": waiting, "page": page_of(request, rows)}
    return render(request, "promotions/overview.html", context)


@GET_POST
def use_case_promotions(request: HtmxRequest, slug: str) -> HttpResponse:
    action = Action.PROMOTE if request.method == "POST" else Action.VIEW
    use_case = get_use_case_for(request, slug, action)
    # ?version=<id> (from a version's or an evaluation's page) preselects the version.
    initial = {"version": request.GET.get("version", "")}
    form = PromotionForm(posted(request), use_case=use_case, initial=initial)
    if form.is_valid():
        opened = call_service(
            form, requests.open_request, use_case, by=request.user, **form.cleaned_data
        )
        if opened is not None:
            messages.success(request, f"Request #{opened.pk} is open: {_waiting_line(opened)}")
            return redirect(opened)
    return render(request, "promotions/use_case.html", _use_case_context(request, use_case, form))


def _use_case_context(request, use_case: UseCase, form, rollback_form=None) -> dict:
    deployed = selectors.deployment(use_case)
    rules = policy.policy_for(use_case)
    return page_context(
        request,
        use_case,
        form=form,
        rollback_form=rollback_form or RollbackForm(),
        deployment=deployed,
        previous=execution.previous_production(use_case, deployed["production"]),
        page=page_of(request, selectors.use_case_requests(use_case, with_decisions=False)),
        required=policy.in_words(policy.required_approvals(use_case, rules)),
    )


def _waiting_line(opened: PromotionRequest) -> str:
    waiting = policy.waiting_for(opened)
    return f"it waits for {waiting}." if waiting else "no approval is needed."


@require_POST
def rollback(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.ROLLBACK)
    form = RollbackForm(request.POST)
    if form.is_valid():
        version = call_service(
            form, execution.rollback, use_case, by=request.user, **form.cleaned_data
        )
        if version is not None:
            messages.success(request, f"Version {version.version} is back in production.")
            return redirect("promotions:use_case", use_case.slug)
    context = _use_case_context(request, use_case, PromotionForm(use_case=use_case), form)
    return render(request, "promotions/use_case.html", context, status=400)


def _request(use_case: UseCase, pk: int) -> PromotionRequest:
    promotion = get_object_or_404(
        selectors.use_case_requests(use_case).select_related("overridden_by"), pk=pk
    )
    promotion.use_case = use_case  # the instance whose roles permissions.py caches
    return promotion


def _detail_context(request, use_case: UseCase, promotion: PromotionRequest, **forms) -> dict:
    user = request.user
    pending = promotion.is_pending
    may_decide = (
        pending
        and promotion.requested_by_id != user.pk
        and not any(d.user_id == user.pk for d in promotion.decisions.all())
        and bool(policy.capacities_of(user, use_case))
    )
    red = any(gate.status != Gate.Status.PASSED for gate in promotion.gates.all())
    return page_context(
        request,
        use_case,
        promotion=promotion,
        waiting=policy.waiting_for(promotion) if pending else "",
        may_approve=may_decide and policy.capacity_needed_from(user, promotion) is not None,
        may_reject=may_decide,
        may_withdraw=pending and promotion.requested_by_id == user.pk,
        may_override=pending
        and red
        and promotion.requested_by_id != user.pk
        and promotion.overridden_by_id is None
        and can(user, Action.OVERRIDE_GATE, use_case),
        approve_form=forms.get("approve_form") or CommentForm(prefix="approve"),
        reject_form=forms.get("reject_form") or RejectForm(prefix="reject"),
        withdraw_form=forms.get("withdraw_form") or CommentForm(prefix="withdraw"),
        override_form=forms.get("override_form") or OverrideForm(prefix="override"),
    )


@require_GET
def version_history(request: HtmxRequest, slug: str, version: str) -> HttpResponse:
    """A version's stages and data quality, loaded by the version page with hx-get."""
    use_case = get_use_case_for(request, slug, Action.VIEW)
    model_version = get_object_or_404(ModelVersion, use_case=use_case, version=version)
    history = selectors.version_history(model_version)
    context = page_context(request, use_case, version=model_version, **history)
    # The version page swaps the fragment in; a browser without JavaScript follows the link.
    template = "promotions/_version.html" if request.htmx else "promotions/version.html"
    return render(request, template, context)


@require_GET
def detail(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    promotion = _request(use_case, pk)
    return render(request, "promotions/detail.html", _detail_context(request, use_case, promotion))


STEPS = {
    "approve": (CommentForm, requests.approve),
    "reject": (RejectForm, requests.reject),
    "withdraw": (CommentForm, requests.withdraw),
    "override": (OverrideForm, requests.override),
}
DONE = {
    PromotionRequest.Status.EXECUTED: "Approved and executed: the version is in its new stage.",
    PromotionRequest.Status.REFUSED: "Approved, but refused at execution: see why below.",
    PromotionRequest.Status.REJECTED: "Rejected.",
    PromotionRequest.Status.WITHDRAWN: "Withdrawn.",
}


@require_POST
def decide(request: HtmxRequest, slug: str, pk: int, step: str) -> HttpResponse:
    if step not in STEPS:
        raise Http404("No such step.")
    use_case = get_use_case_for(request, slug, Action.VIEW)
    promotion = _request(use_case, pk)
    form_class, service = STEPS[step]
    form = form_class(request.POST, prefix=step)
    if form.is_valid():
        done = call_service(form, service, promotion, by=request.user, **form.cleaned_data)
        if done is not None:
            pending = done.status == PromotionRequest.Status.PENDING
            text = "The gates are overridden." if step == "override" else "Your approval counts."
            messages.success(request, text if pending else DONE[done.status])
            return redirect(done)
    context = _detail_context(request, use_case, promotion, **{f"{step}_form": form})
    return render(request, "promotions/detail.html", context, status=400)
