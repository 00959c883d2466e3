"""API representations of use cases and what hangs off them; input serializers where input differs.

Serializers parse and type-check; the services own the business rules (usecases.services.
validation) and the writes, so nothing here overrides create() or update().
"""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from portal.errors import InvalidInput
from usecases.models import (
    KPI,
    AuditEvent,
    DataQualityRule,
    Milestone,
    Role,
    UseCase,
    UseCaseMember,
    ValueModel,
)
from usecases.services import validation

User = get_user_model()


class UserByUsername(serializers.SlugRelatedField):
    """A user named by username; an unknown name is a 400 on the field."""

    default_error_messages = {
        "does_not_exist": "There is no user called “{value}”.",
        "invalid": "Give a username.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="username", queryset=User.objects.all(), **kwargs)


class MilestoneSerializer(serializers.ModelSerializer):
    """A milestone of the use case's plan; a PATCH of `milestones` replaces the whole list."""

    class Meta:
        model = Milestone
        fields = ["name", "due_date", "done_at"]
        extra_kwargs = {"done_at": {"required": False, "allow_null": True}}


class UseCaseSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    milestones = MilestoneSerializer(many=True, read_only=True)
    effort_person_weeks = serializers.FloatField(
        read_only=True, allow_null=True, help_text="effort_person_days / 5."
    )
    kpi_count = serializers.IntegerField(read_only=True)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = UseCase
        fields = [
            "slug",
            "title",
            "problem_statement",
            "decision_supported",
            "owner",
            "sponsor",
            "phase",
            "priority",
            "risk_tier",
            "team",
            "expected_value_per_year",
            "expected_value_currency",
            "effort_person_days",
            "effort_person_weeks",
            "start_date",
            "target_date",
            "milestones",
            "phase_changed_at",
            "task_type",
            "target_definition",
            "decision_threshold",
            "positive_label",
            "negative_label",
            "class_names",
            "feature_schema",
            "kpi_count",
            "member_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class UseCaseUpdateInput(serializers.ModelSerializer):
    """The definition fields a PATCH may change (services.usecases.update_use_case's)."""

    owner = UserByUsername(required=False)
    # The database refuses a negative value (usecases_expected_value_not_negative).
    expected_value_per_year = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text=UseCase._meta.get_field("expected_value_per_year").help_text,
    )
    # "usd" or " eur " is taken as USD or EUR, as the form takes it (validation.check_currency).
    expected_value_currency = serializers.CharField(
        required=False,
        max_length=10,
        help_text=UseCase._meta.get_field("expected_value_currency").help_text
        + " Lower case is taken as upper case.",
    )
    milestones = MilestoneSerializer(
        many=True,
        required=False,
        max_length=50,
        help_text="The whole list of milestones: a PATCH that sends it replaces them all.",
    )

    def validate_expected_value_currency(self, code: str) -> str:
        try:
            return validation.check_currency(code)
        except InvalidInput as error:
            raise serializers.ValidationError(error.message) from None

    class Meta:
        model = UseCase
        fields = [
            "title",
            "problem_statement",
            "decision_supported",
            "owner",
            "sponsor",
            "team",
            "priority",
            "risk_tier",
            "expected_value_per_year",
            "expected_value_currency",
            "effort_person_days",
            "start_date",
            "target_date",
            "milestones",
            "task_type",
            "target_definition",
            "decision_threshold",
            "positive_label",
            "negative_label",
            "class_names",
            "feature_schema",
        ]
        # The database refuses any other value (usecases_decision_threshold_is_a_probability).
        extra_kwargs = {"decision_threshold": {"min_value": 0, "max_value": 1}}


class UseCaseCreateInput(UseCaseUpdateInput):
    """A new use case; the slug defaults to one made from the title, the owner to the caller."""

    class Meta(UseCaseUpdateInput.Meta):
        fields = ["slug", *UseCaseUpdateInput.Meta.fields]
        extra_kwargs = {**UseCaseUpdateInput.Meta.extra_kwargs, "slug": {"required": False}}


class UseCaseFilter(serializers.Serializer):
    """Query parameters of the use case list."""

    search = serializers.CharField(
        required=False, help_text="Text in the title, slug, problem statement or sponsor."
    )
    phase = serializers.ChoiceField(choices=UseCase.Phase.choices, required=False)
    owner = serializers.CharField(required=False, help_text="The owner's username.")


class KPISerializer(serializers.ModelSerializer):
    class Meta:
        model = KPI
        fields = [
            "id",
            "name",
            "metric",
            "direction",
            "target",
            "gate_threshold",
            "is_gating",
            "gate_mode",
            "segment",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "direction": {
                "required": False,
                "help_text": "Defaults to the metric's natural direction.",
            }
        }


class ValueModelSerializer(serializers.ModelSerializer):
    """Read and PUT alike; a PUT replaces the whole value model, so omitted fields are reset."""

    class Meta:
        model = ValueModel
        fields = [*ValueModel.INPUT_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs = {
            "currency": {"default": "EUR"},
            "notes": {"default": ""},
            **{name: {"default": None} for name in fields if name.startswith(("value_", "cost_"))},
        }


class DataQualityRuleSerializer(serializers.ModelSerializer):
    summary = serializers.CharField(read_only=True, help_text="The rule in words.")

    class Meta:
        model = DataQualityRule
        fields = [
            "id",
            "field",
            "kind",
            "params",
            "severity",
            "description",
            "summary",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            "params": {
                "help_text": 'range: {"min", "max"}; allowed_values: {"values": [...]}; '
                'regex: {"pattern"}; max_null_rate: {"max_rate"}; not_null: {}.'
            }
        }


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = UseCaseMember
        fields = ["id", "username", "role", "added_at"]
        read_only_fields = fields


class MemberInput(serializers.Serializer):
    username = UserByUsername(source="user")
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor_name", read_only=True, help_text="Username; empty for the system."
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "verb",
            "target_type",
            "target_id",
            "target_repr",
            "before",
            "after",
            "previous_hash",
            "hash",
        ]
        read_only_fields = fields
