"""What the business wants: use cases, their members, KPIs, value model, data-quality rules,
and the append-only audit trail of every change to them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone

from portal.formatting import natural_key
from portal.text import multi_line, single_line
from usecases.catalogue import Metric, TaskType


class Role(models.TextChoices):
    """Per-use-case roles (DESIGN.md); what each may do is in permissions.py alone."""

    OWNER = "owner", "Owner"
    EXPERT = "expert", "Domain expert"
    DATA_SCIENTIST = "data_scientist", "Data scientist"
    VIEWER = "viewer", "Viewer"


MANAGER_GROUP = "Manager"
ADMIN_GROUP = "Admin"


def global_groups(user) -> frozenset[str]:
    """The user's global groups (Manager, Admin; a superuser is an Admin), read once and
    cached on the user object for the request (usecases.permissions re-exports it)."""
    if not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_quorum_groups"):
        names = set(
            user.groups.filter(name__in=[MANAGER_GROUP, ADMIN_GROUP]).values_list("name", flat=True)
        )
        if user.is_superuser:
            names.add(ADMIN_GROUP)
        user._quorum_groups = frozenset(names)
    return user._quorum_groups


class UseCaseQuerySet(models.QuerySet):
    def visible_to(self, user) -> UseCaseQuerySet:
        """Use cases `user` may see: members see theirs, Managers and Admins see all."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if global_groups(user):  # Managers and Admins (a superuser counts as an Admin)
            return self
        membership = UseCaseMember.objects.filter(use_case=OuterRef("pk"), user=user)
        return self.filter(Exists(membership))


