"""Business rules on a use case's definition, shared by forms, serializers and services.

Each check raises InvalidInput naming the field (InvalidFields for several at once), which
forms show beside the field and the API returns as a 400 naming the field.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

from portal.errors import InvalidFields, InvalidInput
from tables.rules import regex_problem
from usecases.catalogue import (
    FEATURE_TYPES,
    LOWER_IS_BETTER,
    METRIC_TASK_TYPES,
    UNIT_INTERVAL_METRICS,
    Metric,
)
from usecases.models import KPI, DataQualityRule, UseCase, ValueModel

FEATURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Columns every dataset has besides the features; rules may name them too.
RESERVED_COLUMNS = ("label", "prediction", "score", "segment")


MAX_CLASSES = 200


def check_class_names(names) -> dict[str, str]:
    """Multiclass classes and their names: {class: name}, classes and names single lines of
    at most 100 and 60 characters, at most MAX_CLASSES; names may be blank."""
    if not isinstance(names, dict):
        raise InvalidInput(
            'Give the classes as an object of class → name, e.g. {"3": "gold"}.',
            field="class_names",
        )
    if len(names) > MAX_CLASSES:
        raise InvalidInput(f"At most {MAX_CLASSES} classes.", field="class_names")
    checked = {}
    for key, name in names.items():
        key, name = str(key).strip(), name.strip() if isinstance(name, str) else name
        if not key or len(key) > 100 or any(c in key for c in "\r\n\x00"):
            raise InvalidInput(
                f"“{key[:40]}” is not a class: one line of 1 to 100 characters.",
                field="class_names",
            )
        if not isinstance(name, str) or len(name) > 60 or any(c in name for c in "\r\n\x00"):
            raise InvalidInput(
                f"The name of class “{key}” must be one line of at most 60 characters.",
                field="class_names",
            )
        if key in checked:
            raise InvalidInput(f"The class “{key}” is listed twice.", field="class_names")
        checked[key] = name
    return checked


def check_feature_schema(schema) -> list[dict]:
    """A list of {"name", "type", optional "unit", "description" and, for a category, the
    allowed "values"} with unique, identifier-like names."""
    if not isinstance(schema, list):
        raise InvalidInput(
            'Expected a list such as [{"name": "age", "type": "integer"}].', field="feature_schema"
        )
    seen: set[str] = set()
    cleaned = []
    for index, feature in enumerate(schema, start=1):
        where = f"Feature {index}"
        if not isinstance(feature, dict) or "name" not in feature or "type" not in feature:
            raise InvalidInput(f'{where}: needs a "name" and a "type".', field="feature_schema")
        name, kind = str(feature["name"]), str(feature["type"])
        if not FEATURE_NAME.match(name):
            raise InvalidInput(
                f"{where}: “{name}” is not a valid column "
                "name (letters, digits and _, not starting with a digit).",
                field="feature_schema",
            )
        if name in seen or name in RESERVED_COLUMNS:
            why = "appears twice" if name in seen else "is a reserved column name"
            raise InvalidInput(f"{where}: “{name}” {why}.", field="feature_schema")
        if kind not in FEATURE_TYPES:
            raise InvalidInput(
                f"{where}: type “{kind}” is not one of " + ", ".join(FEATURE_TYPES) + ".",
                field="feature_schema",
            )
        seen.add(name)
        item = {"name": name, "type": kind}
        if feature.get("unit"):
            item["unit"] = _single_line(feature["unit"], 30, f"{where}: the unit")
        if feature.get("description"):
            item["description"] = str(feature["description"])[:200]
        if feature.get("values"):
            item["values"] = _allowed_values(feature["values"], kind, f"{where} (“{name}”)")
        cleaned.append(item)
    return cleaned


def _single_line(value, length: int, what: str) -> str:
    text = str(value).strip()
    if len(text) > length or any(ch in text for ch in "\r\n\t\x00"):
        raise InvalidInput(
            f"{what} is one line of at most {length} characters.", field="feature_schema"
        )
    return text


def _allowed_values(values, kind: str, where: str) -> list[str]:
    """A category's known values: a list of distinct short texts (up to 500)."""
    if kind != "category":
        raise InvalidInput(
            f"{where}: allowed values are for category features, not {kind}.",
            field="feature_schema",
        )
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",")]
    if not isinstance(values, list) or len(values) > 500:
        raise InvalidInput(f"{where}: list at most 500 allowed values.", field="feature_schema")
    cleaned = [_single_line(v, 100, f"{where}: a value") for v in values if str(v).strip()]
    return list(dict.fromkeys(cleaned))


MAX_MILESTONES = 50


