"""REST API v1 of the notification centre, mounted under /api/v1/ by portal/urls.py."""

from django.urls import re_path

from notifications.api import views
from portal.api import Router

router = Router()
router.register("notifications", views.NotificationViewSet, basename="notification")
urlpatterns = [
    re_path(
        r"^notifications/preferences$",
        views.PreferencesView.as_view(),
        name="notification_preferences",
    ),
    *router.urls,
]
