"""Review campaigns, claims, reviews, results and exports (issue 4)."""

urlpatterns = []
