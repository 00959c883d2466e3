"""The deployment of a use case. What serving infrastructure polls: GET /api/v1/usecases/
{use_case_slug}/deployment, the
production version, the canary with its traffic and the shadow versions. An ETag over the
body lets a poller send If-None-Match and get 304 with no body while nothing changed. And
POST …/{use_case_slug}/rollback: owners and managers return the previous production version.

Most GETs with an API token never reach this view: promotions/middleware.py answers them in
one query, byte for byte as here (the body's pieces are in promotions/deployment_body.py);
a change to this view's answer must be made there too (tests/promotions/test_fastpath.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import CONFLICT_ERRORS, READ_ERRORS
from portal.text import multi_line
from promotions import selectors
from promotions.deployment_body import etag_of, matches
from promotions.services import execution
from usecases.permissions import USE_CASE_SLUG, Action, NestedUnderUseCase


class DeployedVersion(serializers.Serializer):
    version = serializers.CharField()
    stage = serializers.CharField()
    traffic_percent = serializers.IntegerField(allow_null=True, help_text="Canary only.")
    artifact_uri = serializers.CharField()
    mlflow_run_id = serializers.CharField()
    git_commit = serializers.CharField()
    stage_changed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the version took its stage."
    )


class Deployment(serializers.Serializer):
    use_case = serializers.CharField()
    production = DeployedVersion(allow_null=True)
    canary = DeployedVersion(allow_null=True)
    shadow = DeployedVersion(many=True)


def _version(version) -> dict | None:
    if version is None:
        return None
    return DeployedVersion(version).data


def deployment_body(use_case) -> dict:
    found = selectors.deployment(use_case)
    return {
        "use_case": use_case.slug,
        "production": _version(found["production"]),
        "canary": _version(found["canary"]),
        "shadow": [_version(v) for v in found["shadow"]],
    }


@extend_schema(tags=["promotions"], parameters=[USE_CASE_SLUG])
class DeploymentView(NestedUnderUseCase, APIView):
    @extend_schema(
        responses={
            200: Deployment,
            304: OpenApiResponse(description="Unchanged since the ETag sent in If-None-Match."),
            **READ_ERRORS,
        },
        description="The versions serving the use case. Send the last ETag in If-None-Match "
        "to get 304 while nothing changed.",
    )
    def get(self, request, use_case_slug=None):
        body = deployment_body(self.use_case)
        etag = etag_of(body)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if matches(request.headers.get("If-None-Match", ""), etag):
            return Response(status=304, headers=headers)
        return Response(body, headers=headers)


class RollbackInput(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, validators=[multi_line])


@extend_schema(tags=["promotions"], parameters=[USE_CASE_SLUG])
class RollbackView(NestedUnderUseCase, APIView):
    write_action = Action.ROLLBACK

    @extend_schema(
        request=RollbackInput,
        responses={200: Deployment, **CONFLICT_ERRORS},
        description="Owners and managers: return the previous production version to "
        "production (the current one is archived), with a reason; answers the new "
        "deployment. 409 if no earlier production version exists.",
    )
    def post(self, request, use_case_slug=None):
        data = RollbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        execution.rollback(self.use_case, by=request.user, **data.validated_data)
        return Response(deployment_body(self.use_case))
