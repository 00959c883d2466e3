"""API representations of the model registry: versions, evaluation datasets, prediction sets
and evaluations; input serializers where input differs.

As in serializers.py, these parse and type-check; registry.services.registering and
.evaluations own the rules and the writes (uploaded files are validated by registry/uploads.py).
"""

from django.core.validators import RegexValidator
from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.text import multi_line, single_line
from registry import selectors
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet
from registry.services.registering import VERSION_EDITABLE

# The latest evaluation of a version: the one queued last (a re-run is queued again).
LATEST_EVALUATION_FIRST = (F("queued_at").desc(nulls_last=True), "-pk")

# A version is addressed by its name in URLs (/versions/1.4.0/), so no slash, no spaces.
# The message is %-formatted with the value (Django's ValidationError params): "%%" is a "%".
# "." and ".." would be dot segments, which URL clients remove from a path.
VERSION_NAME = RegexValidator(
    r"^(?!\.\.?$)[^/\s?#%]+$",
    "Use letters, digits and . _ - + (e.g. 1.4.0); no slash, space, ?, # or %%.",
)


class EvaluationBriefSerializer(serializers.ModelSerializer):
    """An evaluation in one line: enough to show a version's latest result in a list."""

    dataset = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The dataset's id.")

    class Meta:
        model = Evaluation
        fields = ["id", "dataset", "status", "passed_gates"]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    registered_by = serializers.CharField(source="registered_by.username", read_only=True)
    latest_evaluation = serializers.SerializerMethodField(
        help_text="The most recently queued current (not superseded) evaluation of this "
        "version, on any dataset."
    )

    class Meta:
        model = ModelVersion
        fields = [
            *ModelVersion.INPUT_FIELDS,
            "stage",
            "traffic_percent",
            "stage_changed_at",
            "registered_by",
            "created_at",
            "latest_evaluation",
        ]
        read_only_fields = fields

    @extend_schema_field(EvaluationBriefSerializer(allow_null=True))
    def get_latest_evaluation(self, version: ModelVersion) -> dict | None:
        # The view prefetches `recent_evaluations`, newest first (no query per version).
        recent = getattr(version, "recent_evaluations", None)
        if recent is None:
            recent = list(version.evaluations.current().order_by(*LATEST_EVALUATION_FIRST)[:1])
        return EvaluationBriefSerializer(recent[0]).data if recent else None


class ModelVersionInput(serializers.ModelSerializer):
    """A new version: its name, where it comes from and how it was made."""

    version = serializers.CharField(
        max_length=50,
        validators=[VERSION_NAME, single_line],
        help_text="Unique per use case, e.g. 1.4.0; it names the version in URLs.",
    )
    parameters = serializers.DictField(
        required=False, help_text="Hyper-parameters and other settings, as a JSON object."
    )
    tags = serializers.DictField(
        required=False,
        help_text='Simple labels as a JSON object, e.g. {"team": "forecasting"}.',
    )

    class Meta:
        model = ModelVersion
        fields = list(ModelVersion.INPUT_FIELDS)


class ModelVersionUpdateInput(ModelVersionInput):
    """What a PATCH may change (services.registry.VERSION_EDITABLE); the name and the stage
    are refused by name (the stage moves only through promotions)."""

    FIXED = {
        "version": "The version name cannot be changed; register a new version instead.",
        "stage": "The stage changes only through a promotion.",
        "traffic_percent": "The canary traffic changes only through a promotion.",
        "stage_changed_at": "The stage changes only through a promotion.",
        "registered_by": "Who registered a version cannot be changed.",
        "created_at": "When a version was registered cannot be changed.",
    }

    class Meta(ModelVersionInput.Meta):
        fields = list(VERSION_EDITABLE)

    def validate(self, attrs: dict) -> dict:
        fixed = {name: message for name, message in self.FIXED.items() if name in self.initial_data}
        if fixed:
            raise serializers.ValidationError(fixed)
        return attrs


@extend_schema_field(OpenApiTypes.INT)
class UseCaseDataset(serializers.PrimaryKeyRelatedField):
    """A dataset of the use case in the serializer's context, by id; any other id is a 400."""

    default_error_messages = {
        "does_not_exist": "This use case has no dataset {pk_value}.",
        "incorrect_type": "Give the dataset's id (a number).",
    }

    def get_queryset(self):
        return self.context["use_case"].datasets.all()


@extend_schema_field(OpenApiTypes.STR)
class UseCaseVersion(serializers.SlugRelatedField):
    """A version of the use case in the serializer's context, by name."""

    default_error_messages = {
        "does_not_exist": "This use case has no version “{value}”.",
        "invalid": "Give the version's name, e.g. 1.4.0.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="version", **kwargs)

    def get_queryset(self):
        return self.context["use_case"].versions.all()

    def to_internal_value(self, data):
        # A NUL names no version, and PostgreSQL refuses it in a query: invalid, not a 500.
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class DatasetSerializer(serializers.ModelSerializer):
    rows = serializers.IntegerField(source="row_count", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)
    columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    label_summary = serializers.DictField(
        read_only=True,
        help_text='{"kind": "numeric", "histogram": …} or {"kind": "categorical", "counts": …}.',
    )
    rule_violations = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text='One item per data-quality rule: {"rule", "description", "severity", '
        '"violations"}.',
    )

    class Meta:
        model = EvaluationDataset
        fields = [
            "id",
            "name",
            "description",
            "source_filename",
            "file_format",
            "rows",
            "columns",
            "has_segment",
            "label_summary",
            "rule_violations",
            "is_reference",
            "uploaded_by",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "is_reference": {
                "help_text": "The use case's reference dataset for promotion (at most one); "
                "POST …/datasets/{id}/reference to mark it."
            }
        }


