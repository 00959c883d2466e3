"""Pages of monitoring, under /usecases/<slug>/monitoring/."""

from django.urls import path

from monitoring import views, views_policy

app_name = "monitoring"

monitoring = "usecases/<slug:slug>/monitoring/"
urlpatterns = [
    path(monitoring, views.monitoring_tab, name="tab"),
    path(f"{monitoring}policy/", views_policy.policy_page, name="policy"),
    # A feature's name may hold a slash: the path converter keeps it whole.
    path(f"{monitoring}drift/<path:feature>/", views.drift_feature, name="drift_feature"),
]
