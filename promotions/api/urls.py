"""REST API v1 of the promotions app, mounted under /api/v1/ by portal/urls.py.

Each module owns its routes: requests.py (promotion requests) and deployment.py
(what serving polls, and rollback), phase.py (the
use case's phase, which follows the deployment)."""

from django.urls import re_path

from promotions.api import deployment, phase, requests
from usecases.permissions import NESTED

urlpatterns = [
    *requests.urlpatterns,
    re_path(rf"^{NESTED}/deployment$", deployment.DeploymentView.as_view(), name="deployment"),
    re_path(rf"^{NESTED}/rollback$", deployment.RollbackView.as_view(), name="rollback"),
    *phase.urlpatterns,
]
