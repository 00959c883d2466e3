"""API-wide plumbing: one JSON error shape, pagination, the schema of an error body."""

import sys

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from usecases.services.errors import DomainError


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
    errors = ErrorItem(many=True, required=False)
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        help_text="A rejected file: how many rows failed each check (`errors` lists the "
        "first of them).",
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


def _rejected_table(exc) -> Response:
    """A rejected upload: its message, one item per reported row (or the file itself, for a
    file refused as a whole) and the counts per check; 413 if only its size was wrong."""
    if exc.limit_exceeded:
        return Response({"detail": exc.message}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    errors = []
    for problem in exc.problems:
        item = {"message": str(problem.message)}
        if problem.row is not None:
            item["row"] = problem.row
        if problem.column:
            item["field"] = problem.column
        errors.append(item)
    if not errors:  # an empty or unreadable file: no rows to point at
        errors.append({"field": "file", "message": exc.message})
    body = {"detail": exc.message, "errors": errors, "counts": dict(exc.counts)}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        body = {"detail": "The request body is too large for this endpoint."}
        return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message}, status=exc.status_code)
    # Looked up, not imported (it loads pyarrow, and usecases.api imports this module): if
    # usecases.tabular was never loaded, `exc` cannot be its TableRejected.
    tabular = sys.modules.get("usecases.tabular")
    if tabular is not None and isinstance(exc, tabular.TableRejected):
        return _rejected_table(exc)
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        errors = _flatten(exc.detail)
        first = errors[0] if errors else {"message": "Invalid input."}
        where = f"{first['field']}: " if "field" in first else ""
        response.data = {"detail": f"Invalid input. {where}{first['message']}", "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response
