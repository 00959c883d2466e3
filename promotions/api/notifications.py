"""The caller's own notifications (the bell's, for scripts and other clients):
/api/v1/notifications/ (list; `?unread=true` for the unread only), …/{id}/ (read one),
…/{id}/read (POST: mark it read) and …/read-all (POST: mark every unread one read).

Only ever the caller's own: another person's notification is 404, as if it did not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from portal.api import READ_ERRORS, WRITE_ERRORS, JSONOnly, Router
from promotions.models import Notification
from promotions.services import notify


class NotificationSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text="approval_needed or request_decided.")
    use_case = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    request = serializers.IntegerField(
        source="request_id", allow_null=True, help_text="The promotion request's id."
    )
    url = serializers.CharField(help_text="The page it points to: a path inside Quorum.")
    unread = serializers.BooleanField(source="is_unread")

    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "use_case", "request", "url", "created_at", "read_at"]
        fields += ["unread"]


UNREAD = OpenApiParameter(
    "unread", bool, OpenApiParameter.QUERY, description="true: only the unread ones."
)
MARKED = inline_serializer("NotificationsMarked", {"marked": serializers.IntegerField()})


@extend_schema(tags=["notifications"])
class NotificationViewSet(JSONOnly, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]
    queryset = Notification.objects.none()  # the schema's model; get_queryset() answers

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # the schema, with no user
            return self.queryset
        rows = Notification.objects.filter(recipient=self.request.user).select_related("use_case")
        if self.action == "list" and self.request.query_params.get("unread") == "true":
            rows = rows.unread()
        return rows

    @extend_schema(
        parameters=[UNREAD],
        responses={200: NotificationSerializer(many=True), **READ_ERRORS},
        description="The caller's notifications, newest first.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: NotificationSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=None,
        responses={200: NotificationSerializer, **WRITE_ERRORS},
        description="Mark one notification read (already read: unchanged).",
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        notify.mark_read(notification)
        notification.refresh_from_db(fields=["read_at"])
        return Response(NotificationSerializer(notification).data)

    @extend_schema(
        request=None,
        responses={200: MARKED, **WRITE_ERRORS},
        description="Mark every unread notification of the caller read; how many were.",
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        return Response({"marked": notify.mark_all_read(request.user)})


router = Router()
router.register("notifications", NotificationViewSet, basename="notification")
urlpatterns = router.urls
