"""The API's own pages: Redoc served offline, and the JSON 404 for unknown API paths. Apart
from portal/api.py because DRF imports that module (the pagination class) while loading."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.template import engines
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView

# drf-spectacular's own redoc.html loads Google Fonts; this page loads nothing from outside.
REDOC_PAGE = engines["django"].from_string(
    """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title></head>
<body><redoc spec-url="{{ schema_url }}"></redoc><script src="{{ redoc_js }}"></script></body>
</html>"""
)


class RedocView(SpectacularRedocView):
    """Redoc from drf-spectacular-sidecar's static files, with no CDN fonts."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        context = {
            "title": self.title,
            "schema_url": self._get_schema_url(request),
            "redoc_js": self._redoc_standalone(),
        }
        return HttpResponse(REDOC_PAGE.render(context, request))


@login_not_required
def endpoint_not_found(request, path: str = "") -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error shape, not an HTML page."""
    detail = (
        "No such API endpoint. Collections and items end in a slash (/api/v1/usecases/), "
        "actions and single resources do not (/api/v1/usecases/{slug}/phase). See /api/docs/."
    )
    return JsonResponse({"detail": detail, "code": "not_found"}, status=404)
