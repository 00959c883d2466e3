"""REST API v1 of the reviews app, mounted under /api/v1/ beside the use cases' routes.

Each module owns its routes: ingest.py (predictions and outcomes, bulk) and campaigns.py
(review campaigns, claims, reviews, results, exports)."""

from reviews.api import campaigns, ingest

urlpatterns = [*ingest.urlpatterns, *campaigns.urlpatterns]