class DatasetUploadInput(serializers.Serializer):
    """multipart/form-data: the dataset's name, an optional description and the file."""

    name = serializers.CharField(
        max_length=120, validators=[single_line], help_text="Unique per use case."
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, default="", validators=[multi_line]
    )
    file = serializers.FileField(
        allow_empty_file=True,  # an empty file gets tabular's own message
        help_text="CSV (.csv, .csv.gz) or Parquet (.parquet), at most 200 MB: an `id` column, "
        "the feature schema's columns, `label`, and optionally `segment`.",
    )


class PredictionSetSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version", read_only=True)
    dataset = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The dataset's id.")
    rows = serializers.IntegerField(source="row_count", read_only=True)
    disagreeing_rows = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Binary with both `prediction` and `score`: rows whose prediction is not "
        "what the score gives at the decision threshold (evaluations use the score); null "
        "otherwise.",
    )

    class Meta:
        model = PredictionSet
        fields = ["version", "dataset", "rows", "has_score", "disagreeing_rows", "created_at"]
        read_only_fields = fields


class PredictionUploadInput(serializers.Serializer):
    """multipart/form-data: which dataset the predictions are for, and the file."""

    dataset = UseCaseDataset(help_text="The id of the dataset the predictions are for.")
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="CSV or Parquet, at most 200 MB: `id` (every id of the dataset, once) and "
        "`prediction`; binary classification takes `prediction` (0/1), `score` (the "
        "probability of 1) or both, multiclass an optional `score` and `proba_<class>` "
        "columns; regression takes no score.",
    )


class EvaluationSerializer(serializers.ModelSerializer):
    """An evaluation in full: what a client polls until `status` is succeeded or failed."""

    version = serializers.CharField(source="model_version.version", read_only=True)
    dataset = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The dataset's id.")
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    champion = serializers.CharField(
        source="champion.version",
        read_only=True,
        allow_null=True,
        help_text="The production version compared against, if it had predictions here.",
    )
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    superseded_by = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="The id of the later evaluation of the same version and dataset that replaced "
        "this one; null while this one is current (or once that one is deleted).",
    )
    results = serializers.DictField(
        read_only=True,
        help_text="Empty until the evaluation succeeds; then `task_type`, `rows`, `overall` "
        '(metric → {"value", "low", "high"}, a 95 % interval), `segments`, `business_value`, '
        "`confusion_matrix`, `comparison` (with the production version), `charts` and "
        "`method` (docs/evaluation-results.md).",
    )
    gates = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="One item per KPI: `kpi`, `name`, `metric`, `segment`, `value`, `low`, "
        "`high`, `target`, `threshold`, `direction`, `mode`, `is_gating`, `passed` (null "
        "with a `reason` when the metric was not measured).",
    )
    display = serializers.SerializerMethodField(
        help_text="Once succeeded: the figures as the page writes them, in their units with "
        "the currency (`metrics`: metric → {label, value, interval}; `comparison`: metric → "
        "{label, challenger, champion, difference, interval, p_value, verdict}; `gates`: "
        "[{name, metric, segment, value, rule, result}], result passed, failed, incomplete "
        "or misses target; `business_value`: {total, interval}); null before."
    )

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_display(self, evaluation: Evaluation) -> dict | None:
        if evaluation.status != Evaluation.Status.SUCCEEDED:
            return None
        return selectors.evaluation_display(evaluation)

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "version",
            "dataset",
            "dataset_name",
            "status",
            "progress",
            "error",
            "attempts",
            "worker_seconds",
            "threshold",
            "champion",
            "results",
            "gates",
            "display",
            "passed_gates",
            "requested_by",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
            "superseded_at",
            "superseded_by",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "progress": {"help_text": "Percent done."},
            "superseded_at": {
                "help_text": "When a later run of the same version and dataset replaced this "
                "one (its results stay as they were); null while this one is current."
            },
        }


class EvaluationListSerializer(EvaluationSerializer):
    """The list leaves out the results and gates: GET an evaluation for them."""

    class Meta(EvaluationSerializer.Meta):
        fields = [
            f for f in EvaluationSerializer.Meta.fields if f not in ("results", "gates", "display")
        ]
        read_only_fields = fields


class EvaluationInput(serializers.Serializer):
    version = UseCaseVersion(source="model_version", help_text="The version's name.")
    dataset = UseCaseDataset(help_text="The dataset's id.")


class EvaluationFilter(serializers.Serializer):
    """Query parameters of the evaluation list."""

    version = serializers.CharField(required=False, help_text="A version's name.")
    # Bounded like the id column: a larger number would be a database error, not a filter.
    dataset = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="A dataset's id."
    )
    status = serializers.ChoiceField(choices=Evaluation.Status.choices, required=False)
