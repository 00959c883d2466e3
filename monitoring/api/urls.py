"""REST API v1 of monitoring, mounted under /api/v1/ by portal/urls.py."""

from monitoring.api import views
from portal.api import Router
from usecases.permissions import NESTED

router = Router()
router.register(f"{NESTED}/monitoring/days", views.DayViewSet, basename="monitoring-day")
router.register(f"{NESTED}/monitoring/drift", views.DriftViewSet, basename="monitoring-drift")
router.register(f"{NESTED}/monitoring/alerts", views.AlertViewSet, basename="monitoring-alert")
router.register(f"{NESTED}/monitoring/runs", views.RunViewSet, basename="monitoring-run")
urlpatterns = router.urls
