"""Pages and htmx fragments of human review: a use case's campaigns (list and creation), the
review screen and a campaign's results.

Every view fetches the use case through `get_use_case_for()` (outsiders 404, members lacking
the right 403): reading needs VIEW, creating and closing campaigns MANAGE_REVIEWS, reviewing
REVIEW. Writes go through reviews.services. The review screen is one page whose workspace
(the item, the verdict form and the progress) is a partial: answering posts the form with
htmx and gets the workspace of the next item back, so no page loads between items.
"""

from __future__ import annotations

import contextlib

from django.contrib import messages
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal.formatting import value_text
from portal.plotting import chart_page
from portal.web import GET_POST, PAGE_SIZE, Form, HtmxRequest, call_service, page_of, posted
from registry.models import ModelVersion
from reviews import charts, exports, progress, selectors
from reviews.forms import CampaignForm, ReviewForm
from reviews.models import Review, ReviewCampaign, ReviewSlot
from reviews.services import campaigns as campaign_services
from reviews.services import reviewing
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for, page_context

# Keys of the review screen (static/js/review.js reads them from data-key attributes).
VERDICT_KEYS = {"correct": "1", "incorrect": "2", "unsure": "3"}
VERDICT_ALT_KEYS = {"correct": "C", "incorrect": "X", "unsure": "U"}
PREFERENCE_KEYS = {"a": "A", "b": "B", "equal": "E"}
# The experts' newest remarks on a version shown on its page; the CSV export has them all.
FEEDBACK_SHOWN = 20
TAG_KEYS = "456789"  # the first six reason tags; the others are toggled by click


def _campaign(use_case: UseCase, pk: int) -> ReviewCampaign:
    queryset = use_case.campaigns.select_related("model_version", "other_version", "created_by")
    return get_object_or_404(queryset, pk=pk)


# Campaigns of a use case


@GET_POST
def campaigns(request: HtmxRequest, slug: str) -> HttpResponse:
    action = Action.MANAGE_REVIEWS if request.method == "POST" else Action.VIEW
    use_case = get_use_case_for(request, slug, action)
    form = CampaignForm(posted(request), use_case=use_case)
    if form.is_valid():
        campaign = call_service(
            form, campaign_services.create_campaign, use_case, by=request.user, **form.cleaned_data
        )
        if campaign is not None:
            messages.success(
                request, f"“{campaign.name}” is open: {campaign.item_count:,} items sampled."
            )
            return redirect("reviews:campaign_detail", use_case.slug, campaign.pk)
    rows = with_review_counts(
        use_case.campaigns.select_related("model_version", "other_version", "created_by")
    )
    context = page_context(
        request,
        use_case,
        page=page_of(request, rows),
        form=form,
        has_versions=use_case.versions.exists(),
    )
    return render(request, "reviews/campaigns.html", context)


