"""What the monitoring API's lists share: the documented errors, the query parameters'
descriptions, and the base viewset that validates the filters (version, a range of UTC
days) and applies them."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework.viewsets import GenericViewSet

from monitoring.api import serializers as s
from portal.api import errors
from usecases.permissions import NestedUnderUseCase

LIST_ERRORS = errors(400, 401, 404)  # a bad filter is a 400 naming the parameter


def query_params(*names: str) -> list[OpenApiParameter]:
    described = {
        "version": (str, "Only this version (its name)."),
        "start": (str, "From this UTC day, YYYY-MM-DD (inclusive)."),
        "end": (str, "Up to this UTC day, YYYY-MM-DD (inclusive)."),
        "feature": (str, "Only this feature; (prediction) is the score."),
        "status": (str, "Only alerts or runs in this status."),
        "kind": (str, "Only alerts of this kind."),
    }
    return [
        OpenApiParameter(
            name, described[name][0], OpenApiParameter.QUERY, description=described[name][1]
        )
        for name in names
    ]


class FilteredViewSet(NestedUnderUseCase, GenericViewSet):
    filter_serializer: type = s.RangeFilter

    def filters(self) -> dict:
        data = self.filter_serializer(
            data=self.request.query_params, context={"use_case": self.use_case}
        )
        data.is_valid(raise_exception=True)
        return data.validated_data

    def in_range(self, rows: QuerySet, *, prefix: str = "") -> QuerySet:
        found = self.filters()
        if "version" in found:
            rows = rows.filter(**{f"{prefix}model_version": found["version"]})
        if "start" in found:
            rows = rows.filter(**{f"{prefix}day__gte": found["start"]})
        if "end" in found:
            rows = rows.filter(**{f"{prefix}day__lte": found["end"]})
        return rows
