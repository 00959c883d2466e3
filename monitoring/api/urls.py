"""REST API v1 of monitoring, mounted under /api/v1/ by portal/urls.py."""

from django.urls import path

from monitoring.api import comparison, views, weeks
from portal.api import Router
from usecases.permissions import NESTED

router = Router()
router.register(f"{NESTED}/monitoring/days", views.DayViewSet, basename="monitoring-day")
router.register(f"{NESTED}/monitoring/drift", views.DriftViewSet, basename="monitoring-drift")
router.register(f"{NESTED}/monitoring/alerts", views.AlertViewSet, basename="monitoring-alert")
router.register(f"{NESTED}/monitoring/runs", views.RunViewSet, basename="monitoring-run")
router.register(f"{NESTED}/monitoring/weeks", weeks.WeekViewSet, basename="monitoring-week")
router.register(
    f"{NESTED}/monitoring/comparison",
    comparison.ComparisonViewSet,
    basename="monitoring-comparison",
)
urlpatterns = [
    *router.urls,
    path(
        "usecases/<slug:use_case_slug>/monitoring/policy",
        views.PolicyView.as_view(),
        name="monitoring-policy",
    ),
]
