"""/api/: the OpenAPI schema and its two viewers, and v1 of the REST API (DESIGN.md)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DynamicRoute, SimpleRouter

from usecases.api import registry_views, views


class Router(SimpleRouter):
    """Collections and items end in a slash (/usecases/, /usecases/{slug}/); verbs and
    singletons do not (/usecases/{slug}/phase, /usecases/{slug}/value-model)."""

    routes = [
        route._replace(url=route.url.replace("{trailing_slash}", ""))
        if isinstance(route, DynamicRoute)
        else route
        for route in SimpleRouter.routes
    ]


NESTED = r"usecases/(?P<use_case_slug>[-a-zA-Z0-9_]+)"

router = Router()
router.register("usecases", views.UseCaseViewSet, basename="usecase")
router.register(f"{NESTED}/kpis", views.KPIViewSet, basename="kpi")
router.register(f"{NESTED}/data-quality-rules", views.DataQualityRuleViewSet, basename="rule")
router.register(f"{NESTED}/members", views.MemberViewSet, basename="member")
router.register(f"{NESTED}/audit-events", views.AuditEventViewSet, basename="audit-event")
# The model registry (usecases/api/registry_views.py); paths as quorum_client calls them.
router.register(f"{NESTED}/versions", registry_views.ModelVersionViewSet, basename="version")
router.register(
    rf"{NESTED}/versions/(?P<version>[^/]+)/predictions",
    registry_views.PredictionSetViewSet,
    basename="prediction-set",
)
router.register(f"{NESTED}/datasets", registry_views.DatasetViewSet, basename="dataset")
router.register(f"{NESTED}/evaluations", registry_views.EvaluationViewSet, basename="evaluation")

v1 = [
    *router.urls,
    # The reviews app: predictions, outcomes and review campaigns (reviews/api/urls.py).
    path("", include("reviews.api.urls")),
    path(
        "usecases/<slug:use_case_slug>/value-model",
        views.ValueModelView.as_view(),
        name="value-model",
    ),
]

app_name = "api"
urlpatterns = [
    # Public, like the API's documentation: the schema describes endpoints, never data.
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", views.RedocView.as_view(url_name="api:schema"), name="redoc"),
    path("v1/", include(v1)),
    re_path(r"^(?P<path>.*)$", views.endpoint_not_found),
]
