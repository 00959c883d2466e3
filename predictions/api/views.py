"""Bulk prediction logging and outcomes (issue 4): /api/v1/usecases/{slug}/predictions and
/api/v1/usecases/{slug}/outcomes.

POST takes a JSON array of rows (application/json) or CSV (text/csv); `?partial=true` stores
the good rows of a batch with bad ones (default: nothing is stored). The body reaches the
service as bytes: it is parsed there with orjson (or csv), once, not by DRF's JSONParser,
and the size limit is ours (MAX_BODY_BYTES, checked from Content-Length before reading),
not DATA_UPLOAD_MAX_MEMORY_SIZE (STACK-NOTES §0.2). Writes need MANAGE_MODELS (data
scientists, owners, admins); reads VIEW. GET lists the log, newest first, with a cursor
(no COUNT(*) over the biggest table).
"""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from portal.api import ErrorBody, ErrorItem, errors
from portal.uploads import content_length
from predictions.models import Prediction
from predictions.services import ingest
from usecases.permissions import USE_CASE_SLUG, Action, NestedUnderUseCase

# --- Parsing the body -----------------------------------------------------------------------


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self):
        megabytes = ingest.MAX_BODY_BYTES // 1024**2
        super().__init__(
            f"The body is larger than {megabytes} MB (or {ingest.MAX_ROWS:,} rows): "
            "nothing was stored. Send it in smaller batches."
        )


class RawBody:
    """The request body as bytes and its media type, for the service to parse."""

    def __init__(self, content: bytes, media_type: str):
        self.content = content
        self.media_type = media_type


class _RawParser(BaseParser):
    def parse(self, stream, media_type=None, parser_context=None):
        if content_length(parser_context["request"].META) > ingest.MAX_BODY_BYTES:
            raise BodyTooLarge()
        content = stream.read(ingest.MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(content) > ingest.MAX_BODY_BYTES:
            raise BodyTooLarge()
        return RawBody(content, self.media_type)


class JSONBody(_RawParser):
    media_type = "application/json"


class CSVBody(_RawParser):
    media_type = "text/csv"


def partial_mode(request) -> bool:
    value = request.query_params.get("partial", "false").strip().lower()
    if value not in ("true", "1", "false", "0", ""):
        raise ValidationError({"partial": "Use partial=true or partial=false."})
    return value in ("true", "1")


def body_of(request) -> RawBody:
    data = request.data
    if not isinstance(data, RawBody) or not data.content:
        raise ValidationError({"body": "The batch has no rows."})
    return data


# --- Serializers ----------------------------------------------------------------------------


class PredictionRow(serializers.Serializer):
    """One logged prediction (documentation of the row; the service validates it)."""

    version = serializers.CharField(help_text="A registered version's name, e.g. 1.4.0.")
    request_id = serializers.CharField(
        max_length=200, help_text="Unique per version: a re-sent row is counted, not stored."
    )
    timestamp = serializers.DateTimeField(help_text="When it was predicted, ISO 8601.")
    features = serializers.DictField(
        required=False, help_text="The model's input, checked against the feature schema."
    )
    prediction = serializers.JSONField(
        required=False,
        help_text="A number (regression), 0/1 (binary; derived from the score and the "
        "decision threshold if left out) or a class name (multiclass).",
    )
    score = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Binary: probability of class 1; multiclass: the predicted class's; [0, 1].",
    )
    segment = serializers.CharField(required=False, allow_blank=True, max_length=100)


class OutcomeRow(serializers.Serializer):
    request_id = serializers.CharField(max_length=200)
    outcome = serializers.JSONField(
        help_text="The real value: a number, 0/1 or a class name, as the task type needs."
    )
    timestamp = serializers.DateTimeField(
        required=False, help_text="When it was observed, ISO 8601 (default: now)."
    )


class RuleViolation(serializers.Serializer):
    rule = serializers.IntegerField()
    field = serializers.CharField()
    summary = serializers.CharField()
    severity = serializers.CharField()
    violations = serializers.IntegerField()
    checked = serializers.BooleanField(help_text="False when the rule's field is not logged.")


MODE_HELP = "all_or_nothing (default: any bad row stores nothing) or partial (?partial=true)."


class IngestAnswer(serializers.Serializer):
    mode = serializers.CharField(help_text=MODE_HELP)
    rows = serializers.IntegerField(help_text="Rows received.")
    inserted = serializers.IntegerField(help_text="New predictions stored.")
    duplicates = serializers.IntegerField(
        help_text="Valid rows already stored (same version and request id), or repeated."
    )
    rejected = serializers.IntegerField(help_text="Bad rows not stored (partial mode).")
    errors = ErrorItem(many=True, help_text="The first 100 bad rows.")
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Bad rows per reason."
    )
    rule_violations = RuleViolation(many=True, help_text="Per data-quality rule, valid rows.")


class OutcomeAnswer(serializers.Serializer):
    mode = serializers.CharField(help_text=MODE_HELP)
    rows = serializers.IntegerField()
    matched = serializers.IntegerField(help_text="Request ids with at least one prediction.")
    updated_predictions = serializers.IntegerField(
        help_text="Predictions given the outcome (every version's, shadow ones included)."
    )
    unknown = serializers.IntegerField(help_text="Request ids with no logged prediction.")
    unknown_request_ids = serializers.ListField(
        child=serializers.CharField(), help_text="The first 100 of them."
    )
    duplicates = serializers.IntegerField(help_text="Repeats of a request id in the batch.")
    rejected = serializers.IntegerField()
    errors = ErrorItem(many=True)
    counts = serializers.DictField(child=serializers.IntegerField())


class PredictionSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version", read_only=True)
    timestamp = serializers.DateTimeField(source="predicted_at", read_only=True)
    features = serializers.JSONField(read_only=True)
    prediction = serializers.JSONField(read_only=True)
    outcome = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = Prediction
        fields = [
            "id",
            "version",
            "request_id",
            "timestamp",
            "features",
            "prediction",
            "score",
            "segment",
            "confidence",
            "outcome",
            "outcome_at",
            "error",
            "received_at",
        ]
        read_only_fields = fields


class PredictionFilter(serializers.Serializer):
    """Query parameters of the prediction log."""

    version = serializers.CharField(required=False, help_text="A version's name.")
    segment = serializers.CharField(required=False)
    request_id = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False, help_text="Predicted at or after.")
    until = serializers.DateTimeField(required=False, help_text="Predicted before.")
    has_outcome = serializers.ChoiceField(choices=["true", "false"], required=False)


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


# --- Views ----------------------------------------------------------------------------------

PARTIAL = OpenApiParameter(
    "partial",
    bool,
    OpenApiParameter.QUERY,
    description="true: store the good rows of a batch that has bad ones (the answer lists "
    "the bad). Default false: a batch with any bad row stores nothing (400).",
)
BULK_ERRORS = {
    **errors(400, 401, 403, 404),
    413: OpenApiResponse(
        ErrorBody, description=f"Over {ingest.MAX_ROWS:,} rows or the body size limit."
    ),
    415: OpenApiResponse(ErrorBody, description="Send application/json or text/csv."),
}


class BulkView(NestedUnderUseCase, GenericAPIView):
    write_action = Action.MANAGE_MODELS
    parser_classes = [JSONBody, CSVBody]


@extend_schema(tags=["predictions"], parameters=[USE_CASE_SLUG])
class PredictionLogView(BulkView):
    """The use case's logged predictions (production, canary and shadow)."""

    serializer_class = PredictionSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        if self.is_schema_generation():
            return Prediction.objects.none()
        query = PredictionFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        predictions = Prediction.objects.filter(use_case=self.use_case).select_related(
            "model_version"
        )
        if "version" in wanted:
            predictions = predictions.filter(model_version__version=wanted["version"])
        if "segment" in wanted:
            predictions = predictions.filter(segment=wanted["segment"])
        if "request_id" in wanted:
            predictions = predictions.filter(request_id=wanted["request_id"])
        if "since" in wanted:
            predictions = predictions.filter(predicted_at__gte=wanted["since"])
        if "until" in wanted:
            predictions = predictions.filter(predicted_at__lt=wanted["until"])
        if "has_outcome" in wanted:
            predictions = predictions.filter(outcome_at__isnull=wanted["has_outcome"] == "false")
        return predictions

    @extend_schema(
        parameters=[PredictionFilter],
        responses={200: PredictionSerializer(many=True), **errors(400, 401, 404)},
        description="Logged predictions, newest first, a page at a time (follow `next`).",
    )
    def get(self, request, use_case_slug=None):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PredictionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[PARTIAL],
        request={
            "application/json": PredictionRow(many=True),
            "text/csv": OpenApiTypes.STR,
        },
        responses={200: IngestAnswer, **BULK_ERRORS},
        description=f"Log up to {ingest.MAX_ROWS:,} predictions: a JSON array of rows, or "
        "CSV with the columns version, request_id, timestamp, prediction, score, segment "
        "and one column per feature. Every row is validated; a bad row is a 400 listing "
        "the first 100 bad rows (row, field, message) with the counts per reason, and "
        "nothing is stored, unless ?partial=true. Idempotent on (version, request_id): "
        "re-sent rows are counted as duplicates. Data-quality rule violations are counted "
        "per rule.",
    )
    def post(self, request, use_case_slug=None):
        partial = partial_mode(request)
        body = body_of(request)
        result = ingest.log_predictions(
            self.use_case,
            by=request.user,
            body=body.content,
            content_type=body.media_type,
            partial=partial,
        )
        return Response(result.as_dict())


@extend_schema(tags=["predictions"], parameters=[USE_CASE_SLUG])
class OutcomeView(BulkView):
    """Real outcomes, attached to logged predictions by request id."""

    serializer_class = OutcomeAnswer

    @extend_schema(
        parameters=[PARTIAL],
        request={"application/json": OutcomeRow(many=True), "text/csv": OpenApiTypes.STR},
        responses={200: OutcomeAnswer, **BULK_ERRORS},
        description=f"Attach up to {ingest.MAX_ROWS:,} outcomes (request_id, outcome, "
        "optional timestamp) to every version's prediction of each request, and compute "
        "their error. Unknown request ids are listed, not refused; re-sending is harmless.",
    )
    def post(self, request, use_case_slug=None):
        partial = partial_mode(request)
        body = body_of(request)
        result = ingest.attach_outcomes(
            self.use_case,
            by=request.user,
            body=body.content,
            content_type=body.media_type,
            partial=partial,
        )
        return Response(result.as_dict())


urlpatterns = [
    path(
        "usecases/<slug:use_case_slug>/predictions",
        PredictionLogView.as_view(),
        name="prediction-log",
    ),
    path("usecases/<slug:use_case_slug>/outcomes", OutcomeView.as_view(), name="outcomes"),
]