def with_review_counts(campaigns: QuerySet[ReviewCampaign]) -> QuerySet[ReviewCampaign]:
    """The campaigns annotated with `reviewed` and `needed` (reviews), in the same query."""
    reviewed = (
        Review.objects.filter(campaign=OuterRef("pk"))
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return campaigns.annotate(
        reviewed=Coalesce(Subquery(reviewed, output_field=IntegerField()), Value(0)),
        needed=F("item_count") * F("reviewers_per_item"),
    )


@require_POST
def campaign_close(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.MANAGE_REVIEWS)
    campaign = _campaign(use_case, pk)
    form = Form(request.POST)  # no fields: it carries the service's refusal, if any
    if form.is_valid() and call_service(
        form, campaign_services.close_campaign, campaign, by=request.user
    ):
        messages.success(request, f"“{campaign.name}” is closed: its results are final.")
    for error in form.non_field_errors():
        messages.error(request, error)
    return redirect("reviews:campaign_detail", use_case.slug, campaign.pk)


# Results


@chart_page
@require_GET
def campaign_results(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    campaign = _campaign(use_case, pk)
    results = selectors.campaign_results(campaign)
    campaign_progress = progress.campaign_progress(campaign)
    for row in campaign_progress["reviewers"]:
        row["minutes"] = row["seconds"] / 60
        row["seconds_per_item"] = row["seconds"] / row["reviewed"] if row["reviewed"] else None
    context = page_context(
        request,
        use_case,
        campaign=campaign,
        results=results,
        progress=campaign_progress,
        charts=[chart for chart in charts.campaign_figures(results).values() if chart],
    )
    return render(request, "reviews/results.html", context)


@require_GET
def corrections_csv(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    campaign = _campaign(use_case, pk)
    filename = f"{use_case.slug}-campaign-{campaign.pk}-corrections.csv"
    return exports.corrections_csv_response(campaign, filename=filename)


# The review screen


@never_cache
@require_GET
def review(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    """The review screen on the reviewer's next item (the one they hold, if any)."""
    use_case = get_use_case_for(request, slug, Action.REVIEW)
    campaign = _campaign(use_case, pk)
    return _render_workspace(request, use_case, campaign, _claim(campaign, request.user))


@never_cache
@require_POST
def review_submit(request: HtmxRequest, slug: str, pk: int, slot: int) -> HttpResponse:
    """Answer (or skip) the slot on screen; the response is the next item's workspace."""
    use_case = get_use_case_for(request, slug, Action.REVIEW)
    campaign = _campaign(use_case, pk)
    slot = get_object_or_404(_slots(campaign), pk=slot)
    form = ReviewForm(request.POST, campaign=campaign, use_case=use_case)
    if "skip" in request.POST.getlist("action"):
        # Already expired or reviewed (another tab): the next item is what they want anyway.
        with contextlib.suppress(reviewing.ClaimError):
            reviewing.release_claim(slot, reviewer=request.user)
    elif not form.is_valid():
        return _render_workspace(request, use_case, campaign, slot, form=form)
    else:
        data = form.cleaned_data
        review = call_service(
            form,
            reviewing.submit_review,
            slot,
            reviewer=request.user,
            verdict=data["verdict"],
            preference=data["preference"],
            corrected_value=data["corrected_value"],
            reason_tags=data["reason_tags"],
            comment=data["comment"].strip(),
            seconds_spent=data["seconds_spent"],
        )
        if review is None:  # refused: a field's value (shown beside it), or the item itself
            refused = bool(form.non_field_errors())  # an expired claim, a closed campaign…
            return _render_workspace(request, use_case, campaign, slot, form=form, refused=refused)
    if not request.htmx:
        return redirect("reviews:review", use_case.slug, campaign.pk)
    return _render_workspace(request, use_case, campaign, _claim(campaign, request.user))


def _claim(campaign: ReviewCampaign, user):
    """The reviewer's next slot; None when the campaign is (or was just) closed or done."""
    if campaign.status != ReviewCampaign.Status.OPEN:
        return None
    try:
        return reviewing.claim_next(campaign, reviewer=user)
    except reviewing.ClaimError:  # closed between the page's read and the claim
        campaign.refresh_from_db(fields=["status"])
        return None


def _slots(campaign: ReviewCampaign):
    return campaign.slots.select_related("item__prediction", "item__other_prediction")


def _render_workspace(
    request: HtmxRequest,
    use_case: UseCase,
    campaign: ReviewCampaign,
    slot: ReviewSlot | None,
    *,
    form: ReviewForm | None = None,
    refused: bool = False,
) -> HttpResponse:
    if slot is not None and not hasattr(slot.item, "prediction"):
        slot = _slots(campaign).get(pk=slot.pk)
    campaign_progress = progress.campaign_progress(campaign)
    mine = [r for r in campaign_progress["reviewers"] if r["reviewer_id"] == request.user.pk]
    context = page_context(
        request,
        use_case,
        campaign=campaign,
        slot=slot,
        item=_item(use_case, campaign, slot) if slot is not None else None,
        form=form,
        refused=refused,
        campaign_progress=campaign_progress,
        my_reviewed=mine[0]["reviewed"] if mine else 0,
        verdicts=_verdict_buttons(form),
        preferences=_preference_buttons(form),
        tags=_tag_buttons(campaign, form),
    )
    template = "reviews/review.html"
    if request.htmx:
        template += "#review-workspace"
    return render(request, template, context)


def _item(use_case: UseCase, campaign: ReviewCampaign, slot: ReviewSlot) -> dict:
    """What the screen shows of the slot's item: features by the schema, the prediction(s)."""
    item = slot.item
    prediction = item.prediction
    features = prediction.features or {}
    schema = {feature.get("name"): feature for feature in use_case.feature_schema or ()}
    rows = [
        {
            "name": name,
            "description": schema.get(name, {}).get("description", ""),
            "type": schema.get(name, {}).get("type", ""),
            "value": value_text(features.get(name)),
            "missing": name not in features,
        }
        for name in [*schema, *sorted(set(features) - set(schema))]
    ]
    shown = {
        "request_id": prediction.request_id,
        "predicted_at": prediction.predicted_at,
        "segment": prediction.segment,
        "features": rows,
        "outcome": _class_text(use_case, prediction.outcome),
        "has_outcome": prediction.outcome is not None,
    }
    if campaign.mode == ReviewCampaign.Mode.PAIRWISE:
        # The stored order, and nothing that tells which version is which.
        first, second = item.prediction, item.other_prediction
        if item.other_shown_first:
            first, second = second, first
        shown["sides"] = [_side(use_case, "A", first), _side(use_case, "B", second)]
    else:
        shown["main"] = _side(use_case, "", prediction)
    return shown


def _class_text(use_case: UseCase, value) -> str:
    """A class by its name (binary: the use case's labels; multiclass: its class names), any
    other value as value_text."""
    if value is not None and use_case.is_classification:
        return use_case.class_label(value)
    return value_text(value)


def _side(use_case: UseCase, label: str, prediction) -> dict:
    """One prediction as shown. Binary with a score: the probability of the positive class
    against the decision threshold, since max(score, 1 − score) would read as the model's
    certainty only with a threshold of 0.5 (issue 11, item 1)."""
    if prediction is None:  # pairwise, the other version never predicted this request
        return {"label": label, "prediction": None, "score": None, "confidence": None}
    shown = {
        "label": label,
        "prediction": _class_text(use_case, prediction.prediction),
        "score": prediction.score,
        "confidence": prediction.confidence,
        "probability": None,
    }
    if use_case.task_type == UseCase.TaskType.BINARY and prediction.score is not None:
        shown["probability"] = {
            "of": use_case.class_label(1),
            "score": prediction.score,
            "threshold": use_case.decision_threshold,
            "then": use_case.class_label(int(prediction.score >= use_case.decision_threshold)),
        }
        shown["confidence"] = None  # the distance to the threshold: not a probability
    return shown


def _verdict_buttons(form: ReviewForm | None) -> list[dict]:
    chosen = form.data.get("verdict") if form is not None else None
    return [
        {
            "value": value,
            "label": label,
            "key": VERDICT_KEYS[value],
            "alt_key": VERDICT_ALT_KEYS[value],
            "checked": value == chosen,
        }
        for value, label in ReviewForm.base_fields["verdict"].choices
    ]


def _preference_buttons(form: ReviewForm | None) -> list[dict]:
    chosen = form.data.get("preference") if form is not None else None
    labels = {"a": "A is better", "b": "B is better", "equal": "Equal"}
    return [
        {"value": value, "label": labels[value], "key": key, "checked": value == chosen}
        for value, key in PREFERENCE_KEYS.items()
    ]


def _tag_buttons(campaign: ReviewCampaign, form: ReviewForm | None) -> list[dict]:
    chosen = set(form.data.getlist("reason_tags")) if form is not None else set()
    return [
        {"tag": tag, "key": TAG_KEYS[i] if i < len(TAG_KEYS) else "", "checked": tag in chosen}
        for i, tag in enumerate(campaign.reason_tags or ())
    ]


# Outside a campaign: the reviewer's inbox, and the version page's feedback fragment


@require_GET
def inbox(request: HtmxRequest) -> HttpResponse:
    """The reviewer's inbox: open campaigns they may review, and the campaigns they created."""
    created = ReviewCampaign.objects.filter(
        created_by=request.user, use_case__in=UseCase.objects.visible_to(request.user)
    ).select_related("use_case", "model_version", "other_version")
    context = {
        "to_review": list(progress.open_campaigns_for(request.user)[:PAGE_SIZE]),
        "created": list(with_review_counts(created).order_by("-created_at")[:PAGE_SIZE]),
    }
    return render(request, "reviews/inbox.html", context)


@require_GET
def version_feedback(request: HtmxRequest, slug: str, version: str) -> HttpResponse:
    """The experts' feedback on one version, loaded by the version page with hx-get."""
    use_case = get_use_case_for(request, slug, Action.VIEW)
    model_version = get_object_or_404(ModelVersion, use_case=use_case, version=version)
    feedback = selectors.version_feedback(model_version, limit=FEEDBACK_SHOWN)
    context = page_context(request, use_case, version=model_version, feedback=feedback)
    # The version page swaps the fragment in; a browser without JavaScript follows the link.
    template = "reviews/_version_feedback.html" if request.htmx else "reviews/version_feedback.html"
    return render(request, template, context)
