"""Every request gets an id, and every unexpected error under /api/ a JSON answer with it.

`RequestIdMiddleware` (first in MIDDLEWARE) takes the id a proxy sent in X-Request-ID when it
is a plain token, else makes one; it is on `request.request_id`, in the X-Request-ID
response header of every response, and in every log line written while the request runs
(`RequestIdFilter`, through a context variable). An exception a view raises under /api/
becomes {"detail", "code": "server_error", "request_id"} with status 500 (DRF's exception
handler answers only the errors it knows, and lets the rest through to here); one raised
outside any view, in another middleware, reaches `server_error` (handler500) instead, which
answers the same under /api/ and the HTML error page elsewhere. The traceback goes to the
log, never to the client. `refuse_nul_in_path` answers 404 for a path holding a NUL.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

logger = logging.getLogger(__name__)

HEADER = "X-Request-ID"
API_PREFIX = "/api/"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_current = contextvars.ContextVar("request_id", default="-")


def _request_id_for(request: HttpRequest) -> str:
    given = request.headers.get(HEADER, "")
    return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


def request_id_of(request: HttpRequest) -> str:
    """The request's id (made now if the middleware did not run for it)."""
    if not getattr(request, "request_id", None):
        request.request_id = _request_id_for(request)
    return request.request_id


def server_error_body(request: HttpRequest) -> JsonResponse:
    """The API's answer to an unexpected error: the one error shape, plus the request id."""
    request_id = request_id_of(request)
    body = {
        "detail": "Something went wrong on our side. If it happens again, quote request id "
        f"{request_id}.",
        "code": "server_error",
        "request_id": request_id,
    }
    response = JsonResponse(body, status=500)
    response[HEADER] = request_id
    return response


class RequestIdMiddleware:
    """Sets the request's id for its log lines and its X-Request-ID header; a view's
    exception under /api/ becomes the JSON 500 (logged here with the traceback)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path.startswith(API_PREFIX):
            return None  # Django's handler500 page, logged by Django
        logger.error(
            "request %s: %s %s failed",
            request_id_of(request),
            request.method,
            request.path,
            exc_info=(type(exception), exception, exception.__traceback__),
            extra={"request_id": request_id_of(request)},
        )
        return server_error_body(request)


def refuse_nul_in_path(get_response):
    """A path with a NUL character names nothing: 404 before any view puts it in a query,
    which PostgreSQL refuses (a 500 on /model-versions/a%00b/). Under /api/ the JSON 404."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path:
            if request.path.startswith(API_PREFIX):
                from portal.api_pages import endpoint_not_found  # imports DRF's views

                return endpoint_not_found(request)
            raise Http404("No such page.")
        return get_response(request)

    return middleware


class RequestIdFilter(logging.Filter):
    """Gives every log record the id of the request being handled ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return True


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/ (for errors raised outside a view, in a middleware),
    Django's 500 page (templates/500.html) elsewhere."""
    if request.path.startswith(API_PREFIX):
        return server_error_body(request)
    response = defaults.server_error(request)
    response[HEADER] = request_id_of(request)
    return response
