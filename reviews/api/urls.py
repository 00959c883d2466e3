"""REST API v1 of the reviews app, mounted under /api/v1/ beside the use cases' routes.

Each module owns its routes: ingest.py (predictions and outcomes, bulk), campaigns.py
(review campaigns, claims and reviews) and results.py (results and exported corrections)."""

from reviews.api import campaigns, ingest, results

urlpatterns = [*ingest.urlpatterns, *campaigns.urlpatterns, *results.urlpatterns]
