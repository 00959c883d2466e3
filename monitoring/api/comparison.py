"""/api/v1/usecases/{use_case_slug}/monitoring/comparison/: each challenger day (a shadow or
canary version's run) against the production version on the requests both logged, oldest
first; reads need VIEW, as the rest of monitoring's API (monitoring/api/views.py)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.mixins import ListModelMixin

from monitoring.api.base import LIST_ERRORS, FilteredViewSet, query_params
from monitoring.models import DailyComparison, DailyDifference
from usecases.permissions import USE_CASE_SLUG


class DifferenceSerializer(serializers.ModelSerializer):
    kpi = serializers.IntegerField(source="kpi_id")
    name = serializers.CharField(source="kpi.name")
    metric = serializers.CharField(source="kpi.metric")
    direction = serializers.CharField(source="kpi.direction")

    class Meta:
        model = DailyDifference
        fields = [
            "kpi",
            "name",
            "metric",
            "direction",
            "challenger",
            "baseline",
            "difference",
            "low",
            "high",
            "p_value",
            "n",
        ]


class ComparisonSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="run.model_version.version")
    stage = serializers.CharField(source="run.model_version.stage")
    day = serializers.DateField(source="run.day")
    baseline = serializers.CharField(
        source="baseline_label", help_text="The version in production that day."
    )
    disagreement_rate = serializers.FloatField(allow_null=True)
    differences = DifferenceSerializer(
        many=True,
        help_text="Each KPI: challenger − production on the paired rows with an outcome, "
        "with the paired bootstrap's 95 % interval and p-value; nulls until outcomes arrive.",
    )

    class Meta:
        model = DailyComparison
        fields = [
            "version",
            "stage",
            "day",
            "baseline",
            "n_paired",
            "n_disagree",
            "disagreement_rate",
            "mean_abs_difference",
            "n_with_outcome",
            "differences",
        ]


@extend_schema(tags=["monitoring"], parameters=[USE_CASE_SLUG])
class ComparisonViewSet(FilteredViewSet, ListModelMixin):
    """Challenger days against production, oldest first."""

    serializer_class = ComparisonSerializer

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return DailyComparison.objects.none()
        rows = DailyComparison.objects.filter(run__model_version__use_case=self.use_case)
        rows = self.in_range(rows, prefix="run__")
        differences = DailyDifference.objects.select_related("kpi").order_by("kpi__name", "pk")
        return (
            rows.select_related("run__model_version")
            .prefetch_related(Prefetch("differences", differences))
            .order_by("run__day", "run__model_version_id")
        )

    @extend_schema(
        parameters=query_params("version", "start", "end"),
        responses={200: ComparisonSerializer(many=True), **LIST_ERRORS},
        description="For each day of a shadow or canary version: the requests it and the "
        "production version both logged, how often they disagree (another class; numbers "
        "more than 5 % apart), and each KPI's paired difference once outcomes arrive.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
