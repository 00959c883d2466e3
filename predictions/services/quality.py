"""Data-quality rules counted on a batch's valid predictions, never refused.

These predictions were already served: monitoring wants their violation rate, not a gap.
Each rule's field is built into one Arrow column (a feature, the segment, the score or the
prediction) and checked with tables.rules.RuleChecks; a column that does not convert
leaves its rules unchecked.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

from predictions.services.validate import ValidPredictions
from registry.services.registering import rule_specs
from tables.casts import to_datetime
from tables.report import Report
from tables.rules import RuleChecks, RuleSpec
from usecases.models import UseCase

logger = logging.getLogger(__name__)

_ARROW_TYPES = {
    "number": pa.float64(),
    "integer": pa.int64(),
    "string": pa.string(),
    "category": pa.string(),
    "boolean": pa.bool_(),
}


def rule_violations(use_case: UseCase, valid: ValidPredictions) -> list[dict]:
    """Each rule's violations among the valid rows (counted, never refused). Column by
    column: a column that cannot be built or checked (values beyond what Arrow takes)
    leaves its rules unchecked, not the batch refused."""
    rules = rule_specs(use_case)
    if not rules or not valid.count:
        return []
    kinds = {str(f["name"]): str(f["type"]) for f in use_case.feature_schema}
    by_field: dict[str, list[RuleSpec]] = {}
    for rule in rules:
        by_field.setdefault(rule.field, []).append(rule)
    summaries: dict[object, dict] = {}
    for name, field_rules in by_field.items():
        try:
            array = _rule_column(use_case, valid, kinds, name)
            checks = _check_column(field_rules, name, array, valid.count)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            logger.warning(
                "data-quality rules on %s of use case %s not checked: the column does not convert",
                name,
                use_case.pk,
            )
            checks = RuleChecks(field_rules, pa.schema([]))
        for item in checks.summary():
            summaries[item["rule"]] = item
    return [summaries[rule.id] for rule in rules]


def _rule_column(
    use_case: UseCase, valid: ValidPredictions, kinds: dict[str, str], name: str
) -> pa.Array | None:
    if name in kinds:
        values = [features.get(name) for features in valid.features]
        kind = kinds[name]
        if kind == "datetime":
            return to_datetime(pa.array(values, pa.string()))[0]
        if kind == "number":  # ints past 2^53 convert with float(), not with Arrow
            values = [v if v is None or type(v) is float else float(v) for v in values]
        elif kind == "integer":  # 3.0 is the integer 3
            values = [v if v is None or type(v) is int else int(v) for v in values]
        return pa.array(values, _ARROW_TYPES[kind])
    if name == "segment":
        return pa.array([s or None for s in valid.segments], pa.string())
    if name == "score":
        return pa.array(valid.scores, pa.float64())
    if name == "prediction" and use_case.task_type == "regression":
        return pa.array([float(p) for p in valid.predictions], pa.float64())
    if name == "prediction":
        return pa.array([str(p) for p in valid.predictions], pa.string())
    return None


def _check_column(
    rules: list[RuleSpec], name: str, array: pa.Array | None, count: int
) -> RuleChecks:
    if array is None:
        return RuleChecks(rules, pa.schema([]))
    checks = RuleChecks(rules, pa.schema([(name, array.type)]))
    nulls = {name: np.asarray(array.is_null().to_numpy(zero_copy_only=False))}
    report = Report()
    checks.check_batch(0, {name: array}, nulls, report)
    checks.check_file(count, report)
    return checks
