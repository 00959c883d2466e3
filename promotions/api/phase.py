"""POST /api/v1/usecases/{slug}/phase: move a use case's phase (the path and operation id it
had in the use cases' API). Owners and Admins (Action.CHANGE_PHASE); outsiders 404, other
members 403. promotions.services.phases checks the steps and the versions' evidence."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import CONFLICT_ERRORS, JSONOnly
from portal.text import multi_line
from promotions.services import phases
from usecases import selectors
from usecases.api.serializers import UseCaseSerializer
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for


class PhaseChangeInput(serializers.Serializer):
    phase = serializers.ChoiceField(choices=UseCase.Phase.choices)
    note = serializers.CharField(
        max_length=phases.NOTE_LENGTH,
        validators=[multi_line],
        help_text="Why; kept in the audit log.",
    )
    skip_justification = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=phases.NOTE_LENGTH,
        validators=[multi_line],
        help_text="Admins only: why the move may skip a step or a missing version; kept in "
        "the audit log.",
    )


@extend_schema(tags=["use cases"])
class PhaseView(JSONOnly, APIView):
    permission_classes = [IsAuthenticated]  # the role: get_use_case_for() in post()

    @extend_schema(
        operation_id="v1_usecases_change_phase",
        parameters=[
            OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The use case's slug.")
        ],
        request=PhaseChangeInput,
        responses={200: UseCaseSerializer, **CONFLICT_ERRORS},
        description="Move the use case one step forward or back, with a note. Pilot needs a "
        "version in shadow or canary, Production a version in production; any phase may "
        "retire, and a retired use case returns to the phase it left or to Idea. An Admin "
        "may skip with `skip_justification` (audited). 409 names what is missing or the "
        "steps allowed; 400 a missing note or, for an Admin's skip, justification.",
    )
    def post(self, request, slug=None):
        use_case = get_use_case_for(request, slug, Action.CHANGE_PHASE)
        data = PhaseChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        moved = phases.change_phase(use_case, by=request.user, **data.validated_data)
        # As the use case endpoints answer: the list's row, with its counts.
        row = selectors.use_case_rows(request.user).get(pk=moved.pk)
        return Response(UseCaseSerializer(row).data)


urlpatterns = [
    path("usecases/<slug:slug>/phase", PhaseView.as_view(), name="usecase-phase"),
]
