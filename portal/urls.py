"""The project's URLs: every app's pages at the root, and the API under /api/ (v1 gathers
each app's routes; the schema and its viewers are public, as they describe no data)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from portal import api_pages
from portfolio import views_home
from usecases import views as usecase_views

api_v1 = [
    path("", include("usecases.api.urls")),
    path("", include("registry.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("reviews.api.urls")),
    path("", include("promotions.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("collaboration.api.urls")),
    path("", include("portfolio.api.urls")),
    path("", include("monitoring.api.urls")),
    path("", include("mlflow_sync.api.urls")),
]
api_urls = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", api_pages.SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", api_pages.RedocView.as_view(url_name="api:schema"), name="redoc"),
    path("redoc/redoc.standalone.js", api_pages.redoc_script, name="redoc_js"),
    path("v1/", include(api_v1)),
    re_path(r"^(?P<path>[\s\S]*)$", api_pages.endpoint_not_found),
]

# An error outside any view: JSON under /api/ (with the request id), the 500 page elsewhere.
handler500 = "portal.middleware.server_error"

urlpatterns = [
    path("", views_home.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", usecase_views.password_change, name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("usecases.urls")),
    path("", include("registry.urls")),
    path("", include("reviews.urls")),
    path("", include("promotions.urls")),
    path("", include("notifications.urls")),
    path("", include("collaboration.urls")),
    path("", include("portfolio.urls")),
    path("", include("monitoring.urls")),
    path("", include("mlflow_sync.urls")),
    path("api/", include((api_urls, "api"))),
    path("admin/", admin.site.urls),
]
