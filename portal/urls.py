from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from usecases import views as usecase_views

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
    path("", include("reviews.urls")),
    path("api/", include("usecases.api.urls")),
    path("admin/", admin.site.urls),
]
