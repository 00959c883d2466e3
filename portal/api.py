"""API plumbing every app's endpoints share: the one JSON error body and the exception
handler that produces it (a DomainError, a DRF or Django error), pagination, the router,
the error responses each kind of action documents (the docs pages are in api_pages.py).
"""

import logging

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import DynamicRoute, SimpleRouter
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import DomainError
from portal.parsers import JSONParser


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class ErrorItem(serializers.Serializer):
    field = serializers.CharField(required=False)
    row = serializers.IntegerField(required=False)
    message = serializers.CharField()


class ErrorBody(serializers.Serializer):
    """Every API error: a sentence, and for invalid input one item per bad field or row."""

    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="What kind of error, for programs: invalid, conflict, not_found, "
        "permission_denied, not_authenticated, too_large, too_deep, too_many_fields, "
        "too_many_files, bad_request, server_error…"
    )
    errors = ErrorItem(many=True, required=False)
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        help_text="A rejected file: how many rows failed each check (`errors` lists the "
        "first of them).",
    )
    request_id = serializers.CharField(
        required=False,
        help_text="A server error (500): the request's id, also in the X-Request-ID header "
        "and in the server's log; quote it when reporting the error.",
    )


def _flatten(detail, prefix: str = "") -> list[dict]:
    """DRF's nested {"field": ["msg"]} becomes [{"field": "field", "message": "msg"}]."""
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" else f"{prefix}{key}"
            items += _flatten(value, f"{name}." if isinstance(value, dict) else name)
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                items += _flatten(value, f"{prefix}[{index}].")
            else:
                items.append(_item(prefix, value))
        return items
    return [_item(prefix, detail)]


def _item(field: str, message) -> dict:
    item = {"message": str(message)}
    if field.rstrip("."):
        item["field"] = field.rstrip(".")
    return item


def invalid_input_detail(first: dict) -> str:
    """The sentence of a 400 for invalid input, naming its first bad field."""
    where = f"{first['field']}: " if first.get("field") else ""
    return f"Invalid input. {where}{first['message']}"


def domain_error_response(error: DomainError) -> Response:
    """A service's refusal as the one error body, with the status its class carries."""
    detail = error.message
    if error.field and error.status_code == 400:  # worded as DRF's own field errors are
        detail = invalid_input_detail({"field": error.field, "message": error.message})
    body = {"detail": detail, "code": error.code}
    items = error.error_items()
    if items:
        body["errors"] = items
    body.update(error.body_extras())
    return Response(body, status=error.status_code)


def refused_request(exc: Exception) -> tuple[int, str, str] | None:
    """Status, code and sentence for a request Django itself refuses (it would answer 400 or
    413 with an HTML page), or None for any other exception."""
    if isinstance(exc, RequestDataTooBig):
        return 413, "too_large", "The request body is too large for this endpoint."
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return 400, "too_many_fields", f"The request has more than {limit} fields."
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return 400, "too_many_files", f"The request has more than {limit} files."
    if isinstance(exc, SuspiciousOperation | BadRequest):
        return 400, "bad_request", "The request is malformed."
    return None


def exception_handler(exc, context):
    """Every error as {"detail", "code"} (plus "errors" per bad field or row): a DomainError
    with its own status and code, DRF's with theirs (not_found, permission_denied…), and a
    request Django refuses (too large, too many fields or files) with 400 or 413."""
    refused = refused_request(exc)
    if refused is not None:
        status_code, code, detail = refused
        if isinstance(exc, SuspiciousOperation):  # logged as Django's own handler logs it
            logging.getLogger(f"django.security.{type(exc).__name__}").error(
                str(exc), exc_info=exc, extra={"status_code": status_code}
            )
        return Response({"detail": detail, "code": code}, status=status_code)
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        errors = _flatten(exc.detail)
        first = errors[0] if errors else {"message": "Invalid input."}
        response.data = {"detail": invalid_input_detail(first), "code": "invalid", "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", None) or "error"
        response.data = {"detail": str(response.data["detail"]), "code": code}
    return response


def error_response(exc: Exception, request) -> Response | None:
    """`exception_handler`'s answer, rendered as JSON, for an exception no DRF view handled
    (RequestIdMiddleware, under /api/); None if it is unexpected (the JSON 500 then)."""
    response = exception_handler(exc, {"request": request})
    if response is not None:
        response.accepted_renderer = JSONRenderer()
        response.accepted_media_type = JSONRenderer.media_type
        response.renderer_context = {"request": request, "response": response}
        response.render()
    return response


class Router(SimpleRouter):
    """Collections and items end in a slash (/usecases/, /usecases/{slug}/); verbs and
    singletons do not (/usecases/{slug}/phase, /usecases/{slug}/value-model)."""

    routes = [
        route._replace(url=route.url.replace("{trailing_slash}", ""))
        if isinstance(route, DynamicRoute)
        else route
        for route in SimpleRouter.routes
    ]


class JSONOnly:
    """JSON in and out. Nested JSON (params, feature_schema) has no form encoding, and the
    browsable API would answer a django PermissionDenied from its form checks with HTML.
    The parser is portal.parsers' (depth and size limits, no NUL), as DEFAULT_PARSER_CLASSES."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]


ERROR_DESCRIPTIONS = {
    400: "Invalid input: `errors` names each bad field.",
    401: "No valid token (send `Authorization: Token <token>`) or session.",
    403: "Your role on this use case does not allow this.",
    404: "No such use case (or not one you are a member of), item in it, or page.",
    409: "The change conflicts with the use case's current state.",
    413: "The request body is too large.",
}


def errors(*codes: int) -> dict:
    """`responses=` entries for the given error statuses, all with the one error body."""
    return {
        code: OpenApiResponse(ErrorBody, description=ERROR_DESCRIPTIONS[code]) for code in codes
    }


# What each kind of action can answer besides success; 401 everywhere (all need a login).
# Reads never answer 403: whoever may see a use case may read all of it.
READ_ERRORS = errors(401, 404)
WRITE_ERRORS = errors(400, 401, 403, 404, 413)
CONFLICT_ERRORS = errors(400, 401, 403, 404, 409, 413)
DELETE_ERRORS = errors(401, 403, 404)
