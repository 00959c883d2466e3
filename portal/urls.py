"""The project's URLs: every app's pages at the root, and the API under /api/ (v1 gathers
each app's routes; the schema and its viewers are public, as they describe no data)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import api_pages
from usecases import views as usecase_views

api_v1 = [
    path("", include("usecases.api.urls")),
    path("", include("registry.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("reviews.api.urls")),
]
api_urls = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", api_pages.RedocView.as_view(url_name="api:schema"), name="redoc"),
    path("v1/", include(api_v1)),
    re_path(r"^(?P<path>.*)$", api_pages.endpoint_not_found),
]

urlpatterns = [
    path("", usecase_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("usecases.urls")),
    path("", include("registry.urls")),
    path("", include("reviews.urls")),
    path("api/", include((api_urls, "api"))),
    path("admin/", admin.site.urls),
]
