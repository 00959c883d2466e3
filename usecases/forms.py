"""Browser forms: they parse input; the services check the business rules and write.

portal.web.call_service() turns a service's DomainError into errors on the form, so a
broken rule is shown beside the field it concerns.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.formatting import natural_key
from portal.parsers import JSONFormField
from portal.text import multi_line, single_line
from portal.web import AnnotatedSelect, DateInput, Form
from usecases import schema_rows
from usecases.catalogue import METRIC_TASK_TYPES, Metric
from usecases.models import KPI, DataQualityRule, Role, UseCase
from usecases.services import usecases, validation


class FeatureSchemaField(JSONFormField):
    """JSON in a textarea, shown indented so people can edit it (too deep or holding a NUL:
    a form error, as in the API)."""

    default_error_messages = {
        "invalid": "This is not valid JSON. Check commas, quotes and brackets."
    }

    def prepare_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class ClassNamesField(forms.CharField):
    """Multiclass classes, one a line: "gold", or "3 = gold" to name class 3; a dict."""

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, dict):  # in natural order, as pages show them
            pairs = sorted(value.items(), key=lambda pair: natural_key(pair[0]))
            return "\n".join(f"{key} = {name}" if name else key for key, name in pairs)
        return value

    def to_python(self, value) -> dict[str, str]:
        names: dict[str, str] = {}
        for number, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            key, _, name = (part.strip() for part in line.partition("="))
            if not key:
                raise ValidationError(f"Line {number}: a class before the “=”.")
            if key in names:
                raise ValidationError(f"Line {number}: the class “{key}” is listed twice.")
            names[key] = name
        return names


class MilestoneForm(forms.Form):
    """One row of the milestones table; a row left blank is ignored."""

    name = forms.CharField(
        max_length=120,
        required=False,
        validators=[single_line],
        widget=forms.TextInput(attrs={"aria-label": "Milestone", "placeholder": "e.g. Pilot live"}),
    )
    due_date = forms.DateField(
        widget=DateInput(attrs={"aria-label": "Due date"}), required=False, label="Due"
    )
    done = forms.BooleanField(
        required=False, widget=forms.CheckboxInput(attrs={"aria-label": "Done"})
    )

    def clean(self):
        data = super().clean()
        if (data.get("due_date") or data.get("done")) and not data.get("name"):
            self.add_error("name", "Name the milestone (or clear the row).")
        elif data.get("name") and not data.get("due_date"):
            self.add_error("due_date", "A milestone needs a due date.")
        return data


MilestoneFormSet = forms.formset_factory(MilestoneForm, extra=2, max_num=50, absolute_max=60)
MILESTONES = "milestones"  # the formset's prefix


def _done_at(milestones: list[dict], index: int):
    """When the milestone shown in row `index` was done (None: not done, or a new row)."""
    return milestones[index]["done_at"] if index < len(milestones) else None


class UseCaseForm(Form):
    title = forms.CharField(max_length=200, validators=[single_line])
    problem_statement = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        validators=[multi_line],
        help_text="The business problem in a few sentences.",
    )
    decision_supported = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        validators=[multi_line],
        help_text="The business decision the model's predictions feed.",
    )
    sponsor = forms.CharField(
        max_length=200, required=False, validators=[single_line], help_text="Business sponsor."
    )
    task_type = forms.ChoiceField(choices=UseCase.TaskType.choices)
    priority = forms.ChoiceField(choices=UseCase.Priority.choices, initial=UseCase.Priority.MEDIUM)
    risk_tier = forms.ChoiceField(
        choices=UseCase.RiskTier.choices,
        initial=UseCase.RiskTier.LOW,
        help_text="Higher tiers need more approvals to promote a model.",
    )
    expected_value_per_year = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, label="Expected value / year"
    )
    expected_value_currency = forms.CharField(
        max_length=3,
        initial="EUR",
        required=False,
        label="Currency of the value",
        validators=[single_line],
        help_text="ISO 4217 code of the expected value (EUR, USD…). The value model has its "
        "own currency, for what each prediction is worth.",
    )
    effort_person_days = forms.IntegerField(
        min_value=0,
        required=False,
        label="Effort (person-days)",
        help_text="5 person-days make a person-week.",
    )
    team = forms.CharField(
        max_length=100,
        required=False,
        validators=[single_line],
        help_text="The team that delivers it.",
        widget=forms.TextInput(attrs={"list": "team-options"}),
    )
    start_date = forms.DateField(widget=DateInput, required=False)
    target_date = forms.DateField(widget=DateInput, required=False)
    target_definition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        validators=[multi_line],
        help_text="What the label means and when it is known.",
    )
    decision_threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        initial=0.5,
        label="Decision threshold",
        help_text="Binary classification: a score at or above it predicts the positive class. "
        "Evaluations compute precision, recall and business value at this threshold.",
        widget=forms.NumberInput(attrs={"step": "0.01", "data-task-types": "binary"}),
    )
    positive_label = forms.CharField(
        max_length=60,
        required=False,
        validators=[single_line],
        label="A 1 means",
        help_text="Binary: what the positive class means, e.g. “will churn”.",
        widget=forms.TextInput(attrs={"data-task-types": "binary"}),
    )
    negative_label = forms.CharField(
        max_length=60,
        required=False,
        validators=[single_line],
        label="A 0 means",
        help_text="Binary: what the negative class means, e.g. “stays”.",
        widget=forms.TextInput(attrs={"data-task-types": "binary"}),
    )
    class_names = ClassNamesField(
        required=False,
        label="Classes",
        help_text="Multiclass: the known classes, one a line; “3 = gold” names class 3. "
        "Reviewers pick corrections from them; pages show the names.",
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "data-task-types": "multiclass"}
        ),
    )
    feature_schema = FeatureSchemaField(
        required=False,
        initial=list,
        widget=forms.Textarea(attrs={"rows": 8, "class": "code", "spellcheck": "false"}),
        help_text="A JSON list of features, each with a name and a type ("
        + ", ".join(validation.FEATURE_TYPES)
        + "). Leave [] if not known yet.",
    )

    def __init__(self, *args, with_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # The milestones' rows: bound only when the page posted them (scripts and older
        # forms that send none leave the milestones as they are).
        posted_rows = self.is_bound and f"{MILESTONES}-TOTAL_FORMS" in self.data
        self.milestone_rows = MilestoneFormSet(
            self.data if posted_rows else None,
            prefix=MILESTONES,
            initial=[
                {"name": m["name"], "due_date": m["due_date"], "done": m["done_at"] is not None}
                for m in self.initial.get("milestones", [])
            ],
        )
        if with_owner:  # handing over accountability: only for those who manage members
            self.fields["owner"] = forms.CharField(
                label="Owner (username)",
                validators=[single_line],
                help_text="The accountable owner.",
            )

    @classmethod
    def initial_for(cls, use_case: UseCase) -> dict:
        names = [name for name in cls.base_fields if name != "owner"]
        milestones = use_case.milestones.values("name", "due_date", "done_at")
        return {name: getattr(use_case, name) for name in names} | {
            "owner": use_case.owner.get_username(),
            "milestones": list(milestones),
        }

    def clean_expected_value_currency(self):
        code = self.cleaned_data["expected_value_currency"].strip().upper()
        return code or self.initial.get("expected_value_currency") or "EUR"  # blank: as it was

    def _posted_milestones(self) -> list[dict] | None:
        """The milestones as posted (blank rows dropped), each due within the plan's start
        and target dates (validation.milestone_date_problem). A row that was done keeps when
        it was done (row by row: two milestones of one name keep their own), one newly
        ticked is done now. None: rows not posted, or invalid."""
        rows = self.milestone_rows
        if not rows.is_bound:
            return None
        if not rows.is_valid():
            self.add_error(None, "Check the milestones: each needs a name and a due date.")
            return None
        start, target = self.cleaned_data.get("start_date"), self.cleaned_data.get("target_date")
        wrong = False
        for row in rows.forms:
            due = row.cleaned_data.get("due_date")
            problem = due and validation.milestone_date_problem(
                due, start_date=start, target_date=target
            )
            if problem and row.cleaned_data.get("name"):
                row.add_error("due_date", problem)
                wrong = True
        if wrong:
            self.add_error(None, "Check the milestones' due dates: each says what is wrong.")
            return None
        # The rows shown first are the milestones as they were, in the same order.
        before = self.initial.get("milestones", [])[: rows.initial_form_count()]
        now = timezone.now()
        return [
            {
                "name": row.cleaned_data["name"],
                "due_date": row.cleaned_data["due_date"],
                "done_at": (_done_at(before, index) or now) if row.cleaned_data["done"] else None,
            }
            for index, row in enumerate(rows.forms)
            if row.cleaned_data.get("name")
        ]

    def clean_owner(self):
        username = self.cleaned_data["owner"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValidationError(f"There is no active user named “{username}”.")
        return user

    def clean_feature_schema(self):
        if schema_rows.TOTAL in self.data:  # the page's rows; JSON otherwise (scripts, tests)
            return schema_rows.schema_from_rows(schema_rows.rows_from_post(self.data))
        return self.cleaned_data["feature_schema"] or []

    @property
    def wants_schema_edit(self) -> bool:
        """ "Add a row" or "Import" was pressed: show the form again, save nothing."""
        return self.is_bound and self.data.get(schema_rows.ACTION) in ("add-row", "import-header")

    @property
    def schema_rows(self) -> list[dict]:
        """The feature rows to show: as edited, as posted (after an error), or as stored."""
        if self.wants_schema_edit:
            return schema_rows.edited_rows(self.data)
        if self.is_bound and schema_rows.TOTAL in self.data:
            return schema_rows.rows_from_post(self.data)
        return schema_rows.rows_from_schema(self.initial.get("feature_schema") or [])

    def clean(self):
        data = super().clean()
        if data.get("task_type") != UseCase.TaskType.MULTICLASS:
            data.pop("class_names", None)  # hidden for this task type: the stored ones stay
            self.errors.pop("class_names", None)
        if data.get("task_type") != UseCase.TaskType.BINARY:
            # Unused by this task type (and hidden): keep whatever is stored, ignore the input.
            for name in ("decision_threshold", "positive_label", "negative_label"):
                data.pop(name, None)
                self.errors.pop(name, None)
        elif data.get("decision_threshold") is None:
            data["decision_threshold"] = 0.5
        milestones = self._posted_milestones()
        if milestones is not None:
            data["milestones"] = milestones
        return data


def phase_options(use_case: UseCase, *, can_skip: bool) -> tuple[list, list]:
    """The phase choices to offer: (one step away, skipping steps); the second is empty
    unless `can_skip` (an Admin, who must then justify). The service decides either way."""
    steps = usecases.phase_steps(use_case)
    skips = [p for p in UseCase.Phase.values if p not in steps and p != use_case.phase]
    label = {value: label for value, label in UseCase.Phase.choices}
    return [(p, label[p]) for p in steps], ([(p, label[p]) for p in skips] if can_skip else [])


class KPIForm(Form):
    name = forms.CharField(max_length=120, validators=[single_line])
    metric = forms.ChoiceField()
    direction = forms.ChoiceField(
        choices=[("", "From the metric"), *KPI.Direction.choices],
        required=False,
        help_text="Leave blank: errors are lower-is-better, scores higher-is-better.",
    )
    target = forms.FloatField(help_text="The value the business aims for.")
    gate_threshold = forms.FloatField(help_text="The worst value still acceptable to promote.")
    gate_mode = forms.ChoiceField(
        choices=KPI.GateMode.choices, initial=KPI.GateMode.POINT, label="Gate on"
    )
    is_gating = forms.BooleanField(
        required=False, initial=True, label="Gates promotion", help_text="A failing gate blocks."
    )
    segment = forms.CharField(
        max_length=120,
        required=False,
        validators=[single_line],
        help_text="Only rows of this segment (blank: all rows).",
    )

    SEGMENT_OPTIONS = "kpi-segment-options"  # the datalist usecases/detail.html renders

    def __init__(self, *args, use_case: UseCase, segments: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        # Offered from the segments seen in the datasets and logs; free text stays possible
        # (a segment to come), with a warning when it matches none (views._kpi_saved).
        field = self.fields["segment"]
        if segments:
            field.widget.attrs["list"] = self.SEGMENT_OPTIONS
            field.help_text = "Only rows of this segment (blank: all rows): one seen in the data."
        else:
            field.help_text = "Only rows of this segment (blank: all rows). No data has any yet."
        # Any metric parses; only the task type's are offered, and the service says why it
        # refuses another (validation.check_kpi: "ROC AUC does not apply to regression…").
        self.fields["metric"].choices = Metric.choices
        self.fields["metric"].widget.choices = [
            (m.value, m.label) for m in Metric if use_case.task_type in METRIC_TASK_TYPES[m]
        ]

    @classmethod
    def initial_for(cls, kpi: KPI) -> dict:
        return {name: getattr(kpi, name) for name in cls.base_fields}

    def clean_direction(self):
        direction = self.cleaned_data["direction"]
        return direction or validation.default_direction(self.cleaned_data.get("metric", ""))


class RuleForm(Form):
    """A data-quality rule with friendly inputs; `params()` builds the JSON the service wants."""

    field = forms.CharField(max_length=120, label="Column", validators=[single_line])
    kind = forms.ChoiceField(choices=DataQualityRule.Kind.choices, label="Rule")
    minimum = forms.FloatField(required=False, help_text="Range: lowest allowed value.")
    maximum = forms.FloatField(required=False, help_text="Range: highest allowed value.")
    allowed_values = forms.CharField(
        required=False,
        max_length=1000,
        validators=[single_line],
        help_text="Allowed values: comma-separated, e.g. A, B, C.",
    )
    pattern = forms.CharField(
        required=False,
        max_length=300,
        validators=[single_line],
        help_text="Pattern: a regular expression, e.g. ^[A-Z]{2}\\d+$.",
    )
    max_rate_percent = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Maximum empty (%)",
        help_text="Null rate: the largest share of empty values allowed.",
    )
    severity = forms.ChoiceField(
        choices=DataQualityRule.Severity.choices, initial=DataQualityRule.Severity.ERROR
    )
    description = forms.CharField(max_length=200, required=False, validators=[single_line])

    # Which input a service error about "params" belongs to, by kind.
    PARAM_INPUTS = {
        DataQualityRule.Kind.RANGE: "minimum",
        DataQualityRule.Kind.ALLOWED_VALUES: "allowed_values",
        DataQualityRule.Kind.REGEX: "pattern",
        DataQualityRule.Kind.MAX_NULL_RATE: "max_rate_percent",
    }

    def __init__(self, *args, use_case: UseCase, **kwargs):
        super().__init__(*args, **kwargs)
        columns = [*use_case.feature_names, *validation.RESERVED_COLUMNS]
        if use_case.feature_schema:
            # Each column's type and each kind's fitting types, for app.js to offer only the
            # kinds that fit the chosen column (validation.check_rule refuses the others).
            types = {c: validation.column_type(use_case, c) or "" for c in columns}
            self.fields["field"] = forms.ChoiceField(
                choices=[(c, c) for c in columns],
                label="Column",
                widget=AnnotatedSelect(
                    option_attrs={c: {"data-column-type": t} for c, t in types.items() if t}
                ),
            )
            self.fields["kind"].widget = AnnotatedSelect(
                choices=self.fields["kind"].choices,
                option_attrs={
                    kind: {"data-fits": " ".join(sorted(fits))}
                    for kind, fits in validation.RULE_TYPES.items()
                },
            )
        for name, kind in (
            ("minimum", "range"),
            ("maximum", "range"),
            ("allowed_values", "allowed_values"),
            ("pattern", "regex"),
            ("max_rate_percent", "max_null_rate"),
        ):
            self.fields[name].widget.attrs["data-rule-kind"] = kind

    @classmethod
    def initial_for(cls, rule: DataQualityRule) -> dict:
        params = rule.params or {}
        rate = params.get("max_rate")
        return {
            "field": rule.field,
            "kind": rule.kind,
            "severity": rule.severity,
            "description": rule.description,
            "minimum": params.get("min"),
            "maximum": params.get("max"),
            "allowed_values": ", ".join(str(v) for v in params.get("values", [])),
            "pattern": params.get("pattern", ""),
            "max_rate_percent": round(rate * 100, 4) if rate is not None else None,
        }

    def field_for_error(self, name: str) -> str | None:
        if name == "params":
            return self.PARAM_INPUTS.get(self.cleaned_data.get("kind"))
        return super().field_for_error(name)

    def params(self) -> dict:
        data, kind = self.cleaned_data, self.cleaned_data["kind"]
        if kind == DataQualityRule.Kind.RANGE:
            return {"min": data["minimum"], "max": data["maximum"]}
        if kind == DataQualityRule.Kind.ALLOWED_VALUES:
            return {"values": data["allowed_values"]}  # the service splits on commas
        if kind == DataQualityRule.Kind.REGEX:
            return {"pattern": data["pattern"]}
        if kind == DataQualityRule.Kind.MAX_NULL_RATE:
            rate = data["max_rate_percent"]
            return {"max_rate": rate / 100} if rate is not None else {}
        return {}

    def rule_fields(self) -> dict:
        """What the service takes: field, kind, params, severity, description."""
        data = self.cleaned_data
        return {
            "field": data["field"],
            "kind": data["kind"],
            "params": self.params(),
            "severity": data["severity"],
            "description": data["description"],
        }


class ValueModelForm(Form):
    currency = forms.CharField(
        max_length=3,
        initial="EUR",
        validators=[single_line],
        help_text="Three-letter code: EUR, USD, GBP…",
    )
    value_true_positive = forms.DecimalField(
        max_digits=12, decimal_places=2, label="Value of a true positive"
    )
    value_true_negative = forms.DecimalField(
        max_digits=12, decimal_places=2, label="Value of a true negative"
    )
    cost_false_positive = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, label="Cost of a false positive"
    )
    cost_false_negative = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, label="Cost of a false negative"
    )
    cost_per_unit_under = forms.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=0,
        label="Cost per unit under-predicted",
        help_text="Predicting one unit too few (a stock-out: lost margin).",
    )
    cost_per_unit_over = forms.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=0,
        label="Cost per unit over-predicted",
        help_text="Predicting one unit too many (an overstock: waste).",
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, validators=[multi_line]
    )

    def __init__(self, *args, use_case: UseCase, **kwargs):
        super().__init__(*args, **kwargs)
        unused = (
            validation.REGRESSION_VALUE_FIELDS
            if use_case.is_classification
            else validation.CLASSIFICATION_VALUE_FIELDS
        )
        for name in unused:  # only the fields this task type uses
            del self.fields[name]

    @classmethod
    def initial_for(cls, value_model) -> dict:
        if value_model is None:
            return {}
        values = {name: getattr(value_model, name) for name in cls.base_fields}
        # 2.5 rather than the column's 2.5000
        return {
            k: format(v.normalize(), "f") if isinstance(v, Decimal) else v
            for k, v in values.items()
        }

    def clean_currency(self):
        return self.cleaned_data["currency"].strip().upper()


class MemberAddForm(Form):
    username = forms.CharField(max_length=150, validators=[single_line])
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ValidationError(f"There is no user named “{username}”.")
        return user


class MemberRoleForm(Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenForm(Form):
    expiry_days = forms.TypedChoiceField(
        label="Expires after",
        choices=[("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("0", "Never")],
        coerce=int,
        initial="90",
        help_text="A token that never expires is convenient and risky: prefer an expiry.",
    )


class UseCaseFilterForm(forms.Form):
    """The list's search box and filters (GET); invalid values are simply ignored."""

    q = forms.CharField(required=False, label="Search")
    phase = forms.ChoiceField(choices=[("", "All phases"), *UseCase.Phase.choices], required=False)
    owner = forms.ChoiceField(required=False)

    def __init__(self, *args, owners: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "All owners"), *((o, o) for o in owners)]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {"search": data["q"].strip(), "phase": data["phase"], "owner": data["owner"]}
