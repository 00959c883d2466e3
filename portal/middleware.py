"""Every request gets an id, and every error under /api/ a JSON answer (with the id if a 500).

`RequestIdMiddleware` (first in MIDDLEWARE) makes each request an id; it takes the one a
proxy sent in X-Request-ID instead only behind trusted proxies (TRUSTED_PROXY_COUNT > 0,
portal/proxies.py) and only when it is a plain token. The id is on `request.request_id`, in
the X-Request-ID header of every response, and in every log line written while the request
runs (`RequestIdFilter`, through a context variable), Django's own "Bad Request: /path"
line for a 4xx or 5xx included: the middleware writes it, as Django would after the last
middleware returned, while the id is still set.

An exception a view raises under /api/ that DRF's handler let through gets the API's answer
from `portal.api.error_response`, the one mapping: a request Django refuses (too large, too
many fields or files, malformed) 413 or 400, Http404 404, PermissionDenied 403, each as
{"detail", "code"}. Anything else becomes {"detail", "code": "server_error", "request_id"}
with status 500, its traceback logged under the id, never sent to the client. One raised
outside any view, in another middleware, reaches `server_error` (handler500) instead, which
answers the same 500 under /api/ and the HTML error page elsewhere. `refuse_nul_in_path`
answers 404 for a path holding a NUL.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.log import log_response
from django.views import defaults

from portal.proxies import trusted_proxies

HEADER = "X-Request-ID"
API_PREFIX = "/api/"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_current = contextvars.ContextVar("request_id", default="-")


def _request_id_for(request: HttpRequest) -> str:
    """The trusted proxy's id if it sent a plain one; else ours. Without a trusted proxy the
    header is the client's own words (it could make its requests look like another's)."""
    given = request.headers.get(HEADER, "") if trusted_proxies() else ""
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


def _log_failure(request: HttpRequest, response: HttpResponse, exception=None) -> None:
    """Django's own log line for a 4xx or 5xx ("Not Found: /path", with the traceback when
    an exception caused it). Django writes it only once per response: written here, while
    the request's id is set, it is not written again after the last middleware returns."""
    if response.status_code >= 400:
        log_response(
            "%s: %s",
            response.reason_phrase,
            request.path,
            response=response,
            request=request,
            exception=exception,
        )


class RequestIdMiddleware:
    """Sets the request's id for its log lines and its X-Request-ID header; a view's
    exception under /api/ becomes the API's JSON error (a 500 if unexpected)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            _log_failure(request, response)
        finally:
            _current.reset(token)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path.startswith(API_PREFIX):
            return None  # Django's own answer: a 400, 403, 404 or the 500 page
        from portal.api import error_response  # imports DRF's views

        response = error_response(exception, request)
        if response is None:
            response = server_error_body(request)
            _log_failure(request, response, exception)  # the traceback, under the id
        return response


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
