"""REST API v1 of the use cases and their definition; portal/urls.py mounts it under
/api/v1/ beside the other apps' routes."""

from django.urls import path

from portal.api import Router
from usecases.api import auth_tokens, views
from usecases.permissions import NESTED

router = Router()
router.register("usecases", views.UseCaseViewSet, basename="usecase")
router.register(f"{NESTED}/kpis", views.KPIViewSet, basename="kpi")
router.register(f"{NESTED}/data-quality-rules", views.DataQualityRuleViewSet, basename="rule")
router.register(f"{NESTED}/members", views.MemberViewSet, basename="member")
router.register(f"{NESTED}/audit-events", views.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    *router.urls,
    path(
        "usecases/<slug:use_case_slug>/value-model",
        views.ValueModelView.as_view(),
        name="value-model",
    ),
    path("auth/token", auth_tokens.TokenView.as_view(), name="auth-token"),
]
