"""The item browser of a review campaign (issue 11, item 5): its reviewed items filtered by
verdict, disagreement, reason tag and segment, each with its reviews side by side and its
features, paginated; htmx swaps the list and keeps the filters in the URL. Members read it
(Action.VIEW), as the results page."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.formatting import value_text
from portal.web import Form, HtmxRequest, page_of
from reviews import selectors
from reviews.models import Review, ReviewCampaign
from reviews.views import _campaign
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for, page_context

PER_PAGE = 20


class ItemFilter(Form):
    """The browser's filters; a value it does not know is ignored, never a 500."""

    verdict = forms.ChoiceField(required=False)
    disagreement = forms.BooleanField(required=False, label="Only where reviewers disagree")
    tag = forms.ChoiceField(required=False, label="Reason tag")
    segment = forms.ChoiceField(required=False)

    def __init__(self, data, *, campaign: ReviewCampaign, choices: dict):
        super().__init__(data)
        pairwise = campaign.mode == ReviewCampaign.Mode.PAIRWISE
        labels = Review.Preference.choices if pairwise else Review.Verdict.choices
        self.fields["verdict"].choices = [("", "Any"), *labels]
        self.fields["verdict"].label = "Preference" if pairwise else "Verdict"
        self.fields["tag"].choices = [("", "Any"), *[(t, t) for t in choices["tags"]]]
        self.fields["segment"].choices = [("", "Any"), *[(s, s) for s in choices["segments"]]]

    def wanted(self) -> dict:
        """The valid filters given (an unknown value is left out, as if not given)."""
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value}


@require_GET
def campaign_items(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    campaign = _campaign(use_case, pk)
    form = ItemFilter(request.GET, campaign=campaign, choices=selectors.item_filters(campaign))
    wanted = form.wanted()
    rows = selectors.campaign_items(campaign, **wanted)
    page = page_of(request, rows, PER_PAGE)
    items = list(page.object_list)
    prefetch_related_objects(items, selectors.ITEM_REVIEWS)
    query = urlencode({k: ("on" if v is True else v) for k, v in wanted.items()})
    context = page_context(
        request,
        use_case,
        campaign=campaign,
        form=form,
        page=page,
        items=[_shown(use_case, campaign, item) for item in items],
        query=query,
        filtered=bool(wanted),
    )
    template = "reviews/items.html"
    if request.htmx:
        template += "#item-list"
    return render(request, template, context)


def _shown(use_case: UseCase, campaign: ReviewCampaign, item) -> dict:
    prediction = item.prediction
    other = item.other_prediction
    reviews = list(item.reviews.all())
    labels = {review.verdict or review.preference for review in reviews}
    return {
        "id": item.pk,
        "position": item.position + 1,
        "request_id": prediction.request_id,
        "segment": prediction.segment,
        "prediction": _label(use_case, prediction.prediction),
        "other": _label(use_case, other.prediction) if other is not None else None,
        "other_shown_first": item.other_shown_first,
        "outcome": _label(use_case, prediction.outcome) if prediction.outcome is not None else "",
        "features": [
            (name, value_text(value)) for name, value in (prediction.features or {}).items()
        ],
        "disagree": len(labels) > 1,
        "reviews": [
            {
                "reviewer": review.reviewer.get_full_name() or review.reviewer.get_username(),
                "verdict": review.get_verdict_display() if review.verdict else "",
                "preference": review.get_preference_display() if review.preference else "",
                "css": review.verdict or review.preference,
                "corrected": (
                    _label(use_case, review.corrected_value)
                    if review.corrected_value is not None
                    else ""
                ),
                "tags": review.reason_tags or [],
                "comment": review.comment,
            }
            for review in reviews
        ],
    }


def _label(use_case: UseCase, value) -> str:
    if use_case.is_classification and value is not None:
        return use_case.class_label(value)
    return value_text(value)
