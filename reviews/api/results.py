"""Review campaign results and the experts' corrections, as JSON and CSV (issue 4)."""

urlpatterns = []
