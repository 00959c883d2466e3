"""The caller's own notifications: /api/v1/notifications/ (list; `?unread=true` for the unread
only, `?kind=` one kind), …/{id}/ (read one), …/{id}/read (POST: mark it read), …/read-all
(POST: mark every unread one read), and …/preferences (GET, PUT: how the caller hears of
each kind).

Only ever the caller's own, and only those they may still read (of no use case, or of one
they still see): another person's notification is 404, as if it did not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from notifications import selectors
from notifications.api.serializers import NotificationSerializer, PreferencesSerializer
from notifications.models import Kind, Notification
from notifications.services import notify, preferences
from portal.api import READ_ERRORS, WRITE_ERRORS, JSONOnly

UNREAD = OpenApiParameter(
    "unread", bool, OpenApiParameter.QUERY, description="true: only the unread ones."
)
KIND = OpenApiParameter(
    "kind", str, OpenApiParameter.QUERY, enum=Kind.values, description="Only this kind."
)
MARKED = inline_serializer("NotificationsMarked", {"marked": serializers.IntegerField()})


@extend_schema(tags=["notifications"])
class NotificationViewSet(JSONOnly, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]
    queryset = Notification.objects.none()  # the schema's model; get_queryset() answers
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # the schema, with no user
            return self.queryset
        params = self.request.query_params if self.action == "list" else {}
        return selectors.centre_rows(
            self.request.user,
            unread_only=params.get("unread") == "true",
            kind=params.get("kind", ""),
        )

    @extend_schema(
        parameters=[UNREAD, KIND],
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


def _preferences_body(user) -> dict:
    kinds = [
        {"kind": kind, "in_app": c.in_app, "email": c.email, "webhook": c.webhook}
        for kind, c in preferences.preferences_of(user).items()
    ]
    return {"webhook_url": preferences.webhook_url_of(user), "kinds": kinds}


@extend_schema(tags=["notifications"])
class PreferencesView(JSONOnly, APIView):
    """How the caller hears of each kind of notification."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: PreferencesSerializer, **READ_ERRORS})
    def get(self, request):
        return Response(_preferences_body(request.user))

    @extend_schema(
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer, **WRITE_ERRORS},
        description="Set the webhook URL and the channels of the kinds given (the others keep "
        "theirs). A webhook URL is https, names no user, and points at a public host; a kind "
        "with `webhook` on needs one.",
    )
    def put(self, request):
        data = PreferencesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kinds = {
            item["kind"]: preferences.Channels(item["in_app"], item["email"], item["webhook"])
            for item in data.validated_data["kinds"]
        }
        preferences.save_preferences(
            request.user, kinds=kinds, webhook_url=data.validated_data["webhook_url"]
        )
        return Response(_preferences_body(request.user))
