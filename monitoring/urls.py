"""Pages of monitoring, under /usecases/<slug>/monitoring/."""

from django.urls import path

from monitoring import views

app_name = "monitoring"

monitoring = "usecases/<slug:slug>/monitoring/"
urlpatterns = [
    path(monitoring, views.monitoring_tab, name="tab"),
    # A feature's name may hold a slash: the path converter keeps it whole.
    path(f"{monitoring}drift/<path:feature>/", views.drift_feature, name="drift_feature"),
]
