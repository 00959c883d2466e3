"""Comment threads, mentions and activity feeds, under /usecases/<slug>/ and /activity/."""

from django.urls import path

from collaboration import views

app_name = "collaboration"

use_case = "usecases/<slug:slug>/"
urlpatterns = [
    path("activity/", views.my_activity, name="my_activity"),
    path(f"{use_case}activity/", views.use_case_activity, name="activity"),
    path(f"{use_case}comments/", views.thread, name="thread"),
    path(f"{use_case}comments/mentions/", views.mention_options, name="mention_options"),
    path(f"{use_case}comments/<int:pk>/edit/", views.comment_edit, name="comment_edit"),
    path(f"{use_case}comments/<int:pk>/delete/", views.comment_delete, name="comment_delete"),
]
