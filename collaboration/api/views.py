"""Comments and activity of a use case through the API: /api/v1/usecases/{slug}/comments/
(list, filtered by ?target=kind:id; create; edit; delete) and /activity/. Whoever may view
the use case may read and comment; the services check the rest (edit: the author within the
window; delete: the author, an owner or an admin)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from collaboration import selectors, targets
from collaboration.api import serializers as s
from collaboration.models import Comment
from collaboration.services import comments
from portal.api import READ_ERRORS, Pagination, errors
from portal.errors import InvalidInput
from usecases.activity import sentences
from usecases.models import AuditEvent
from usecases.permissions import USE_CASE_SLUG, Action, NestedUnderUseCase

TARGET = OpenApiParameter(
    "target", str, OpenApiParameter.QUERY, description='Only the thread of "kind:id".'
)
WRITE = errors(400, 401, 403, 404)


@extend_schema(tags=["comments"], parameters=[USE_CASE_SLUG])
class CommentViewSet(NestedUnderUseCase, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """A use case's comments, oldest first."""

    serializer_class = s.CommentSerializer
    write_action = Action.VIEW  # commenting needs only sight of the use case
    not_found = "No such comment on this use case."

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return Comment.objects.none()
        rows = Comment.objects.filter(use_case=self.use_case).select_related("author")
        if self.action == "list" and "target" in self.request.query_params:
            parsed = targets.parse_key(self.request.query_params["target"])
            if parsed is None:
                raise InvalidInput('Give the target as "kind:id".', field="target")
            rows = rows.filter(target_kind=parsed[0], target_id=parsed[1])
        return rows.order_by("id")

    @extend_schema(
        parameters=[TARGET],
        responses={200: s.CommentSerializer(many=True), **errors(400, 401, 404)},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.CommentSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.CommentCreateInput,
        responses={201: s.CommentSerializer, **WRITE},
        description="Post a comment (or a reply, with `parent`). @username mentions of the "
        "use case's members notify them; any other name stays text.",
    )
    def create(self, request, use_case_slug=None):
        data = s.CommentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comments.post_comment(self.use_case, by=request.user, **data.validated_data)
        return Response(s.CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.CommentEditInput,
        responses={200: s.CommentSerializer, **errors(400, 401, 403, 404, 409)},
        description="Edit your own comment, within 10 minutes of posting it (409 after).",
    )
    def partial_update(self, request, use_case_slug=None, pk=None):
        comment = self.get_object()
        data = s.CommentEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comments.edit_comment(comment, by=request.user, **data.validated_data)
        return Response(s.CommentSerializer(comment).data)

    @extend_schema(
        request=None,
        responses={200: s.CommentSerializer, **errors(401, 403, 404)},
        description="Delete a comment (its author, the use case's owner, an admin): a "
        "marker stays in the thread, without the text.",
    )
    def destroy(self, request, use_case_slug=None, pk=None):
        comment = comments.delete_comment(self.get_object(), by=request.user)
        return Response(s.CommentSerializer(comment).data)


@extend_schema(tags=["activity"], parameters=[USE_CASE_SLUG])
class ActivityViewSet(NestedUnderUseCase, GenericViewSet):
    """What happened on the use case, newest first, in sentences."""

    serializer_class = s.ActivitySerializer
    pagination_class = Pagination
    queryset = AuditEvent.objects.none()  # for the schema; list() reads the selector

    @extend_schema(responses={200: s.ActivitySerializer(many=True), **READ_ERRORS})
    def list(self, request, use_case_slug=None):
        events = selectors.activity_events(request.user, use_case=self.use_case)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.ActivitySerializer(sentences(page), many=True).data)
