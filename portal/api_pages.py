"""The API's own pages: Swagger UI and Redoc served offline under the site's CSP, and the JSON
404 for unknown API paths. Apart from portal/api.py because DRF imports that module (the
pagination class) while loading."""

import functools
from pathlib import Path

import drf_spectacular_sidecar
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.template import engines
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

# What the docs pages need on top of settings.CONTENT_SECURITY_POLICY. Swagger UI's page has
# an inline <style> and its CSS draws icons as data: SVG images; Redoc (styled-components)
# injects <style> elements and runs its search index in a Web Worker made from a blob: URL.
# Scripts stay 'self' only: the split Swagger view loads its initialiser from a URL, and
# neither needs eval (tests/e2e/test_csp.py).
swagger_page = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]})
redoc_page = csp_update(
    {"style-src": ["'unsafe-inline'"], "img-src": ["data:"], "worker-src": ["'self'", "blob:"]}
)

# drf-spectacular's own redoc.html loads Google Fonts; this page loads nothing from outside.
REDOC_PAGE = engines["django"].from_string(
    """{% load static %}<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{% static 'favicon.svg' %}" type="image/svg+xml">
<title>{{ title }}</title></head>
<body><redoc spec-url="{{ schema_url }}"></redoc><script src="{{ redoc_js }}"></script></body>
</html>"""
)
REDOC_BUNDLE = (
    Path(drf_spectacular_sidecar.__file__).parent
    / "static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
)
# The one thing the Redoc bundle loads from outside: the logo beside "API docs by Redocly"
# in its menu. A blank image in its place keeps the page offline.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_LOGO = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@method_decorator(swagger_page, name="dispatch")
class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files; its script from a URL."""


@method_decorator(redoc_page, name="dispatch")
class RedocView(SpectacularRedocView):
    """Redoc from drf-spectacular-sidecar's bundle, with no CDN fonts and no CDN logo."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        context = {
            "title": self.title,
            "schema_url": self._get_schema_url(request),
            "redoc_js": reverse("api:redoc_js"),
        }
        return HttpResponse(REDOC_PAGE.render(context, request))


@functools.cache
def _redoc_script() -> bytes:
    return REDOC_BUNDLE.read_bytes().replace(REDOC_LOGO, BLANK_LOGO)


@login_not_required
@require_GET
@gzip_page
def redoc_script(request) -> HttpResponse:
    """The sidecar's Redoc bundle with its CDN logo replaced (read once per process)."""
    response = HttpResponse(_redoc_script(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_not_required
@csrf_exempt  # it only answers 404; a token client has no CSRF cookie and got an HTML 403
def endpoint_not_found(request, path: str = "") -> JsonResponse:
    """Unknown paths under /api/ (any method, any character) answer in the API's error shape."""
    detail = (
        "No such API endpoint. Collections and items end in a slash (/api/v1/usecases/), "
        "actions and single resources do not (/api/v1/usecases/{slug}/phase). See /api/docs/."
    )
    return JsonResponse({"detail": detail, "code": "not_found"}, status=404)
