"""/api/v1/usecases/{use_case_slug}/monitoring/weeks/: each KPI per version and week (Monday
to Sunday, UTC), computed over the week's predictions with an outcome once the week is over
(monitoring/services/weeks.py); reads need VIEW."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.mixins import ListModelMixin

from monitoring.api.base import LIST_ERRORS, FilteredViewSet, query_params
from monitoring.models import WeeklyKPI
from usecases.permissions import USE_CASE_SLUG

WEEK_MINUS_ONE = datetime.timedelta(days=7)  # a week starting 6 days before still overlaps


class WeekSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version")
    week = serializers.DateField(help_text="The week's Monday (UTC days).")
    kpi = serializers.IntegerField(source="kpi_id")
    name = serializers.CharField(source="kpi.name")
    metric = serializers.CharField(source="kpi.metric")
    gate_threshold = serializers.FloatField(source="kpi.gate_threshold")

    class Meta:
        model = WeeklyKPI
        fields = [
            "version",
            "week",
            "kpi",
            "name",
            "metric",
            "value",
            "low",
            "high",
            "n",
            "gate_threshold",
            "computed_at",
        ]


@extend_schema(tags=["monitoring"], parameters=[USE_CASE_SLUG])
class WeekViewSet(FilteredViewSet, ListModelMixin):
    """Weekly KPI values, oldest week first."""

    serializer_class = WeekSerializer

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return WeeklyKPI.objects.none()
        found = self.filters()
        rows = WeeklyKPI.objects.filter(model_version__use_case=self.use_case)
        if "version" in found:
            rows = rows.filter(model_version=found["version"])
        if "start" in found:  # the weeks that overlap the range
            earliest = datetime.date.min + WEEK_MINUS_ONE  # no date before year 1
            rows = rows.filter(week__gt=max(found["start"], earliest) - WEEK_MINUS_ONE)
        if "end" in found:
            rows = rows.filter(week__lte=found["end"])
        return rows.select_related("model_version", "kpi").order_by(
            "week", "model_version_id", "kpi__name", "pk"
        )

    @extend_schema(
        parameters=query_params("version", "start", "end"),
        responses={200: WeekSerializer(many=True), **LIST_ERRORS},
        description="Each KPI per version and week (the Monday), with its 95 % interval, on "
        "all of the week's predictions with an outcome: not an average of the days.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
