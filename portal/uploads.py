"""Request bodies with files, within a size limit on every request (issue 10).

Django parses a multipart body whole the first time `request.POST` or `request.FILES` is
read, writing each file past FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file; and
CsrfViewMiddleware reads `request.POST` on every POST, before LoginRequiredMiddleware or
the view can say anything: a 20 MB file sent to the login page was written out whole. So:

- `CappedUploadHandler` comes first in settings.FILE_UPLOAD_HANDLERS, for every request. It
  passes the files' data on to Django's handlers until more than the request's limit has
  arrived (all files together), then stops the upload: nothing past the limit reaches a
  temporary file. A body whose Content-Length cannot hold files within the limit is not
  read at all.
- The limit is settings.MAX_UPLOAD_BYTES (a data file, 200 MB) on the views that take a
  file, `capped_upload` pages and API views with `takes_upload = True`, and
  settings.MAX_FORM_UPLOAD_BYTES (2.5 MB) everywhere else.
- `UploadLimitMiddleware`, before CsrfViewMiddleware, tells the handler which limit
  applies, answers 413 at once to a multipart body longer than the limit allows, and parses
  the body of a POST that CsrfViewMiddleware would parse next, answering 413 when the
  handler stopped it. An upload view is csrf_exempt, so that its body is parsed only once
  the user is known to be logged in (by the view, which then checks the token itself with
  csrf_protect); the API's views parse theirs after authentication, through
  `MultiPartParser`.

The answer is the product's 413 page (templates/413.html), or the API's JSON error body.
The rest of a stopped body is at most FORM_OVERHEAD_BYTES: it is read and dropped, so that
the client receives the 413 instead of a reset connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import wraps

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils.datastructures import MultiValueDict
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from rest_framework import parsers, status
from rest_framework.exceptions import APIException

logger = logging.getLogger(__name__)

# Multipart boundaries and part headers, the form's other fields (name, description, the
# CSRF token): what a body may hold besides its files.
FORM_OVERHEAD_BYTES = 1024 * 1024
API_PREFIX = "/api/"


def content_length(meta: Mapping) -> int:
    """The request's Content-Length; 0 when absent or not a number (Django then reads no
    body at all)."""
    try:
        return max(int(meta.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def upload_limit(request: HttpRequest) -> int:
    """The bytes the files of this request's body may take, all together."""
    limit = getattr(request, "upload_max_bytes", None)
    return settings.MAX_FORM_UPLOAD_BYTES if limit is None else limit


def upload_refused(request: HttpRequest) -> bool:
    """Whether the body's files were refused, from its length or once past the limit."""
    return getattr(request, "upload_refused", False)


def too_long_for(length: int, max_bytes: int) -> bool:
    """Whether a body of `length` bytes cannot hold files within `max_bytes`."""
    return length > max_bytes + FORM_OVERHEAD_BYTES


class CappedUploadHandler(FileUploadHandler):
    """First of the upload handlers: passes the files' data on to the next ones until more
    than the request's `upload_limit` has arrived, then stops the upload (and marks the
    request `upload_refused`). `received` counts the bytes passed on."""

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int | None = None):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if self.max_bytes is None:
            self.max_bytes = upload_limit(self.request)
        if too_long_for(content_length, self.max_bytes):
            self._refuse()
            return QueryDict(encoding=encoding), MultiValueDict()  # nothing is read
        return None  # Django parses the body, passing each file's chunks through here

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self._refuse()
            # Django closes (and so deletes) the files begun. The body is at most the limit
            # plus FORM_OVERHEAD_BYTES (handle_raw_input): its rest, under 1 MB, is read and
            # dropped, so the client gets the 413 rather than a reset connection.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) makes the file

    def _refuse(self) -> None:
        if self.request is not None:
            self.request.upload_refused = True


def capped_upload(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a page that takes a data file: its files may take settings.MAX_UPLOAD_BYTES.

    The body is parsed here, in the view (so only for a logged-in user), and a body over the
    limit gets 413 and the error page before the view runs; then the CSRF token is checked.
    """
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            request.POST  # noqa: B018 (parse the body now, within the upload limit)
            if upload_refused(request):
                return too_large(request, upload_limit(request), read=True)
        return protected(request, *args, **kwargs)

    guarded.takes_upload = True
    return guarded


def takes_upload(view_func: Callable) -> bool:
    """Whether the view takes a data file: a `capped_upload` page, or an API view whose
    class says `takes_upload = True`."""
    view_class = getattr(view_func, "cls", None)  # DRF's as_view() sets it
    marked = getattr(view_func, "takes_upload", False) or getattr(view_class, "takes_upload", False)
    return bool(marked)


class UploadLimitMiddleware:
    """Before CsrfViewMiddleware: sets the request's upload limit, refuses a multipart body
    too long for it (413, unread), and parses the multipart body of a POST that
    CsrfViewMiddleware would parse next, answering 413 if it was stopped at the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        upload = takes_upload(view_func)
        max_bytes = settings.MAX_UPLOAD_BYTES if upload else settings.MAX_FORM_UPLOAD_BYTES
        request.upload_max_bytes = max_bytes
        if request.content_type != "multipart/form-data":
            return None  # form fields and JSON bodies have their own limits, and no files
        if too_long_for(content_length(request.META), max_bytes):
            return too_large(request, max_bytes, read=False)
        if request.method == "POST" and not getattr(view_func, "csrf_exempt", False):
            request.POST  # noqa: B018 (as CsrfViewMiddleware would, within the limit)
            if upload_refused(request):
                return too_large(request, max_bytes, read=True)
        return None


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(too_large_message(max_bytes))


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, answering 413 when the upload handler refused the body (from
    its length, before reading it, or at the limit)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        request = parser_context["request"]
        if upload_refused(request):
            raise UploadTooLarge(upload_limit(request))
        return parsed


def too_large_message(max_bytes: int) -> str:
    return f"The file is larger than {megabytes(max_bytes)}; split it or sample it."


def too_large(request: HttpRequest, max_bytes: int, *, read: bool) -> HttpResponse:
    """The 413 page naming the limit (the JSON error body under /api/)."""
    logger.warning(
        "upload refused at %s: over %d bytes (%s)",
        request.path,
        max_bytes,
        "stopped while reading" if read else "Content-Length",
    )
    if request.path.startswith(API_PREFIX):
        body = {"detail": too_large_message(max_bytes), "code": "too_large"}
        return JsonResponse(body, status=413)
    back = request.META.get("HTTP_REFERER", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = "/"
    context = {"limit": megabytes(max_bytes), "back": back}
    return render(request, "413.html", context, status=413)


def megabytes(count: int) -> str:
    """A byte count as people read a limit: "200 MB", or "4,000 bytes" below 1 MB."""
    if count >= 1024**2:
        return f"{count / 1024**2:,.1f}".removesuffix(".0") + " MB"
    return f"{count:,} bytes"
