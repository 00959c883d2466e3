"""REST API v1 of the collaboration app, mounted under /api/v1/ by portal/urls.py."""

from collaboration.api import views
from portal.api import Router
from usecases.permissions import NESTED

router = Router()
router.register(f"{NESTED}/comments", views.CommentViewSet, basename="comment")
router.register(f"{NESTED}/activity", views.ActivityViewSet, basename="activity")

urlpatterns = router.urls
