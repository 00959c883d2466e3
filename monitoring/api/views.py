"""/api/v1/usecases/{use_case_slug}/monitoring/: days/ (daily figures), drift/, alerts/
(with {id}/acknowledge and {id}/resolve), runs/ (list; POST queues the job) and policy (the
alert thresholds: GET, PUT, PATCH).

Reads need VIEW. Acknowledging and resolving an alert: HANDLE_ALERTS (the owner, experts,
data scientists, managers and admins, not viewers). Queuing runs: MANAGE_MODELS (owner,
data scientists, admins), who run evaluations too. Changing the policy: SET_POLICY (owner,
admins), as the promotion policy. Querysets start from `self.use_case`, which UseCaseRole
fetched through `visible_to()`: outsiders get 404.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.response import Response

from monitoring.api import serializers as s
from monitoring.api.base import LIST_ERRORS, FilteredViewSet, query_params
from monitoring.models import Alert, DailyDrift, DailyKPI, DailyRun, MonitoringPolicy
from monitoring.services import alerts, jobs
from portal.api import CONFLICT_ERRORS, READ_ERRORS, WRITE_ERRORS
from usecases.permissions import USE_CASE_SLUG, Action, NestedUnderUseCase


@extend_schema(tags=["monitoring"], parameters=[USE_CASE_SLUG])
class DayViewSet(FilteredViewSet, ListModelMixin):
    """The use case's daily figures, per version and day, oldest first."""

    serializer_class = s.DaySerializer

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return DailyRun.objects.none()
        # Days with stored figures: a re-run (queued, running, or failed) leaves the previous
        # ones in place, and they are shown until a run replaces them.
        runs = (
            DailyRun.objects.filter(model_version__use_case=self.use_case, stored_at__isnull=False)
            .select_related("model_version")
            .prefetch_related(
                Prefetch("kpis", DailyKPI.objects.select_related("kpi").order_by("kpi_id")),
                "quality",
            )
            .order_by("day", "model_version_id")
        )
        return self.in_range(runs)

    @extend_schema(
        parameters=query_params("version", "start", "end"),
        responses={200: s.DaySerializer(many=True), **LIST_ERRORS},
        description="Each version's monitored days: KPIs with their 95 % intervals on the "
        "predictions with outcomes, live data quality per rule, rows refused at ingestion.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["monitoring"], parameters=[USE_CASE_SLUG])
class DriftViewSet(FilteredViewSet, ListModelMixin):
    """Drift per version, day and feature, oldest first."""

    serializer_class = s.DriftSerializer
    filter_serializer = s.DriftFilter

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return DailyDrift.objects.none()
        rows = DailyDrift.objects.filter(run__model_version__use_case=self.use_case)
        rows = self.in_range(rows, prefix="run__")
        feature = self.filters().get("feature")
        if feature:
            rows = rows.filter(feature=feature)
        return rows.select_related("run__model_version").order_by(
            "run__day", "run__model_version_id", "feature"
        )

    @extend_schema(
        parameters=query_params("version", "feature", "start", "end"),
        responses={200: s.DriftSerializer(many=True), **LIST_ERRORS},
        description="PSI, KS or chi-square with p-values, missing and unseen shares, and "
        "both histograms, of every feature and of the prediction against the reference.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["monitoring"], parameters=[USE_CASE_SLUG])
class AlertViewSet(FilteredViewSet, ListModelMixin, RetrieveModelMixin):
    """The use case's alerts, newest first."""

    serializer_class = s.AlertSerializer
    filter_serializer = s.AlertFilter
    lookup_value_regex = r"[0-9]+"
    not_found = "No such alert on this use case."
    write_actions = {"acknowledge": Action.HANDLE_ALERTS, "resolve": Action.HANDLE_ALERTS}

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return Alert.objects.none()
        return Alert.objects.filter(use_case=self.use_case).select_related(
            "model_version", "acknowledged_by", "resolved_by"
        )

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if self.action != "list":
            return queryset
        found = self.filters()
        if "version" in found:
            queryset = queryset.filter(model_version=found["version"])
        for name in ("status", "kind"):
            if name in found:
                queryset = queryset.filter(**{name: found[name]})
        return queryset

    def _act(self, service) -> Response:
        alert = self.get_object()
        data = s.NoteInput(data=self.request.data)
        data.is_valid(raise_exception=True)
        service(alert, by=self.request.user, **data.validated_data)
        return Response(s.AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(
        parameters=query_params("version", "status", "kind"),
        responses={200: s.AlertSerializer(many=True), **LIST_ERRORS},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.AlertSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.NoteInput,
        responses={200: s.AlertSerializer, **CONFLICT_ERRORS},
        description="Owner, experts, data scientists, managers and admins: say an open alert "
        "is being looked at. It still closes by itself when the value recovers. 409 unless "
        "open.",
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, use_case_slug=None, pk=None):
        return self._act(alerts.acknowledge_alert)

    @extend_schema(
        request=s.NoteInput,
        responses={200: s.AlertSerializer, **CONFLICT_ERRORS},
        description="As acknowledge: mark an open or acknowledged alert resolved. If the value "
        "still crosses on a later day, that day opens a new alert. 409 if it is resolved or "
        "closed already.",
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, use_case_slug=None, pk=None):
        return self._act(alerts.resolve_alert)


@extend_schema(tags=["monitoring"], parameters=[USE_CASE_SLUG])
class RunViewSet(FilteredViewSet, ListModelMixin):
    """The monitoring job's runs, one per version and UTC day, newest day first."""

    serializer_class = s.RunSerializer
    filter_serializer = s.RunFilter
    write_actions = {"create": Action.MANAGE_MODELS}

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return DailyRun.objects.none()
        runs = DailyRun.objects.filter(model_version__use_case=self.use_case)
        return runs.select_related("model_version").order_by("-day", "model_version_id")

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = self.in_range(queryset)
        wanted = self.filters().get("status")
        return queryset.filter(status=wanted) if wanted else queryset

    @extend_schema(
        parameters=query_params("version", "status", "start", "end"),
        responses={200: s.RunSerializer(many=True), **LIST_ERRORS},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.RunInput,
        responses={202: s.RunsQueued, **WRITE_ERRORS},
        description="Owner, data scientists, admins: queue the job for a version's days "
        f"(`days`, or `start` and `end`; at most {jobs.MAX_DAYS_PER_REQUEST}). A finished day "
        "is computed again and replaced; a running one runs again once it ends. 400 for a "
        "day in the future or a version of another use case.",
    )
    def create(self, request, use_case_slug=None):
        data = s.RunInput(data=request.data, context={"use_case": self.use_case})
        data.is_valid(raise_exception=True)
        version, days = data.validated_data["version"], data.validated_data["days"]
        queued = jobs.request_days(version, days)
        runs = DailyRun.objects.filter(model_version=version, day__in=days)
        body = {"queued": queued, "runs": runs.select_related("model_version").order_by("day")}
        return Response(s.RunsQueued(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["monitoring"], parameters=[USE_CASE_SLUG])
class PolicyView(NestedUnderUseCase, GenericAPIView):
    """The use case's alert thresholds (the defaults until someone changes them)."""

    serializer_class = s.PolicySerializer
    pagination_class = None
    write_action = Action.SET_POLICY

    def get_queryset(self) -> QuerySet:
        return MonitoringPolicy.objects.none()  # one object, read from self.use_case

    def get_object(self) -> MonitoringPolicy:
        """The one policy (unsaved defaults until changed): OPTIONS' metadata asks for it."""
        return alerts.current_policy(self.use_case)

    def _save(self, request, *, partial: bool) -> Response:
        data = s.PolicySerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        policy = alerts.save_policy(self.use_case, by=request.user, **data.validated_data)
        return Response(s.PolicySerializer(policy).data)

    @extend_schema(
        responses={200: s.PolicySerializer, **READ_ERRORS},
        description="Every member: the thresholds the nightly job opens alerts with.",
    )
    def get(self, request, use_case_slug=None):
        return Response(s.PolicySerializer(self.get_object()).data)

    @extend_schema(
        request=s.PolicySerializer,
        responses={200: s.PolicySerializer, **WRITE_ERRORS},
        description="Owner and admins: replace every threshold (each field is required). The "
        "next runs use them; the change is audited. 400 names each field out of its range.",
    )
    def put(self, request, use_case_slug=None):
        return self._save(request, partial=False)

    @extend_schema(
        request=s.PolicySerializer,
        responses={200: s.PolicySerializer, **WRITE_ERRORS},
        description="Owner and admins: change the thresholds given; the others stay.",
    )
    def patch(self, request, use_case_slug=None):
        return self._save(request, partial=True)
