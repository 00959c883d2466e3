"""Review campaign results and the experts' corrections, as JSON and CSV (issue 4).

GET /api/v1/usecases/{use_case_slug}/review-campaigns/{id}/results      campaign_results
GET /api/v1/usecases/{use_case_slug}/review-campaigns/{id}/corrections  one row per review,
    paginated JSON; `?format=csv` or `Accept: text/csv` streams every row as CSV instead.

Whoever may view the use case may read both (UseCaseRole: outsiders 404, no login 401).
The serializers below only describe the responses for the OpenAPI schema; the bodies come
from reviews.selectors as they are.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from portal.api import ERROR_DESCRIPTIONS, ErrorBody, Pagination
from reviews import exports, selectors
from reviews.models import ReviewCampaign
from usecases.permissions import USE_CASE_SLUG, NestedUnderUseCase

CAMPAIGN_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description="The review campaign's id."
)
FORMAT = OpenApiParameter(
    "format",
    str,
    OpenApiParameter.QUERY,
    enum=["json", "csv"],
    required=False,
    description="`csv` streams every row as CSV (as does `Accept: text/csv`); JSON is paginated.",
)
READ_ERRORS = {
    (code, "application/json"): OpenApiResponse(ErrorBody, description=ERROR_DESCRIPTIONS[code])
    for code in (401, 404)
}


# Response shapes, for the schema only.


class ProportionSerializer(serializers.Serializer):
    successes = serializers.IntegerField()
    n = serializers.IntegerField(help_text="The denominator; 0 leaves rate and bounds null.")
    rate = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="Wilson 95 % interval, low bound.")
    high = serializers.FloatField(allow_null=True, help_text="Wilson 95 % interval, high bound.")


class VerdictCountsSerializer(serializers.Serializer):
    correct = serializers.IntegerField()
    incorrect = serializers.IntegerField()
    unsure = serializers.IntegerField()


class GroupResultSerializer(serializers.Serializer):
    reviews = serializers.IntegerField()
    verdicts = VerdictCountsSerializer()
    acceptance = ProportionSerializer(help_text="correct / (correct + incorrect).")


class SegmentResultSerializer(GroupResultSerializer):
    segment = serializers.CharField(allow_blank=True)


class TagResultSerializer(GroupResultSerializer):
    tag = serializers.CharField()


BANDS = ["poor", "slight", "fair", "moderate", "substantial", "almost perfect"]


class CoefficientSerializer(serializers.Serializer):
    value = serializers.FloatField(
        allow_null=True,
        help_text="Null when undefined: no item reviewed twice, or every review gave one label.",
    )
    band = serializers.ChoiceField(
        BANDS, allow_null=True, help_text="Landis and Koch's reading of the value."
    )


class FleissSerializer(CoefficientSerializer):
    items = serializers.IntegerField(help_text="Items it rests on: those with `raters` reviews.")
    raters = serializers.IntegerField(
        allow_null=True, help_text="The most common number of reviews per item (≥ 2)."
    )


class ReviewerPairSerializer(CoefficientSerializer):
    reviewers = serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    items = serializers.IntegerField(help_text="Items both reviewed.")


class AgreementSerializer(serializers.Serializer):
    method = serializers.ChoiceField(
        ["krippendorff_alpha"],
        allow_null=True,
        help_text="Deprecated: always krippendorff_alpha now (null without an item reviewed "
        "twice); read `krippendorff_alpha`, `fleiss_kappa` and `pairs`.",
    )
    value = serializers.FloatField(
        allow_null=True, help_text="Deprecated: `krippendorff_alpha.value`."
    )
    labels = serializers.ChoiceField(["verdict", "preference"])
    items = serializers.IntegerField(help_text="Items with at least two reviews.")
    reviews = serializers.IntegerField()
    krippendorff_alpha = CoefficientSerializer(help_text="Nominal, over every reviewer.")
    fleiss_kappa = FleissSerializer()
    pairs = ReviewerPairSerializer(
        many=True,
        help_text="Cohen's kappa of each pair of reviewers on the items both reviewed, for "
        "pairs sharing at least `min_shared_items`.",
    )
    pairs_with_fewer_items = serializers.IntegerField()
    min_shared_items = serializers.IntegerField()


class VersionPreferenceSerializer(serializers.Serializer):
    version_id = serializers.IntegerField()
    version = serializers.CharField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    share = ProportionSerializer(help_text="wins / (wins + losses).")


class SegmentPreferenceSerializer(serializers.Serializer):
    segment = serializers.CharField(allow_blank=True)
    wins = serializers.IntegerField(help_text="The campaign's model version preferred.")
    losses = serializers.IntegerField(help_text="The other version preferred.")
    ties = serializers.IntegerField()
    share = ProportionSerializer()


class PairwiseSerializer(serializers.Serializer):
    versions = VersionPreferenceSerializer(many=True)
    decisive = serializers.IntegerField()
    ties = serializers.IntegerField()
    p_value = serializers.FloatField(
        allow_null=True,
        help_text="Two-sided exact binomial test of equal preference; ties left out.",
    )
    segments = SegmentPreferenceSerializer(many=True)


class CampaignSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    mode = serializers.ChoiceField(ReviewCampaign.Mode.choices)
    status = serializers.CharField(help_text="open or closed.")
    reviewers_per_item = serializers.IntegerField()
    item_count = serializers.IntegerField()


class CampaignResultsSerializer(serializers.Serializer):
    campaign = CampaignSummarySerializer()
    reviews = serializers.IntegerField()
    items_reviewed = serializers.IntegerField()
    verdicts = VerdictCountsSerializer()
    acceptance = ProportionSerializer(
        help_text="correct / (correct + incorrect): unsure verdicts are left out."
    )
    segments = SegmentResultSerializer(many=True)
    reason_tags = TagResultSerializer(many=True)
    agreement = AgreementSerializer()
    pairwise = PairwiseSerializer(allow_null=True, help_text="Null unless mode is pairwise.")


class CorrectionSerializer(serializers.Serializer):
    review_id = serializers.IntegerField()
    campaign_id = serializers.IntegerField()
    request_id = serializers.CharField()
    segment = serializers.CharField(allow_blank=True)
    version = serializers.CharField()
    features = serializers.JSONField()
    prediction = serializers.JSONField()
    prediction_label = serializers.CharField(
        allow_blank=True, help_text="The prediction as people read it (binary: the class name)."
    )
    score = serializers.FloatField(allow_null=True)
    outcome = serializers.JSONField(allow_null=True)
    outcome_label = serializers.CharField(allow_blank=True)
    verdict = serializers.CharField(allow_blank=True, help_text="Empty in pairwise mode.")
    preference = serializers.ChoiceField(
        ["model_version", "other_version", "equal", ""],
        help_text="Pairwise: the version preferred (the campaign's model version or the "
        "other one) or equal; empty in single mode.",
    )
    preferred_version = serializers.CharField(allow_blank=True)
    other_version = serializers.CharField(allow_blank=True)
    other_prediction = serializers.JSONField(allow_null=True)
    other_score = serializers.FloatField(allow_null=True)
    corrected_value = serializers.JSONField(allow_null=True)
    corrected_label = serializers.CharField(allow_blank=True)
    reason_tags = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField(allow_blank=True)
    reviewer = serializers.CharField()
    seconds_spent = serializers.FloatField(allow_null=True)
    reviewed_at = serializers.DateTimeField()


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` and `Accept: text/csv` through content negotiation; the view then
    answers with the streamed export, so nothing is rendered here."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("CSV is streamed by reviews.exports")


class CampaignView(NestedUnderUseCase, GenericAPIView):
    """A campaign of the use case UseCaseRole resolved (reads need VIEW)."""

    pagination_class = None
    queryset = ReviewCampaign.objects.none()  # for the schema; campaign() reads the rows

    def campaign(self) -> ReviewCampaign:
        campaign = ReviewCampaign.objects.filter(
            use_case=self.use_case, pk=self.kwargs["id"]
        ).first()
        if campaign is None:
            raise Http404("No such review campaign on this use case.")
        return campaign


@extend_schema(tags=["review campaigns"], parameters=[USE_CASE_SLUG, CAMPAIGN_ID])
class CampaignResultsView(CampaignView):
    serializer_class = CampaignResultsSerializer

    @extend_schema(
        operation_id="v1_review_campaign_results",
        description="Acceptance (correct / (correct + incorrect), unsure left out) with its "
        "Wilson 95 % interval overall, per segment and per reason tag; verdict counts; "
        "agreement between reviewers on items reviewed at least twice; in pairwise mode "
        "each version's wins, losses and ties with an exact binomial test (ties left out).",
        responses={
            (200, "application/json"): CampaignResultsSerializer,
            **READ_ERRORS,
        },
    )
    def get(self, request, use_case_slug=None, id=None):
        return Response(selectors.campaign_results(self.campaign()))


@extend_schema(tags=["review campaigns"], parameters=[USE_CASE_SLUG, CAMPAIGN_ID])
class CampaignCorrectionsView(CampaignView):
    serializer_class = CorrectionSerializer
    renderer_classes = [JSONRenderer, CSVRenderer]
    pagination_class = Pagination

    @extend_schema(
        operation_id="v1_review_campaign_corrections",
        description="Every review of the campaign, oldest first: the prediction reviewed, "
        "its features and outcome, the verdict or preference, the corrected value, reason "
        "tags, comment, reviewer and time spent. Paginated JSON, or the whole campaign as a "
        "CSV download with `?format=csv` or `Accept: text/csv`.",
        parameters=[
            FORMAT,
            OpenApiParameter("page", int, OpenApiParameter.QUERY, required=False),
            OpenApiParameter("page_size", int, OpenApiParameter.QUERY, required=False),
        ],
        responses={
            (200, "application/json"): CorrectionSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="One row per review; a header line first."
            ),
            **READ_ERRORS,
        },
    )
    def get(self, request, use_case_slug=None, id=None):
        campaign = self.campaign()
        if request.accepted_renderer.format == CSVRenderer.format:
            return exports.corrections_csv_response(campaign)
        page = self.paginate_queryset(selectors.correction_reviews(campaign))
        label = campaign.use_case.class_label
        return self.get_paginated_response([selectors.correction_row(r, label) for r in page])

    def finalize_response(self, request, response, *args, **kwargs):
        # Only the streamed export is CSV: errors and OPTIONS' description are JSON whatever
        # was asked for (the CSV renderer renders nothing; OPTIONS with ?format=csv was a 500).
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(response, Response) and isinstance(renderer, CSVRenderer):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


CAMPAIGN = "usecases/<slug:use_case_slug>/review-campaigns/<int:id>"
urlpatterns = [
    path(
        f"{CAMPAIGN}/results",
        CampaignResultsView.as_view(),
        name="review-campaign-results",
    ),
    path(
        f"{CAMPAIGN}/corrections",
        CampaignCorrectionsView.as_view(),
        name="review-campaign-corrections",
    ),
]