def check_currency(code: str, *, field: str = "expected_value_currency") -> str:
    """An ISO 4217 code: three capital letters ("eur " is taken as "EUR")."""
    code = (code or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise InvalidInput("Use a three-letter ISO 4217 code such as EUR or USD.", field=field)
    return code


def check_team(team: str) -> str:
    team = (team or "").strip()
    if len(team) > 100 or any(ch in team for ch in "\r\n\t\x00"):
        raise InvalidInput("A team is one line of at most 100 characters.", field="team")
    return team


# Due dates a plan can have: nothing before 2000 nor after 2100 (a year typed as 0001 or 20277).
MILESTONE_YEARS = (2000, 2100)


def milestone_date_problem(
    due_date: datetime.date,
    *,
    start_date: datetime.date | None = None,
    target_date: datetime.date | None = None,
) -> str:
    """Why a milestone cannot be due on `due_date` ("" when it can): in the years
    MILESTONE_YEARS, and within the plan, from its start to its target date where set."""
    first, last = MILESTONE_YEARS
    if not first <= due_date.year <= last:
        return f"A due date lies between {first} and {last}."
    if start_date and due_date < start_date:
        return f"Due before the start date ({start_date:%d %b %Y}): move one or the other."
    if target_date and due_date > target_date:
        return f"Due after the target date ({target_date:%d %b %Y}): move one or the other."
    return ""


def check_milestones(
    milestones: list[dict],
    *,
    start_date: datetime.date | None = None,
    target_date: datetime.date | None = None,
) -> list[dict]:
    """Milestones as {"name", "due_date", "done_at"}: a one-line name of at most 120
    characters and a due date each (milestone_date_problem's: in 2000–2100, within the start
    and target dates given), at most MAX_MILESTONES; by due date, then name."""
    if len(milestones) > MAX_MILESTONES:
        raise InvalidInput(f"List at most {MAX_MILESTONES} milestones.", field="milestones")
    cleaned = []
    for number, milestone in enumerate(milestones, start=1):
        name = str(milestone.get("name") or "").strip()
        if not name or len(name) > 120 or any(ch in name for ch in "\r\n\t\x00"):
            raise InvalidInput(
                f"Milestone {number}: a name of one line, at most 120 characters.",
                field="milestones",
            )
        due_date = milestone.get("due_date")
        if not isinstance(due_date, datetime.date):
            raise InvalidInput(
                f"Milestone {number} (“{name}”) needs a due date.", field="milestones"
            )
        problem = milestone_date_problem(due_date, start_date=start_date, target_date=target_date)
        if problem:
            raise InvalidInput(f"Milestone {number} (“{name}”): {problem}", field="milestones")
        cleaned.append({"name": name, "due_date": due_date, "done_at": milestone.get("done_at")})
    return sorted(cleaned, key=lambda m: (m["due_date"], m["name"]))


def check_dates(start_date, target_date) -> None:
    if start_date and target_date and target_date < start_date:
        raise InvalidInput(
            "The target date must not be before the start date.", field="target_date"
        )


def default_direction(metric: str) -> str:
    return KPI.Direction.LOWER if metric in LOWER_IS_BETTER else KPI.Direction.HIGHER


def check_kpi(
    use_case: UseCase, *, metric: str, direction: str, target: float, gate_threshold: float
) -> None:
    """The metric suits the task type, and target and gate agree with the direction."""
    if use_case.task_type not in METRIC_TASK_TYPES.get(metric, set()):
        label = Metric(metric).label if metric in Metric.values else metric
        raise InvalidInput(
            f"{label} does not apply to {use_case.get_task_type_display().lower()} use cases.",
            field="metric",
        )
    if metric in UNIT_INTERVAL_METRICS:
        for name, value in (("target", target), ("gate_threshold", gate_threshold)):
            if not 0 <= value <= 1:
                raise InvalidInput(f"{Metric(metric).label} lies between 0 and 1.", field=name)
    if metric in LOWER_IS_BETTER and metric != Metric.BIAS:
        for name, value in (("target", target), ("gate_threshold", gate_threshold)):
            if value < 0:
                raise InvalidInput(f"{Metric(metric).label} cannot be negative.", field=name)
    if direction == KPI.Direction.HIGHER and target < gate_threshold:
        raise InvalidInput(
            "With higher is better, the gate threshold must not be above the target.",
            field="gate_threshold",
        )
    if direction == KPI.Direction.LOWER and target > gate_threshold:
        raise InvalidInput(
            "With lower is better, the gate threshold must not be below the target.",
            field="gate_threshold",
        )


CLASSIFICATION_VALUE_FIELDS = ValueModel.CLASSIFICATION_FIELDS
REGRESSION_VALUE_FIELDS = ValueModel.REGRESSION_FIELDS


def check_value_model(use_case: UseCase, values: dict) -> None:
    """Classification needs the four outcome values, regression the two unit costs."""
    needed = CLASSIFICATION_VALUE_FIELDS if use_case.is_classification else REGRESSION_VALUE_FIELDS
    errors = {name: "Required for this task type." for name in needed if values.get(name) is None}
    for name in ("cost_false_positive", "cost_false_negative") + REGRESSION_VALUE_FIELDS:
        value = values.get(name)
        if value is not None and Decimal(value) < 0:
            errors[name] = "Enter a cost as a positive amount (or zero)."
    currency = values.get("currency", "EUR")
    if not re.fullmatch(r"[A-Z]{3}", currency or ""):
        errors["currency"] = "Use a three-letter ISO 4217 code such as EUR or USD."
    if errors:
        raise InvalidFields([InvalidInput(text, field=name) for name, text in errors.items()])


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(str(value))
        except ValueError:
            raise InvalidInput(f"“{name}” must be a number.", field="params") from None
    return float(value)


# The column types each rule kind applies to (any type when absent): a range compares
# numbers, allowed values list categories or codes, a pattern reads text.
RULE_TYPES = {
    DataQualityRule.Kind.RANGE: {"number", "integer"},
    DataQualityRule.Kind.ALLOWED_VALUES: {"category", "string", "integer", "boolean"},
    DataQualityRule.Kind.REGEX: {"category", "string"},
}
RULE_FITS = {
    DataQualityRule.Kind.RANGE: "number and integer columns",
    DataQualityRule.Kind.ALLOWED_VALUES: "category, text, integer and yes/no columns",
    DataQualityRule.Kind.REGEX: "category and text columns",
}
TYPE_WORDS = {
    "number": "a number column",
    "integer": "an integer column",
    "string": "a text column",
    "boolean": "a yes/no column",
    "category": "a category column",
    "datetime": "a date column",
}


def column_type(use_case: UseCase, field: str) -> str | None:
    """The type of a column a rule may check: a feature's from the schema; the prediction's
    and the label's from the task type; the score a number, the segment a category; None
    when the schema does not say."""
    for feature in use_case.feature_schema or ():
        if feature.get("name") == field:
            return feature.get("type")
    if field in ("prediction", "label"):
        return {"regression": "number", "binary": "integer", "multiclass": "category"}.get(
            use_case.task_type
        )
    return {"score": "number", "segment": "category"}.get(field)


def check_rule(use_case: UseCase, *, field: str, kind: str, params) -> dict:
    """The field exists, the kind suits its type and the parameters suit the kind; returns
    the cleaned parameters."""
    known = set(use_case.feature_names) | set(RESERVED_COLUMNS)
    if use_case.feature_schema and field not in known:
        raise InvalidInput(
            f"“{field}” is not in the feature schema ({', '.join(sorted(known))}).", field="field"
        )
    kind_type = column_type(use_case, field)
    if kind in RULE_TYPES and kind_type is not None and kind_type not in RULE_TYPES[kind]:
        label = DataQualityRule.Kind(kind).label
        raise InvalidInput(
            f"{label} does not fit “{field}”, {TYPE_WORDS.get(kind_type, kind_type)}: it "
            f"applies to {RULE_FITS[kind]}.",
            field="kind",
        )
    if not isinstance(params, dict):
        raise InvalidInput("Parameters must be a JSON object.", field="params")
    match kind:
        case DataQualityRule.Kind.RANGE:
            low = _number(params["min"], "min") if params.get("min") not in (None, "") else None
            high = _number(params["max"], "max") if params.get("max") not in (None, "") else None
            if low is None and high is None:
                raise InvalidInput("A range needs a minimum, a maximum or both.", field="params")
            if low is not None and high is not None and low > high:
                raise InvalidInput("The minimum must not be above the maximum.", field="params")
            return {key: value for key, value in (("min", low), ("max", high)) if value is not None}
        case DataQualityRule.Kind.NOT_NULL:
            return {}
        case DataQualityRule.Kind.ALLOWED_VALUES:
            values = params.get("values")
            if isinstance(values, str):
                values = [v.strip() for v in values.split(",") if v.strip()]
            if not isinstance(values, list) or not values:
                raise InvalidInput("List at least one allowed value.", field="params")
            return {"values": values}
        case DataQualityRule.Kind.REGEX:
            pattern = params.get("pattern")
            if not isinstance(pattern, str) or not pattern:
                raise InvalidInput("Give a regular expression as “pattern”.", field="pattern")
            # Only what RE2 compiles: the engine never falls back to backtracking (issue 10).
            problem = regex_problem(pattern)
            if problem:
                raise InvalidInput(problem, field="pattern")
            return {"pattern": pattern}
        case DataQualityRule.Kind.MAX_NULL_RATE:
            rate = _number(params.get("max_rate"), "max_rate") if "max_rate" in params else None
            if rate is None or not 0 <= rate <= 1:
                raise InvalidInput("“max_rate” must be a share between 0 and 1.", field="params")
            return {"max_rate": rate}
    raise InvalidInput(f"Unknown rule kind “{kind}”.", field="kind")
