"""Bulk prediction logging and outcomes (issue 4)."""

urlpatterns = []
