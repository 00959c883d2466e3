"""Pages of promotion settings; promotions/urls.py includes them in the
"promotions" namespace (no app_name here)."""

from django.urls import path

from promotions import views_settings as views

deliveries = "usecases/<slug:slug>/webhook-deliveries/"
urlpatterns = [
    path("usecases/<slug:slug>/promotion-policy/", views.policy_page, name="policy"),
    path(deliveries, views.deliveries, name="deliveries"),
    path(f"{deliveries}<int:pk>/resend/", views.delivery_resend, name="delivery_resend"),
]
