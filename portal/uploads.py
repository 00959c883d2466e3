"""Browser uploads within the size limit, refused before or while they arrive (issue 10).

Django parses a multipart body whole, to a temporary file, the first time `request.POST`
or `request.FILES` is read: a 2 GiB upload was written out before the view could look at
its size. `capped_upload` guards the views that take a file. It refuses a body whose
Content-Length cannot hold a file within settings.MAX_UPLOAD_BYTES before reading any of
it, and otherwise installs `CappedUploadHandler` in front of Django's handlers, which stops
the upload at the first chunk past the limit: nothing beyond it reaches the temporary file.
Both answer 413 with the product's error page (templates/413.html).

Upload handlers can only be changed before the body is parsed, and CsrfViewMiddleware
parses it to find the token: so the guard is csrf_exempt, installs the handler, then checks
the token itself with csrf_protect (Django docs, "Modifying upload handlers on the fly").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect

logger = logging.getLogger(__name__)

# Multipart boundaries and part headers, the form's other fields (name, description, the
# CSRF token): what a body may hold besides its file. As the API's FORM_OVERHEAD_BYTES.
FORM_OVERHEAD_BYTES = 1024 * 1024


class CappedUploadHandler(FileUploadHandler):
    """Passes the files' data on to the next handlers until more than `max_bytes` (all files
    together) have arrived, then stops the upload without reading the rest of the body."""

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0
        self.stopped = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.stopped = True
            # Django closes (and so deletes) the files begun; connection_reset: the rest of
            # the body is not read either.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) makes the file


def capped_upload(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Guard a view that takes an uploaded file: a body over the limit gets 413 and the
    error page, before the view runs. Other methods go straight to the view."""
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            max_bytes = settings.MAX_UPLOAD_BYTES
            if _content_length(request) > max_bytes + FORM_OVERHEAD_BYTES:
                return too_large(request, max_bytes, read=False)
            handler = CappedUploadHandler(request, max_bytes=max_bytes)
            request.upload_handlers.insert(0, handler)
            request.POST  # noqa: B018 (parse the body now, with the handler in place)
            if handler.stopped:
                return too_large(request, max_bytes, read=True)
        return protected(request, *args, **kwargs)

    return guarded


def too_large(request: HttpRequest, max_bytes: int, *, read: bool) -> HttpResponse:
    """The 413 page, naming the limit."""
    logger.warning(
        "upload refused at %s: over %d bytes (%s)",
        request.path,
        max_bytes,
        "stopped while reading" if read else "Content-Length",
    )
    back = request.META.get("HTTP_REFERER", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = "/"
    context = {"limit": _megabytes(max_bytes), "back": back}
    return render(request, "413.html", context, status=413)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _megabytes(count: int) -> str:
    if count >= 1024**2:
        return f"{count / 1024**2:,.0f} MB"
    return f"{count:,} bytes"
