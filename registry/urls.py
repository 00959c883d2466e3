"""Pages and htmx fragments of the model registry, under /usecases/<slug>/."""

from django.urls import path

from registry import views

app_name = "registry"

use_case = "usecases/<slug:slug>/"
version = f"{use_case}model-versions/<str:version>/"  # a version name may hold dots: 1.4.0
urlpatterns = [
    # Model registry (usecases/views.py); a version name may hold dots: 1.4.0.
    path(f"{use_case}model-versions/", views.versions, name="versions"),
    path(version, views.version_detail, name="version_detail"),
    path(f"{version}predictions/", views.prediction_upload, name="prediction_upload"),
    path(f"{version}evaluations/", views.evaluation_start, name="evaluation_start"),
    path(f"{use_case}datasets/", views.datasets, name="datasets"),
    path(f"{use_case}datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path(f"{use_case}datasets/<int:pk>/delete/", views.dataset_delete, name="dataset_delete"),
    path(
        f"{use_case}datasets/<int:pk>/reference/",
        views.dataset_reference,
        name="dataset_reference",
    ),
    path(f"{use_case}evaluations/", views.evaluations_overview, name="evaluations"),
    path(
        f"{use_case}evaluations/<int:pk>/",
        views.evaluation_detail,
        name="evaluation_detail",
    ),
    path(
        f"{use_case}evaluations/<int:pk>/run/",
        views.evaluation_rerun,
        name="evaluation_rerun",
    ),
]
