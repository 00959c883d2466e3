"""The phase page's route, at the path the use case pages had (promotions/urls.py, with
app_name "promotions", includes this list: {% url 'promotions:phase' slug %})."""

from django.urls import path

from promotions import views_phase

urlpatterns = [
    path("usecases/<slug:slug>/phase/", views_phase.phase, name="phase"),
]
