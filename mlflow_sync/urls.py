"""The MLflow page of a use case, under /usecases/<slug>/mlflow/."""

from django.urls import path

from mlflow_sync import views

app_name = "mlflow_sync"

page = "usecases/<slug:slug>/mlflow/"
urlpatterns = [
    path(page, views.link_page, name="link"),
    path(f"{page}import/", views.import_now, name="import"),
    path(f"{page}sync/", views.sync_now, name="sync"),
    path(f"{page}unlink/", views.unlink, name="unlink"),
]
