"""Pages of the promotions app, mounted at the root beside the other apps' pages."""

from django.urls import path

from promotions import urls_phase, urls_settings, views

app_name = "promotions"

promotions = "usecases/<slug:slug>/promotions/"
urlpatterns = [
    path("promotions/", views.overview, name="overview"),
    path(promotions, views.use_case_promotions, name="use_case"),
    path(f"{promotions}<int:pk>/", views.detail, name="detail"),
    path(f"{promotions}<int:pk>/<str:step>/", views.decide, name="decide"),
    path("usecases/<slug:slug>/rollback/", views.rollback, name="rollback"),
    path(
        "usecases/<slug:slug>/model-versions/<str:version>/deployment/",
        views.version_history,
        name="version_history",
    ),
    *urls_phase.urlpatterns,  # the use case's phase (views_phase.py)
    *urls_settings.urlpatterns,  # policy and webhook deliveries (views_settings.py)
]