class UseCase(models.Model):
    class Phase(models.TextChoices):
        IDEA = "idea", "Idea"
        SCOPING = "scoping", "Scoping"
        DATA = "data", "Data"
        POC = "poc", "Proof of concept"
        PILOT = "pilot", "Pilot"
        PRODUCTION = "production", "Production"
        RETIRED = "retired", "Retired"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class RiskTier(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    TaskType = TaskType  # the catalogue's, so UseCase.TaskType reads as before

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200, validators=[single_line])
    problem_statement = models.TextField(blank=True, validators=[multi_line])
    decision_supported = models.TextField(
        blank=True,
        validators=[multi_line],
        help_text="The business decision the model's predictions feed.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_use_cases"
    )
    sponsor = models.CharField(
        max_length=200, blank=True, validators=[single_line], help_text="Business sponsor."
    )
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.IDEA)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, default=RiskTier.LOW)
    expected_value_per_year = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Expected yearly business value, in expected_value_currency.",
    )
    # The currency of expected_value_per_year alone: the value model (what one prediction is
    # worth) has its own. The roadmap sums values per currency, never across them.
    expected_value_currency = models.CharField(
        max_length=3,
        default="EUR",
        db_default="EUR",
        validators=[RegexValidator(r"^[A-Z]{3}\Z", "Use a three-letter ISO 4217 code.")],
        help_text="ISO 4217 code of the expected yearly value (EUR, USD…); the value model "
        "keeps its own currency for the value of each prediction.",
    )
    effort_person_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Effort estimate, in person-days (5 make a week)."
    )
    team = models.CharField(
        max_length=100,
        blank=True,
        db_default="",
        validators=[single_line],
        help_text="The team that delivers it.",
    )
    start_date = models.DateField(null=True, blank=True)
    target_date = models.DateField(null=True, blank=True)
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    target_definition = models.TextField(
        blank=True,
        validators=[multi_line],
        help_text="What the label means and when it is known.",
    )
    decision_threshold = models.FloatField(
        default=0.5,
        help_text="Binary classification: a score at or above it predicts the positive class.",
    )
    # Binary classification: what 1 and 0 mean, shown instead of the bare numbers.
    positive_label = models.CharField(
        max_length=60,
        blank=True,
        db_default="",  # rows written by code that predates the column stay valid
        validators=[single_line],
        help_text="Binary classification: what a 1 means, e.g. “will churn”.",
    )
    negative_label = models.CharField(
        max_length=60,
        blank=True,
        db_default="",
        validators=[single_line],
        help_text="Binary classification: what a 0 means, e.g. “stays”.",
    )
    # Multiclass: the known classes, each with its name ("" reads as the class). Shown in
    # natural order (PostgreSQL's jsonb keeps no key order): class_name_pairs.
    class_names = models.JSONField(
        default=dict,
        # rows written by code that predates the column stay valid
        db_default=models.Value({}, output_field=models.JSONField()),
        blank=True,
        help_text='Multiclass: the known classes and their names, e.g. {"3": "gold"} '
        '("" keeps the class as it is).',
    )
    feature_schema = models.JSONField(
        default=list,
        blank=True,
        help_text='A list of {"name": ..., "type": "number|integer|string|boolean|category"}.',
    )
    # When a data-quality rule was last added, changed (not its description) or deleted: the
    # versions' quality tallies counted before it are recounted (predictions/tasks.py).
    rules_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the phase last changed (services.usecases.change_phase sets it): days in phase.
    phase_changed_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UseCaseQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(target_date__gte=models.F("start_date")),
                name="usecases_target_date_after_start",
            ),
            models.CheckConstraint(
                condition=Q(decision_threshold__gte=0, decision_threshold__lte=1),
                name="usecases_decision_threshold_is_a_probability",
            ),
            models.CheckConstraint(
                condition=Q(expected_value_per_year__isnull=True)
                | Q(expected_value_per_year__gte=0),
                name="usecases_expected_value_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("usecases:detail", args=[self.slug])

    def class_label(self, value) -> str:
        """A predicted or true class as people read it: binary 1/0 by the use case's
        labels ("1"/"0" without them), a multiclass class by its name, any other value as
        it is."""
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if self.task_type == self.TaskType.BINARY and is_number and value in (0, 1):
            label = self.positive_label if value == 1 else self.negative_label
            return label or str(int(value))
        text = str(int(value)) if is_number and float(value).is_integer() else str(value)
        if self.task_type == self.TaskType.MULTICLASS and self.class_names:
            return self.class_names.get(text) or text
        return str(value)

    @property
    def class_name_pairs(self) -> list[tuple[str, str]]:
        """(class, name) in natural order ("2" before "10"), the same on every database
        (jsonb keeps no key order), and as pairs for templates (a class called "items"
        would shadow dict.items there)."""
        return sorted(self.class_names.items(), key=lambda pair: natural_key(pair[0]))

    @property
    def known_classes(self) -> list[str]:
        """Multiclass: the classes the owner listed, in natural order (empty: not listed)."""
        if self.task_type != self.TaskType.MULTICLASS:
            return []
        return [key for key, _ in self.class_name_pairs]

    @property
    def is_classification(self) -> bool:
        return self.task_type in (self.TaskType.BINARY, self.TaskType.MULTICLASS)

    @property
    def feature_names(self) -> list[str]:
        return [feature["name"] for feature in self.feature_schema]

    @property
    def effort_person_weeks(self) -> float | None:
        """The effort in person-weeks (5 person-days each), as the roadmap shows it."""
        return None if self.effort_person_days is None else self.effort_person_days / 5


class Milestone(models.Model):
    """A dated step of a use case's plan, drawn on the roadmap's timeline."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="milestones")
    name = models.CharField(max_length=120, validators=[single_line])
    due_date = models.DateField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.due_date:%Y-%m-%d})"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class UseCaseMember(models.Model):
    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    added_at = models.DateTimeField(auto_now_add=True)
    # Set by the worker that claims the welcome e-mail; a second delivery finds it set.
    notified_at = models.DateTimeField(null=True, blank=True)
    # The welcome e-mail could not be sent (refused, or still failing after the last retry):
    # when and why, shown to the use case's owners on the members page.
    notify_failed_at = models.DateTimeField(null=True, blank=True)
    notify_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["use_case", "role", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "user"], name="usecases_one_membership_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) on {self.use_case}"


class KPI(models.Model):
    class Direction(models.TextChoices):
        HIGHER = "higher", "Higher is better"
        LOWER = "lower", "Lower is better"

    class GateMode(models.TextChoices):
        POINT = "point", "Point estimate"
        CONFIDENCE_BOUND = "bound", "Conservative bound of the 95 % interval"

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="kpis")
    name = models.CharField(max_length=120, validators=[single_line])
    metric = models.CharField(max_length=20, choices=Metric.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    target = models.FloatField(help_text="The value the business aims for.")
    gate_threshold = models.FloatField(help_text="The worst value still acceptable for promotion.")
    is_gating = models.BooleanField(default=True, help_text="A failing gate blocks promotion.")
    gate_mode = models.CharField(max_length=10, choices=GateMode.choices, default=GateMode.POINT)
    segment = models.CharField(
        max_length=120,
        blank=True,
        validators=[single_line],
        help_text="Only rows of this segment (blank: all rows).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # An evaluation that finished before its use case's latest KPI change is stale for a
    # promotion (promotions/services/gates.py). auto_now: set by save(), not by update().
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["use_case", "name"]
        verbose_name = "KPI"
        constraints = [
            models.UniqueConstraint(fields=["use_case", "name"], name="usecases_kpi_name_unique"),
            # The target must be at least as good as the gate, in the KPI's direction.
            models.CheckConstraint(
                condition=Q(direction="higher", target__gte=models.F("gate_threshold"))
                | Q(direction="lower", target__lte=models.F("gate_threshold")),
                name="usecases_kpi_target_not_worse_than_gate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_metric_display()})"


class ValueModel(models.Model):
    CLASSIFICATION_FIELDS = (
        "value_true_positive",
        "value_true_negative",
        "cost_false_positive",
        "cost_false_negative",
    )
    REGRESSION_FIELDS = ("cost_per_unit_under", "cost_per_unit_over")
    INPUT_FIELDS = ("currency", *CLASSIFICATION_FIELDS, *REGRESSION_FIELDS, "notes")

    """How a prediction turns into money; the fields used depend on the task type."""

    use_case = models.OneToOneField(UseCase, on_delete=models.CASCADE, related_name="value_model")
    currency = models.CharField(max_length=3, default="EUR", validators=[single_line])
    value_true_positive = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    value_true_negative = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    cost_false_positive = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    cost_false_negative = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    cost_per_unit_under = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Cost of predicting one unit too few (a stock-out: lost margin).",
    )
    cost_per_unit_over = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Cost of predicting one unit too many (an overstock: waste).",
    )
    notes = models.TextField(blank=True, validators=[multi_line])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(cost_false_positive__isnull=True) | Q(cost_false_positive__gte=0))
                & (Q(cost_false_negative__isnull=True) | Q(cost_false_negative__gte=0))
                & (Q(cost_per_unit_under__isnull=True) | Q(cost_per_unit_under__gte=0))
                & (Q(cost_per_unit_over__isnull=True) | Q(cost_per_unit_over__gte=0)),
                name="usecases_value_model_costs_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Value model of {self.use_case}"


class DataQualityRule(models.Model):
    class Kind(models.TextChoices):
        RANGE = "range", "Range"
        NOT_NULL = "not_null", "Not null"
        ALLOWED_VALUES = "allowed_values", "Allowed values"
        REGEX = "regex", "Matches pattern"
        MAX_NULL_RATE = "max_null_rate", "Maximum null rate"

    class Severity(models.TextChoices):
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    use_case = models.ForeignKey(
        UseCase, on_delete=models.CASCADE, related_name="data_quality_rules"
    )
    field = models.CharField(max_length=120, validators=[single_line])
    kind = models.CharField(max_length=20, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    description = models.CharField(max_length=200, blank=True, validators=[single_line])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["use_case", "field", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "field", "kind"], name="usecases_one_rule_per_field_and_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field}: {self.summary}"

    @property
    def summary(self) -> str:
        """The rule in words, e.g. "between 0 and 120"."""
        p = self.params or {}
        match self.kind:
            case self.Kind.RANGE:
                low, high = _bound(p.get("min")), _bound(p.get("max"))
                if low is not None and high is not None:
                    return f"between {low} and {high}"
                return f"at least {low}" if low is not None else f"at most {high}"
            case self.Kind.NOT_NULL:
                return "never empty"
            case self.Kind.ALLOWED_VALUES:
                return "one of " + ", ".join(str(v) for v in p.get("values", []))
            case self.Kind.REGEX:
                return f"matches {p.get('pattern', '')}"
            case self.Kind.MAX_NULL_RATE:
                return f"at most {float(p.get('max_rate', 0)):.1%} empty"
        return self.kind


def _bound(value) -> str | None:
    """A range's bound as people write it: 18, not 18.0; 0.25 as it is."""
    if value is None:
        return None
    number = float(value)
    if number.is_integer():
        return str(int(number))
    return repr(number) if "e" in repr(number) else f"{number:f}".rstrip("0")


class AuditEvent(models.Model):
    """Append-only, hash-chained record of a state change (who, when, what, before, after).

    `hash` covers every other field plus `previous_hash`, so editing an event breaks its
    own hash and deleting one breaks the next event's link; `verify_audit` walks the chain.
    The unique `previous_hash` means the chain can never fork, whatever the concurrency.
    The use case is kept by id and slug, not a foreign key, so deleting a use case keeps
    (and does not alter) its history.
    """

    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    actor_name = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=60)
    use_case_id_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    use_case_slug = models.CharField(max_length=80, blank=True)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=60, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["use_case_id_ref", "-id"], name="usecases_audit_by_use_case")
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.verb}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for each field that differs, for the history tab."""
        before, after = self.before or {}, self.after or {}
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
