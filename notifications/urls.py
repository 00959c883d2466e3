"""Pages of the notification centre, mounted at the root by portal/urls.py."""

from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("notifications/", views.centre, name="centre"),
    path("notifications/bell/", views.bell, name="bell"),
    path("notifications/read/", views.read_all, name="read_all"),
    path("notifications/preferences/", views.preferences_page, name="preferences"),
    path("notifications/<int:pk>/", views.open_one, name="open"),
    path("notifications/<int:pk>/read/", views.read_one, name="read"),
]
