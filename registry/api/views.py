"""REST API for the model registry (/api/v1/usecases/{use_case_slug}/…): model versions,
evaluation datasets, a version's predictions on a dataset, and evaluations.

The same shape as views.py: `UseCaseRole` resolves the use case (reads need VIEW, writes
MANAGE_MODELS: owner, data scientist, admin; marking the reference dataset SET_POLICY: owner,
admin), a view checks its input and calls one service. Evaluation lists show the current
evaluations only; a superseded one is still read at its own URL.
A rejected file (tables.report.TableRejected) becomes a 400 with one item per bad row and
the counts per check, in portal.api's exception handler (a 413 when only its size or row
count was over the limit).

Uploads are multipart/form-data. Django keeps a file of up to FILE_UPLOAD_MAX_MEMORY_SIZE
(2.5 MB by default) in memory and spools a larger one to a temporary file in
FILE_UPLOAD_TEMP_DIR, which the service reads as a stream; DATA_UPLOAD_MAX_MEMORY_SIZE caps
only the text fields. The upload views say `takes_upload`, so their files may take
settings.MAX_UPLOAD_BYTES (portal.uploads; elsewhere far less): a body that cannot hold a
file within it is refused from its Content-Length before any of it is read, and one that
passes it is stopped there, both with a JSON 413.
"""

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from portal.api import CONFLICT_ERRORS, READ_ERRORS, WRITE_ERRORS, ErrorBody, errors
from portal.uploads import MultiPartParser, UploadTooLarge
from registry.api import serializers as s
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet
from registry.services import evaluations, reference, registering
from usecases.permissions import USE_CASE_SLUG, Action, NestedUnderUseCase

# Version names have dots (/versions/1.4.0/); a NUL can name none, and PostgreSQL would
# refuse it in the query (a 500): such a path matches no route (the API's JSON 404).
VERSION_IN_PATH = r"[^/\x00]+"
VERSION = OpenApiParameter(
    "version", str, OpenApiParameter.PATH, description="The version's name, e.g. 1.4.0."
)
UPLOAD_ERRORS = {
    **WRITE_ERRORS,
    413: OpenApiResponse(
        ErrorBody, description="The file is over 200 MB (uncompressed) or 1,000,000 rows."
    ),
    415: OpenApiResponse(ErrorBody, description="Send the file as multipart/form-data."),
}


def checked_file(upload):
    """The uploaded file, unless it is over the limit."""
    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise UploadTooLarge(settings.MAX_UPLOAD_BYTES)
    return upload


class RegistryView(NestedUnderUseCase):
    """Reads need VIEW; every write needs MANAGE_MODELS."""

    write_action = Action.MANAGE_MODELS


class UploadView(RegistryView):
    """Takes multipart/form-data (a file and a few fields) instead of JSON; answers JSON.
    Its files may take settings.MAX_UPLOAD_BYTES (portal.uploads)."""

    parser_classes = [MultiPartParser, FormParser]
    takes_upload = True


