"""REST API v1 of the reviews app, mounted under /api/v1/ by portal/urls.py.

Each module owns its routes: campaigns.py (review campaigns, claims and reviews) and
results.py (results and exported corrections)."""

from reviews.api import campaigns, results

urlpatterns = [*campaigns.urlpatterns, *results.urlpatterns]
