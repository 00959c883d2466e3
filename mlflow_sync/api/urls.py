"""REST API v1 of the MLflow link, mounted under /api/v1/ by portal/urls.py."""

from django.urls import path

from mlflow_sync.api import views
from portal.api import Router
from usecases.permissions import NESTED

router = Router()
router.register(f"{NESTED}/mlflow/versions", views.VersionViewSet, basename="mlflow-version")
router.register(f"{NESTED}/mlflow/syncs", views.SyncViewSet, basename="mlflow-sync")
slug = "usecases/<slug:use_case_slug>/mlflow"
urlpatterns = [
    *router.urls,
    path(slug, views.LinkView.as_view(), name="mlflow-link"),
    path(f"{slug}/import", views.ImportView.as_view(), name="mlflow-import"),
]
