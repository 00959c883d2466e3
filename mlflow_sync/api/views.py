"""/api/v1/usecases/{use_case_slug}/mlflow: the link (GET, PUT, PATCH, DELETE), import (POST
queues an import), versions/ (what was imported, with the runs' figures) and syncs/ (the
alias syncs; POST queues one).

Reads need VIEW. Linking, changing and unlinking: SET_POLICY (the owner and admins): the
link decides which MLflow model a promotion moves aliases on. Importing and syncing:
MANAGE_MODELS (owner, data scientists, admins), who register versions. Querysets start
from `self.use_case`, fetched through `visible_to()`: outsiders get 404.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from mlflow_sync.api import serializers as s
from mlflow_sync.models import AliasSync, ImportedVersion, MlflowLink
from mlflow_sync.services import links, scheduling
from portal.api import READ_ERRORS, WRITE_ERRORS, errors
from usecases.permissions import Action, NestedUnderUseCase

NOT_LINKED = "This use case is not linked to an MLflow registered model."


class _Linked(NestedUnderUseCase):
    def link(self) -> MlflowLink:
        link = MlflowLink.objects.filter(use_case=self.use_case).first()
        if link is None:
            raise Http404(NOT_LINKED)
        return link


class LinkView(_Linked, GenericAPIView):
    """The use case's MLflow registered model."""

    serializer_class = s.LinkSerializer
    pagination_class = None
    write_action = Action.SET_POLICY

    def get_queryset(self):
        return MlflowLink.objects.none()  # one object, read from self.use_case

    def get_object(self) -> MlflowLink:
        return self.link()

    def _save(self, request, *, partial: bool) -> Response:
        data = s.LinkSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        link = links.save_link(self.use_case, by=request.user, **data.validated_data)
        return Response(s.LinkSerializer(link).data)

    @extend_schema(responses={200: s.LinkSerializer, **READ_ERRORS})
    def get(self, request, use_case_slug=None):
        return Response(s.LinkSerializer(self.link()).data)

    @extend_schema(
        request=s.LinkSerializer,
        responses={200: s.LinkSerializer, **WRITE_ERRORS},
        description="Owner and admins: link (or re-link) the use case. MLflow is asked for "
        "the registered model first; 400 says what failed (unreachable, no such model, "
        "refused credentials, a private host not allowed by MLFLOW_ALLOWED_HOSTS).",
    )
    def put(self, request, use_case_slug=None):
        return self._save(request, partial=False)

    @extend_schema(
        request=s.LinkSerializer,
        responses={200: s.LinkSerializer, **WRITE_ERRORS},
        description="Owner and admins: change the fields given; MLflow is asked again.",
    )
    def patch(self, request, use_case_slug=None):
        return self._save(request, partial=True)

    @extend_schema(
        responses={204: None, **errors(401, 403, 404)},
        description="Owner and admins: unlink. Imported versions stay in Quorum.",
    )
    def delete(self, request, use_case_slug=None):
        if not links.remove_link(self.use_case, by=request.user):
            raise Http404(NOT_LINKED)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImportView(_Linked, GenericAPIView):
    serializer_class = s.Queued
    pagination_class = None
    write_action = Action.MANAGE_MODELS

    def get_queryset(self):
        return MlflowLink.objects.none()

    @extend_schema(
        request=None,
        responses={202: s.Queued, **WRITE_ERRORS},
        description="Owner, data scientists, admins: queue an import of the linked model's "
        "versions. Read the link's last_import for the outcome.",
    )
    def post(self, request, use_case_slug=None):
        scheduling.queue_import(self.link(), request.user)
        body = {"queued": True, "detail": "The import is queued."}
        return Response(s.Queued(body).data, status=status.HTTP_202_ACCEPTED)


class VersionViewSet(_Linked, ListModelMixin, GenericViewSet):
    """The imported versions, newest MLflow version first, with their runs' figures."""

    serializer_class = s.ImportedVersionSerializer

    def get_queryset(self):
        if self.is_schema_generation():
            return ImportedVersion.objects.none()
        imported = ImportedVersion.objects.filter(link=self.link())
        return imported.select_related("model_version", "link").order_by("-imported_at", "-pk")

    @extend_schema(responses={200: s.ImportedVersionSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class SyncViewSet(_Linked, ListModelMixin, GenericViewSet):
    """The alias syncs, newest first (the latest 50 are kept)."""

    serializer_class = s.SyncSerializer
    write_actions = {"create": Action.MANAGE_MODELS}

    def get_queryset(self):
        if self.is_schema_generation():
            return AliasSync.objects.none()
        return AliasSync.objects.filter(link=self.link())

    @extend_schema(responses={200: s.SyncSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=None,
        responses={202: s.SyncSerializer, **WRITE_ERRORS},
        description="Owner, data scientists, admins: queue a sync of the aliases and tags "
        "to the stages now (as after a promotion).",
    )
    def create(self, request, use_case_slug=None):
        sync = scheduling.queue_sync(self.link())
        return Response(s.SyncSerializer(sync).data, status=status.HTTP_202_ACCEPTED)
