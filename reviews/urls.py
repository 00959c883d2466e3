"""Pages of the reviews app (campaigns, the review screen, results), mounted at the root
beside usecases.urls; use-case-scoped pages live under /usecases/<slug>/reviews/…"""

from django.urls import path

from reviews import views, views_items

app_name = "reviews"

campaigns = "usecases/<slug:slug>/reviews/"
campaign = f"{campaigns}<int:pk>/"
urlpatterns = [
    path("reviews/", views.inbox, name="inbox"),
    path(
        "usecases/<slug:slug>/model-versions/<str:version>/feedback/",
        views.version_feedback,
        name="version_feedback",
    ),
    path(campaigns, views.campaigns, name="campaigns"),
    path(campaign, views.campaign_results, name="campaign_detail"),
    path(f"{campaign}close/", views.campaign_close, name="campaign_close"),
    path(f"{campaign}items/", views_items.campaign_items, name="campaign_items"),
    path(f"{campaign}corrections.csv", views.corrections_csv, name="corrections_csv"),
    # The review screen: GET claims the next item; a POST answers (or skips) the slot shown.
    path(f"{campaign}review/", views.review, name="review"),
    path(f"{campaign}review/<int:slot>/", views.review_submit, name="review_submit"),
]
