"""The roadmap's pages (the home page is wired at "/" in portal/urls.py)."""

from django.urls import path

from portfolio import views

app_name = "portfolio"
urlpatterns = [
    path("roadmap/", views.roadmap, name="roadmap"),
    path("roadmap/table/", views.roadmap_table, name="roadmap_table"),
    path("roadmap/timeline/", views.roadmap_timeline, name="roadmap_timeline"),
    path("roadmap/value/", views.roadmap_value, name="roadmap_value"),
    path("roadmap/csv/", views.roadmap_csv, name="roadmap_csv"),
    # One use case's health, a panel of its page (templates/usecases/detail.html).
    path("usecases/<slug:slug>/health/", views.health_panel, name="health"),
]
