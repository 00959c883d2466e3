"""Review campaigns, claims and reviews (issue 4): /api/v1/usecases/{use_case_slug}/
review-campaigns/ (list, create), …/{id}/ (detail with progress), …/{id}/close, …/{id}/claim
(the next item to review), …/{id}/release (skip it) and …/{id}/reviews (submit a review).

Roles via `UseCaseRole`: reads need VIEW; creating and closing need MANAGE_REVIEWS (owner,
expert, data scientist), claiming, releasing and reviewing need REVIEW (owner, expert);
admins may do everything. In pairwise mode the claimed item shows the two predictions as A
and B in the order stored on the item, never which version made which.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.response import Response
from rest_framework.routers import DynamicRoute, SimpleRouter
from rest_framework.viewsets import GenericViewSet

from portal.api import CONFLICT_ERRORS, READ_ERRORS, errors
from portal.text import multi_line, single_line
from predictions.models import Prediction
from registry.api.serializers import UseCaseVersion
from reviews import progress
from reviews.models import Review, ReviewCampaign, ReviewItem, ReviewSlot
from reviews.services import campaigns, reviewing
from usecases.permissions import USE_CASE_SLUG, Action, NestedUnderUseCase

# Serializers -------------------------------------------------------------------------------


class ProgressReviewer(serializers.Serializer):
    reviewer_id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    reviewed = serializers.IntegerField()
    seconds = serializers.FloatField(help_text="Seconds spent on the reviews given.")
    open_claims = serializers.IntegerField(help_text="Items held under an unexpired claim.")


class ProgressSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    reviews_needed = serializers.IntegerField(help_text="Items × reviewers per item.")
    reviews_done = serializers.IntegerField()
    percent = serializers.FloatField()
    open_claims = serializers.IntegerField()
    reviewers = ProgressReviewer(many=True)


class CampaignSerializer(serializers.ModelSerializer):
    model_version = serializers.CharField(source="model_version.version")
    other_version = serializers.CharField(source="other_version.version", allow_null=True)
    created_by = serializers.CharField(source="created_by.username")
    reviews_done = serializers.IntegerField(help_text="Reviews given so far.")
    # Plain text, not enums: drf-spectacular would name colliding `status` enums otherwise.
    mode = serializers.CharField(help_text="single or pairwise.")
    strategy = serializers.CharField(
        help_text="uniform, stratified, lowest_confidence, largest_error or disagreement."
    )
    status = serializers.CharField(help_text="open or closed.")

    class Meta:
        model = ReviewCampaign
        fields = [
            "id",
            "name",
            "model_version",
            "other_version",
            "mode",
            "strategy",
            "sample_size",
            "item_count",
            "reviewers_per_item",
            "instructions",
            "reason_tags",
            "due_date",
            "window_start",
            "window_end",
            "status",
            "created_by",
            "created_at",
            "reviews_done",
        ]


class CampaignDetailSerializer(CampaignSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "progress"]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, campaign) -> dict:
        return progress.campaign_progress(campaign)


class CampaignInput(serializers.Serializer):
    """Versions come by name and leave as versions of the use case in the context."""

    name = serializers.CharField(max_length=200, validators=[single_line])
    model_version = UseCaseVersion(help_text="The version reviewed (its name).")
    other_version = UseCaseVersion(
        required=False,
        allow_null=True,  # blank or null: none
        help_text="Pairwise: version B; disagreement: the champion to compare with.",
    )
    mode = serializers.ChoiceField(ReviewCampaign.Mode.choices, default="single")
    strategy = serializers.ChoiceField(ReviewCampaign.Strategy.choices, default="uniform")
    sample_size = serializers.IntegerField(min_value=1, max_value=campaigns.MAX_SAMPLE_SIZE)
    reviewers_per_item = serializers.IntegerField(
        min_value=1, max_value=campaigns.MAX_REVIEWERS_PER_ITEM, default=1
    )
    instructions = serializers.CharField(
        required=False, allow_blank=True, default="", validators=[multi_line]
    )
    reason_tags = serializers.ListField(
        child=serializers.CharField(max_length=50, validators=[single_line]),
        required=False,
        default=list,
    )
    due_date = serializers.DateField(required=False, allow_null=True)
    window_start = serializers.DateTimeField(required=False, allow_null=True)
    window_end = serializers.DateTimeField(required=False, allow_null=True)


class ShownPrediction(serializers.Serializer):
    prediction = serializers.JSONField(help_text="A number, 0/1 or a class name.")
    label = serializers.CharField(
        help_text="The prediction as people read it: binary 1/0 by the use case's class names."
    )
    score = serializers.FloatField(
        allow_null=True, help_text="Binary: the probability of class 1; multiclass: of the class."
    )
    confidence = serializers.FloatField(
        allow_null=True,
        help_text="What “lowest confidence” sampling orders by: binary, the score's distance "
        "to the decision threshold; multiclass, the predicted class's score; null otherwise.",
    )


class ClaimedItem(serializers.Serializer):
    slot = serializers.IntegerField(help_text="Send it back with the review.")
    campaign = serializers.IntegerField()
    mode = serializers.CharField()
    claimed_until = serializers.DateTimeField(help_text="The claim lapses then (10 minutes).")
    request_id = serializers.CharField()
    predicted_at = serializers.DateTimeField()
    segment = serializers.CharField()
    features = serializers.JSONField()
    prediction = ShownPrediction(
        required=False, help_text="Single mode: the model's prediction, score and confidence."
    )
    a = ShownPrediction(required=False, help_text="Pairwise: prediction A (version not shown).")
    b = ShownPrediction(required=False, help_text="Pairwise: prediction B (version not shown).")
    outcome = serializers.JSONField(allow_null=True, help_text="The real outcome, when known.")
    reason_tags = serializers.ListField(child=serializers.CharField())
    instructions = serializers.CharField()


class SlotInput(serializers.Serializer):
    slot = serializers.IntegerField(help_text="The claimed slot (`slot` of the claim).")


class ReviewInput(SlotInput):
    verdict = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Single mode: correct, incorrect or unsure.",
    )
    preference = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Pairwise: a, b or equal."
    )
    # A NUL, a lone surrogate or 1e400 anywhere in it, or nesting past 32 levels, never gets
    # here: the view's one parser (portal.parsers, through JSONOnly) refuses the body first.
    corrected_value = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Only with the verdict incorrect, and not the prediction itself: a number "
        "(regression), 0 or 1 (binary), a class the use case knows (multiclass).",
    )
    reason_tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, default=list
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", validators=[multi_line]
    )
    seconds_spent = serializers.FloatField(required=False, allow_null=True, min_value=0)


class ReviewSerializer(serializers.ModelSerializer):
    verdict = serializers.CharField(help_text="correct, incorrect or unsure (single mode).")
    preference = serializers.CharField(help_text="a, b or equal (pairwise).")

    class Meta:
        model = Review
        # Not preferred_version: in blind review the reviewer must not learn who was A.
        fields = [
            "id",
            "slot",
            "item",
            "verdict",
            "preference",
            "corrected_value",
            "reason_tags",
            "comment",
            "seconds_spent",
            "created_at",
        ]


def _shown(prediction: Prediction, use_case) -> dict:
    return {
        "prediction": prediction.prediction,
        "label": use_case.class_label(prediction.prediction),
        "score": prediction.score,
        "confidence": prediction.confidence,
    }


def claimed_item(campaign: ReviewCampaign, slot: ReviewSlot) -> dict:
    """What the reviewer sees of a claimed slot (pairwise: A and B in the stored order)."""
    item = ReviewItem.objects.select_related("prediction", "other_prediction").get(pk=slot.item_id)
    mine = item.prediction
    data = {
        "slot": slot.pk,
        "campaign": campaign.pk,
        "mode": campaign.mode,
        "claimed_until": slot.claimed_until,
        "request_id": mine.request_id,
        "predicted_at": mine.predicted_at,
        "segment": mine.segment,
        "features": mine.features,
        "outcome": mine.outcome,
        "reason_tags": campaign.reason_tags,
        "instructions": campaign.instructions,
    }
    if campaign.mode == ReviewCampaign.Mode.PAIRWISE:
        first, second = mine, item.other_prediction
        if item.other_shown_first:
            first, second = second, first
        data["a"], data["b"] = _shown(first, campaign.use_case), _shown(second, campaign.use_case)
    else:
        data["prediction"] = _shown(mine, campaign.use_case)
    return data


# Views -------------------------------------------------------------------------------------

CAMPAIGN_ERRORS = errors(401, 404)
REVIEW_ERRORS = CONFLICT_ERRORS


@extend_schema(tags=["review campaigns"], parameters=[USE_CASE_SLUG])
class ReviewCampaignViewSet(NestedUnderUseCase, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """A use case's review campaigns, newest first; claims and reviews of their items."""

    serializer_class = CampaignSerializer
    lookup_value_regex = r"[0-9]+"
    not_found = "No such review campaign on this use case."
    write_action = Action.MANAGE_REVIEWS
    write_actions = {
        "create": Action.MANAGE_REVIEWS,
        "close": Action.MANAGE_REVIEWS,
        "claim": Action.REVIEW,
        "release": Action.REVIEW,
        "reviews": Action.REVIEW,
    }

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return ReviewCampaign.objects.none()
        return (
            self.use_case.campaigns.select_related("model_version", "other_version", "created_by")
            .annotate(reviews_done=progress.reviewed_by())
            .order_by("-created_at", "-pk")
        )

    def detail_response(self, campaign: ReviewCampaign, code: int = status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=campaign.pk)
        return Response(CampaignDetailSerializer(fresh).data, status=code)

    def open_slot(self, campaign: ReviewCampaign, slot_id: int) -> ReviewSlot:
        slot = ReviewSlot.objects.filter(campaign=campaign, pk=slot_id).first()
        if slot is None:
            raise Http404("No such item slot in this campaign.")
        return slot

    @extend_schema(responses={200: CampaignSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: CampaignDetailSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return self.detail_response(self.get_object())

    @extend_schema(
        request=CampaignInput,
        responses={201: CampaignDetailSerializer, **REVIEW_ERRORS},
        description="Sample the items and open the campaign. 400 with a sentence when the "
        "version has no predictions (in the window), the strategy cannot apply (no "
        "confidence, no outcomes, no other version) or the versions share no request; 400 "
        "naming `sample_size`, with how many there are, when `sample_size` is more than the "
        "window holds (predictions of the version; with a confidence or an outcome for the "
        "strategies ranking by one; requests both versions predicted when two are compared).",
    )
    def create(self, request, use_case_slug=None):
        data = CampaignInput(data=request.data, context={"use_case": self.use_case})
        data.is_valid(raise_exception=True)
        campaign = campaigns.create_campaign(self.use_case, by=request.user, **data.validated_data)
        return self.detail_response(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: CampaignDetailSerializer, **REVIEW_ERRORS},
        description="Close the campaign: no more claims or reviews. 409 if already closed.",
    )
    @action(detail=True, methods=["post"])
    def close(self, request, use_case_slug=None, pk=None):
        campaign = campaigns.close_campaign(self.get_object(), by=request.user)
        return self.detail_response(campaign)

    @extend_schema(
        request=None,
        responses={
            200: ClaimedItem,
            204: OpenApiResponse(description="Nothing is left for you to review."),
            **REVIEW_ERRORS,
        },
        description="Claim the next item to review (or get back the one you hold) for "
        f"{reviewing.CLAIM_MINUTES} minutes. 409 if the campaign is closed.",
    )
    @action(detail=True, methods=["post"])
    def claim(self, request, use_case_slug=None, pk=None):
        campaign = self.get_object()
        slot = reviewing.claim_next(campaign, reviewer=request.user)
        if slot is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ClaimedItem(claimed_item(campaign, slot)).data)

    @extend_schema(
        request=SlotInput,
        responses={204: OpenApiResponse(description="Released."), **REVIEW_ERRORS},
        description="Skip the item you hold: it goes back to the queue for others.",
    )
    @action(detail=True, methods=["post"])
    def release(self, request, use_case_slug=None, pk=None):
        data = SlotInput(data=request.data)
        data.is_valid(raise_exception=True)
        slot = self.open_slot(self.get_object(), data.validated_data["slot"])
        reviewing.release_claim(slot, reviewer=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=ReviewInput,
        responses={201: ReviewSerializer, **REVIEW_ERRORS},
        description="Review the item you hold: a verdict (single mode) or a preference a/b/"
        "equal (pairwise), optional corrected value, reason tags of the campaign, comment. "
        "400 naming `corrected_value` when one comes with the verdict correct or unsure, "
        "equals the prediction, or does not suit the task type; nothing is recorded and you "
        "keep the claim. 409 if your claim expired, is not yours or the item was already "
        "reviewed.",
    )
    @action(detail=True, methods=["post"])
    def reviews(self, request, use_case_slug=None, pk=None):
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        slot = self.open_slot(self.get_object(), fields.pop("slot"))
        review = reviewing.submit_review(slot, reviewer=request.user, **fields)
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class Router(SimpleRouter):
    """As usecases.api.urls.Router: collections and items end in a slash, verbs do not."""

    routes = [
        route._replace(url=route.url.replace("{trailing_slash}", ""))
        if isinstance(route, DynamicRoute)
        else route
        for route in SimpleRouter.routes
    ]


router = Router()
router.register(
    r"usecases/(?P<use_case_slug>[-a-zA-Z0-9_]+)/review-campaigns",
    ReviewCampaignViewSet,
    basename="review-campaign",
)
urlpatterns = router.urls
