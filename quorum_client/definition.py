"""A use case's definition in a file (YAML or JSON): the use case's fields, then its `kpis`,
`value_model`, `data_quality_rules` and `members` (docs/examples/usecase.yaml).

The server ignores a field it does not know, so a misspelt one would be lost without a word:
every name is checked here, before anything is sent.
"""

from __future__ import annotations

import json
from pathlib import Path

from quorum_client.errors import QuorumError

# What POST /api/v1/usecases/ takes (usecases/api/serializers.py, UseCaseCreateInput).
USE_CASE_FIELDS = (
    "slug",
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
)
KPI_FIELDS = (
    "name",
    "metric",
    "direction",
    "target",
    "gate_threshold",
    "is_gating",
    "gate_mode",
    "segment",
)
VALUE_MODEL_FIELDS = (
    "currency",
    "value_true_positive",
    "value_true_negative",
    "cost_false_positive",
    "cost_false_negative",
    "cost_per_unit_under",
    "cost_per_unit_over",
    "notes",
)
RULE_FIELDS = ("field", "kind", "params", "severity", "description")
MEMBER_FIELDS = ("username", "role")
LISTS = {
    "kpis": ("KPI", KPI_FIELDS),
    "data_quality_rules": ("data-quality rule", RULE_FIELDS),
    "members": ("member", MEMBER_FIELDS),
}


def read_definition(path: str | Path) -> dict:
    """The file's definition, checked: YAML (.yaml, .yml) or JSON (anything else).

    Raises QuorumError (no status) naming the file and what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise QuorumError(f"Cannot read {path}: {reason}.") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _yaml(text, path)
    else:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise QuorumError(f"{path} is not valid JSON: {error}.") from None
    return check_definition(data, where=str(path))


def _yaml(text: str, path: Path):
    try:
        import yaml  # PyYAML: installed with the portal (drf-spectacular needs it)
    except ImportError:
        raise QuorumError(
            f"Reading {path} needs PyYAML (pip install pyyaml); or write the file as JSON."
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise QuorumError(f"{path} is not valid YAML: {error}") from None


def check_definition(data: object, *, where: str = "the definition") -> dict:
    """`data` if every name in it is known; QuorumError naming the first that is not."""
    if not isinstance(data, dict):
        raise QuorumError(f"{where} must hold a mapping (the use case's fields), not a list.")
    if "rules" in data and "data_quality_rules" not in data:  # the shorter name is accepted
        data = dict(data)
        data["data_quality_rules"] = data.pop("rules")
    nested = ("value_model", *LISTS)
    _known(data, (*USE_CASE_FIELDS, *nested), f"{where}: the use case")
    if not data.get("title"):
        raise QuorumError(f"{where}: the use case needs a title.")
    value_model = data.get("value_model")
    if value_model is not None:
        if not isinstance(value_model, dict):
            raise QuorumError(f"{where}: value_model must be a mapping of its fields.")
        _known(value_model, VALUE_MODEL_FIELDS, f"{where}: value_model")
    for key, (name, fields) in LISTS.items():
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise QuorumError(f"{where}: {key} must be a list.")
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise QuorumError(f"{where}: {name} {number} must be a mapping of its fields.")
            _known(item, fields, f"{where}: {name} {number}")
    return data


def _known(mapping: dict, fields: tuple[str, ...], where: str) -> None:
    unknown = [str(key) for key in mapping if key not in fields]
    if unknown:
        raise QuorumError(
            f"{where} has unknown field{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; known: {', '.join(fields)}."
        )


def use_case_fields(definition: dict) -> dict:
    """The fields of the use case itself, without what hangs off it."""
    return {key: value for key, value in definition.items() if key in USE_CASE_FIELDS}