@extend_schema(tags=["model versions"], parameters=[USE_CASE_SLUG])
class ModelVersionViewSet(RegistryView, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """A use case's model versions, newest first, each with its latest evaluation."""

    serializer_class = s.ModelVersionSerializer
    lookup_field = "version"
    lookup_value_regex = VERSION_IN_PATH
    not_found = "No such version of this use case."

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return ModelVersion.objects.none()
        latest_first = (
            Evaluation.objects.current()
            .only("id", "model_version", "dataset", "status", "passed_gates", "queued_at")
            .order_by(*s.LATEST_EVALUATION_FIRST)
        )
        return (
            self.use_case.versions.select_related("registered_by")
            .prefetch_related(
                Prefetch("evaluations", queryset=latest_first, to_attr="recent_evaluations")
            )
            .order_by("-created_at", "-pk")
        )

    def respond(self, version: ModelVersion, code: int = status.HTTP_200_OK) -> Response:
        """The version as the list shows it, after a write."""
        fresh = self.get_queryset().get(pk=version.pk)
        return Response(s.ModelVersionSerializer(fresh).data, status=code)

    @extend_schema(responses={200: s.ModelVersionSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[VERSION], responses={200: s.ModelVersionSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.ModelVersionInput,
        responses={201: s.ModelVersionSerializer, **WRITE_ERRORS},
        description="Register a version; it starts in the `registered` stage. 400 naming "
        "`version` if the name is taken.",
    )
    def create(self, request, use_case_slug=None):
        data = s.ModelVersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = registering.register_version(
            self.use_case, by=request.user, **data.validated_data
        )
        return self.respond(version, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[VERSION],
        request=s.ModelVersionUpdateInput,
        responses={200: s.ModelVersionSerializer, **WRITE_ERRORS},
        description="Edit the description and metadata. The name and the stage cannot be "
        "changed here (400 naming the field).",
    )
    def partial_update(self, request, use_case_slug=None, version=None):
        model_version = self.get_object()
        data = s.ModelVersionUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model_version = registering.update_version(
            model_version, by=request.user, **data.validated_data
        )
        return self.respond(model_version)


@extend_schema(tags=["evaluation datasets"], parameters=[USE_CASE_SLUG])
class DatasetViewSet(UploadView, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Labelled evaluation data, validated on upload and stored whole or not at all."""

    serializer_class = s.DatasetSerializer
    lookup_value_regex = r"[0-9]+"
    not_found = "No such dataset on this use case."
    write_actions = {"mark_reference": Action.SET_POLICY}

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return EvaluationDataset.objects.none()
        return self.use_case.datasets.select_related("uploaded_by").order_by("-created_at", "-pk")

    @extend_schema(responses={200: s.DatasetSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.DatasetSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": s.DatasetUploadInput},
        responses={201: s.DatasetSerializer, **UPLOAD_ERRORS},
        description="Upload a CSV or Parquet file of labelled rows. It is checked against "
        "the feature schema, the task type and the data-quality rules; a bad file is a 400 "
        "listing the first bad rows (`errors`: row, field, message) and the counts per "
        "check (`counts`), and nothing is stored. Over 200 MB or 1,000,000 rows: 413.",
    )
    def create(self, request, use_case_slug=None):
        data = s.DatasetUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = checked_file(data.validated_data["file"])
        dataset = registering.upload_dataset(
            self.use_case,
            by=request.user,
            name=data.validated_data["name"],
            description=data.validated_data["description"],
            source=upload,
            filename=upload.name,
        )
        dataset = self.get_queryset().get(pk=dataset.pk)
        return Response(s.DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={204: None, **errors(401, 403, 404, 409)},
        description="Delete the dataset with its prediction sets and evaluations. 409 when "
        "one of its evaluations is the evidence of a promotion request: it is kept.",
    )
    def destroy(self, request, use_case_slug=None, pk=None):
        registering.delete_dataset(self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: s.DatasetSerializer, **errors(400, 401, 403, 404)},
        description="Make this dataset the use case's reference for promotion: promotions "
        "are gated on the versions' evaluations on it. The previous reference, if any, is "
        "unmarked; marking the reference again changes nothing. The owner's (or an admin's) "
        "decision: 403 for other members.",
    )
    @action(detail=True, methods=["post"], url_path="reference")
    def mark_reference(self, request, use_case_slug=None, pk=None):
        dataset = reference.mark_reference(self.get_object(), by=request.user)
        dataset = self.get_queryset().get(pk=dataset.pk)
        return Response(s.DatasetSerializer(dataset).data)


@extend_schema(tags=["model versions"], parameters=[USE_CASE_SLUG, VERSION])
class PredictionSetViewSet(UploadView, ListModelMixin, GenericViewSet):
    """A version's predictions, one set per evaluation dataset."""

    serializer_class = s.PredictionSetSerializer

    def get_model_version(self) -> ModelVersion:
        if not hasattr(self, "_model_version"):
            found = self.use_case.versions.filter(version=self.kwargs["version"]).first()
            if found is None:
                raise Http404("No such version of this use case.")
            self._model_version = found
        return self._model_version

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return PredictionSet.objects.none()
        return (
            PredictionSet.objects.filter(model_version=self.get_model_version())
            .select_related("model_version")
            .order_by("-created_at", "-pk")
        )

    @extend_schema(responses={200: s.PredictionSetSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": s.PredictionUploadInput},
        responses={201: s.PredictionSetSerializer, **UPLOAD_ERRORS},
        description="Upload the version's predictions for every row of a dataset (CSV or "
        "Parquet: `id`, `prediction`, optional `score`). Missing, extra or repeated ids are "
        "a 400 listing them, and nothing is stored; a second upload for the same dataset "
        "replaces the first. Binary with both `prediction` and `score`: `disagreeing_rows` "
        "counts the rows whose prediction is not what the score gives at the decision "
        "threshold; evaluations classify by the score.",
    )
    def create(self, request, use_case_slug=None, version=None):
        model_version = self.get_model_version()
        data = s.PredictionUploadInput(data=request.data, context={"use_case": self.use_case})
        data.is_valid(raise_exception=True)
        upload = checked_file(data.validated_data["file"])
        prediction_set = registering.upload_predictions(
            model_version,
            by=request.user,
            dataset=data.validated_data["dataset"],
            source=upload,
            filename=upload.name,
        )
        return Response(
            s.PredictionSetSerializer(prediction_set).data, status=status.HTTP_201_CREATED
        )


@extend_schema(tags=["evaluations"], parameters=[USE_CASE_SLUG])
class EvaluationViewSet(RegistryView, ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Evaluations of the use case's versions, newest first; POST queues one for a worker."""

    serializer_class = s.EvaluationSerializer
    lookup_value_regex = r"[0-9]+"
    not_found = "No such evaluation on this use case."

    def get_serializer_class(self):
        return s.EvaluationListSerializer if self.action == "list" else s.EvaluationSerializer

    def get_queryset(self) -> QuerySet:
        if self.is_schema_generation():
            return Evaluation.objects.none()
        evaluations = self.use_case.evaluations.select_related(
            "model_version", "dataset", "champion", "requested_by"
        ).order_by("-created_at", "-pk")
        if self.action == "list":  # the current ones; any one is read by its id
            evaluations = evaluations.current()
            query = s.EvaluationFilter(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            wanted = query.validated_data
            if "version" in wanted:
                evaluations = evaluations.filter(model_version__version=wanted["version"])
            if "dataset" in wanted:
                evaluations = evaluations.filter(dataset_id=wanted["dataset"])
            if "status" in wanted:
                evaluations = evaluations.filter(status=wanted["status"])
            evaluations = evaluations.defer("results", "gates")  # the list leaves them out
        return evaluations

    @extend_schema(
        parameters=[s.EvaluationFilter],
        responses={200: s.EvaluationListSerializer(many=True), **errors(400, 401, 404)},
        description="The current evaluations: one per version and dataset, the latest run. "
        "Superseded ones are left out; read one by its id.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        responses={200: s.EvaluationSerializer, **READ_ERRORS},
        description="Poll this until `status` is `succeeded` (then `results` and `gates` "
        "are filled in) or `failed` (then `error` says why).",
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=s.EvaluationInput,
        responses={202: s.EvaluationSerializer, **CONFLICT_ERRORS},
        description="Queue the evaluation of a version's predictions on a dataset; a worker "
        "runs it. Evaluating the same pair again creates a new evaluation and marks the "
        "finished one superseded (`superseded_at`, `superseded_by`); its results stay "
        "readable by its id. 409 if it is already queued or running, or the version has no "
        "predictions for the dataset.",
    )
    def create(self, request, use_case_slug=None):
        data = s.EvaluationInput(data=request.data, context={"use_case": self.use_case})
        data.is_valid(raise_exception=True)
        evaluation = evaluations.start_evaluation(
            data.validated_data["model_version"],
            by=request.user,
            dataset=data.validated_data["dataset"],
        )
        evaluation = self.get_queryset().get(pk=evaluation.pk)
        return Response(s.EvaluationSerializer(evaluation).data, status=status.HTTP_202_ACCEPTED)
