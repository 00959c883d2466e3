"""REST API v1 of the prediction log (bulk predictions and outcomes), mounted under /api/v1/
by portal/urls.py."""

from predictions.api import views

urlpatterns = views.urlpatterns
