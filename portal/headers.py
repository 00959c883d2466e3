"""Response headers Django does not set itself: Permissions-Policy, from settings.

django-csp sets Content-Security-Policy (settings.CONTENT_SECURITY_POLICY); Django's
SecurityMiddleware sets nosniff, Referrer-Policy and HSTS; XFrameOptionsMiddleware sets
X-Frame-Options.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def permissions_policy(features: dict[str, list[str]]) -> str:
    """`{"camera": [], "fullscreen": ["self"]}` → `camera=(), fullscreen=(self)`."""
    return ", ".join(f"{name}=({' '.join(allow)})" for name, allow in features.items())


class PermissionsPolicyMiddleware:
    """Sets Permissions-Policy on every response that has none (settings.PERMISSIONS_POLICY:
    feature → the origins allowed to use it, none for most)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.header = permissions_policy(getattr(settings, "PERMISSIONS_POLICY", {}))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
