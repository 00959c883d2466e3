"""Promotion requests (issue 9): /api/v1/usecases/{use_case_slug}/promotions/ (list, create),
…/{id}/ (read), …/{id}/approve, …/{id}/reject, …/{id}/withdraw and …/{id}/override.

Reads need VIEW. Opening needs PROMOTE (owner, data scientist); deciding is for the people
the request's approval policy counts (services/policy.py), withdrawing for its requester,
overriding for managers. Rollback is in deployment.py.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from portal.api import CONFLICT_ERRORS, READ_ERRORS, Router
from portal.text import multi_line
from promotions import selectors
from promotions.models import (
    CANARY_MAX_PERCENT,
    CANARY_MIN_PERCENT,
    Decision,
    Gate,
    PromotionRequest,
)
from promotions.services import policy, requests
from registry.api.serializers import UseCaseVersion
from usecases.permissions import NESTED, USE_CASE_SLUG, Action, NestedUnderUseCase

# Serializers -------------------------------------------------------------------------------


class GateSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text="evaluation, review or data_quality.")
    status = serializers.CharField(help_text="passed, failed or incomplete.")
    evaluation = serializers.IntegerField(source="evaluation_id", allow_null=True)
    campaign = serializers.IntegerField(source="campaign_id", allow_null=True)

    class Meta:
        model = Gate
        fields = ["kind", "status", "summary", "detail", "evaluation", "campaign"]


class DecisionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")
    verdict = serializers.CharField(help_text="approve or reject.")
    capacity = serializers.CharField(help_text="expert, data_scientist or manager.")

    class Meta:
        model = Decision
        fields = ["user", "verdict", "capacity", "comment", "created_at"]


class PromotionSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version")
    requested_by = serializers.CharField(source="requested_by.username")
    status = serializers.CharField(
        help_text="pending, executed, rejected, withdrawn or refused (gates red at execution)."
    )
    from_stage = serializers.CharField()
    target_stage = serializers.CharField()
    overridden_by = serializers.CharField(source="overridden_by.username", allow_null=True)
    gates = GateSerializer(many=True)
    decisions = DecisionSerializer(many=True)
    waiting_for = serializers.SerializerMethodField()

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "version",
            "from_stage",
            "target_stage",
            "traffic_percent",
            "rationale",
            "requested_by",
            "created_at",
            "status",
            "required_approvals",
            "waiting_for",
            "gates",
            "decisions",
            "decided_at",
            "outcome_note",
            "override_justification",
            "overridden_by",
            "overridden_at",
        ]

    def get_waiting_for(self, request) -> dict[str, int]:
        """Approvals still missing per capacity (empty once decided)."""
        return policy.missing_approvals(request) if request.is_pending else {}


class PromotionInput(serializers.Serializer):
    version = UseCaseVersion(help_text="The version to promote (its name).")
    target_stage = serializers.ChoiceField(
        choices=[(s, s) for s in PromotionRequest.TARGETS],
        help_text="One step up: registered → shadow → canary → production (shadow may go "
        "straight to production).",
    )
    traffic_percent = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=CANARY_MIN_PERCENT,
        max_value=CANARY_MAX_PERCENT,
        help_text="Canary only: the share of traffic it takes.",
    )
    rationale = serializers.CharField(max_length=5000, validators=[multi_line])


class CommentInput(serializers.Serializer):
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=5000, validators=[multi_line]
    )


class RejectInput(serializers.Serializer):
    comment = serializers.CharField(max_length=5000, validators=[multi_line])


class OverrideInput(serializers.Serializer):
    justification = serializers.CharField(max_length=5000, validators=[multi_line])


# Views -------------------------------------------------------------------------------------


@extend_schema(tags=["promotions"], parameters=[USE_CASE_SLUG])
class PromotionViewSet(NestedUnderUseCase, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """A use case's promotion requests, newest first."""

    serializer_class = PromotionSerializer
    lookup_value_regex = r"[0-9]+"
    not_found = "No such promotion request on this use case."
    # Deciding is checked by the service against the request's policy; VIEW lets one ask.
    write_action = Action.VIEW
    write_actions = {"create": Action.PROMOTE}

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return PromotionRequest.objects.none()
        return selectors.use_case_requests(self.use_case).select_related("overridden_by")

    def detail_response(self, request_obj, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=request_obj.pk)
        return Response(PromotionSerializer(fresh).data, status=code)

    def _input(self, serializer_class):
        data = serializer_class(data=self.request.data, context={"use_case": self.use_case})
        data.is_valid(raise_exception=True)
        return data.validated_data

    @extend_schema(responses={200: PromotionSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: PromotionSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=PromotionInput,
        responses={201: PromotionSerializer, **CONFLICT_ERRORS},
        description="Open a request; its gates are measured now and kept with their evidence. "
        "400 names the field: a target that skips a stage, a canary percent outside "
        f"{CANARY_MIN_PERCENT}–{CANARY_MAX_PERCENT}, a version of another use case. "
        "409 if the version already has a pending request.",
    )
    def create(self, request, use_case_slug=None):
        fields = self._input(PromotionInput)
        opened = requests.open_request(
            self.use_case,
            by=request.user,
            version=fields["version"],
            target_stage=fields["target_stage"],
            traffic_percent=fields["traffic_percent"],
            rationale=fields["rationale"],
        )
        return self.detail_response(opened, status.HTTP_201_CREATED)

    @extend_schema(
        request=CommentInput,
        responses={200: PromotionSerializer, **CONFLICT_ERRORS},
        description="Approve. The last approval needed executes the promotion in the same "
        "transaction (status executed), or refuses it if a gate is no longer passed and no "
        "manager overrode (status refused, the reason in outcome_note). 403 for one's own "
        "request or without a role the policy counts; 409 if decided already or approved "
        "twice.",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, use_case_slug=None, pk=None):
        fields = self._input(CommentInput)
        decided = requests.approve(self.get_object(), by=request.user, **fields)
        return self.detail_response(decided)

    @extend_schema(
        request=RejectInput,
        responses={200: PromotionSerializer, **CONFLICT_ERRORS},
        description="Reject, with a comment (required). 403/409 as for approve.",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, use_case_slug=None, pk=None):
        fields = self._input(RejectInput)
        decided = requests.reject(self.get_object(), by=request.user, **fields)
        return self.detail_response(decided)

    @extend_schema(
        request=CommentInput,
        responses={200: PromotionSerializer, **CONFLICT_ERRORS},
        description="Withdraw one's own pending request.",
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, use_case_slug=None, pk=None):
        fields = self._input(CommentInput)
        decided = requests.withdraw(self.get_object(), by=request.user, **fields)
        return self.detail_response(decided)

    @extend_schema(
        request=OverrideInput,
        responses={200: PromotionSerializer, **CONFLICT_ERRORS},
        description="Managers: let the request execute despite failed or incomplete gates, "
        "with a written justification the audit trail keeps.",
    )
    @action(detail=True, methods=["post"])
    def override(self, request, use_case_slug=None, pk=None):
        fields = self._input(OverrideInput)
        decided = requests.override(self.get_object(), by=request.user, **fields)
        return self.detail_response(decided)


router = Router()
router.register(f"{NESTED}/promotions", PromotionViewSet, basename="promotion")
urlpatterns = router.urls
