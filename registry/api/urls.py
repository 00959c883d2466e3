"""REST API v1 of the model registry, mounted under /api/v1/ by portal/urls.py; paths as
quorum_client calls them."""

from portal.api import Router
from registry.api import views
from usecases.permissions import NESTED

router = Router()
router.register(f"{NESTED}/versions", views.ModelVersionViewSet, basename="version")
router.register(
    rf"{NESTED}/versions/(?P<version>{views.VERSION_IN_PATH})/predictions",
    views.PredictionSetViewSet,
    basename="prediction-set",
)
router.register(f"{NESTED}/datasets", views.DatasetViewSet, basename="dataset")
router.register(f"{NESTED}/evaluations", views.EvaluationViewSet, basename="evaluation")

urlpatterns = router.urls
