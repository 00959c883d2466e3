"""Data-quality rules counted on a batch's valid predictions, never refused.

These predictions were already served: monitoring wants their violation rate, not a gap.
Each rule's field is built into one Arrow column (a feature, the segment, the score or the
prediction) and checked with tables.rules.RuleChecks; a column that does not convert
leaves its rules unchecked.

Besides the counts per rule that the ingest answer reports, `check_rules` keeps, row by
row, which rows break each row-level rule and which leave a max_null_rate rule's field
empty: the version's tally (services/tally.py) counts only the rows a batch stored.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from predictions.services.validate import ValidPredictions
from registry.services.registering import rule_specs
from tables.casts import to_datetime
from tables.report import Report
from tables.rules import RuleChecks, RuleSpec
from usecases.models import DataQualityRule, UseCase

logger = logging.getLogger(__name__)

_ARROW_TYPES = {
    "number": pa.float64(),
    "integer": pa.int64(),
    "string": pa.string(),
    "category": pa.string(),
    "boolean": pa.bool_(),
}
_ERROR = DataQualityRule.Severity.ERROR.value
_MAX_NULL_RATE = DataQualityRule.Kind.MAX_NULL_RATE.value


@dataclass
class RuleFindings:
    """What the rules found on a batch's valid rows (numpy arrays index those rows).

    `summary`: per rule, as the ingest answer reports it. `flags`: {rule id as text: rows}
    for each checked rule that flagged a row: the rows breaking a row-level rule (either
    severity), or for max_null_rate the rows whose field is empty. `errors`: the ids of
    the checked row-level rules of severity error, the ones that make a row violating.
    """

    summary: list[dict] = field(default_factory=list)
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    errors: set[str] = field(default_factory=set)

    def violating(self) -> np.ndarray | None:
        """Rows breaking at least one checked row-level error rule; None when none does."""
        broken = [flags for rule, flags in self.flags.items() if rule in self.errors]
        return np.logical_or.reduce(broken) if broken else None

    def any_flag(self, rows: list[int]) -> bool:
        """Whether any of these rows is flagged by any rule."""
        return any(flags[rows].any() for flags in self.flags.values())


class _FlagCollector(Report):
    """A Report that keeps, per rule, the rows RuleChecks found breaking it (it reports
    each error-severity rule's broken rows through `rows`); nothing else is needed."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: dict[str, np.ndarray] = {}

    def rows(self, offset: int, bad: np.ndarray, *, rule: str | None = None, **_) -> None:
        self.broken[str(rule)] = np.asarray(bad, dtype=bool)


def check_rules(
    use_case: UseCase, valid: ValidPredictions, *, rules: list[RuleSpec] | None = None
) -> RuleFindings:
    """Each rule's violations among the valid rows, and which rows (counted, never refused).
    Column by column: a column that cannot be built or checked (values beyond what Arrow
    takes) leaves its rules unchecked, not the batch refused."""
    rules = rule_specs(use_case) if rules is None else rules
    findings = RuleFindings()
    if not rules or not valid.count:
        return findings
    kinds = {str(f["name"]): str(f["type"]) for f in use_case.feature_schema}
    by_field: dict[str, list[RuleSpec]] = {}
    for rule in rules:
        by_field.setdefault(rule.field, []).append(rule)
    summaries: dict[object, dict] = {}
    for name, field_rules in by_field.items():
        try:
            array = _rule_column(use_case, valid, kinds, name)
            checks = _check_column(field_rules, name, array, valid.count, findings)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            logger.warning(
                "data-quality rules on %s of use case %s not checked: the column does not convert",
                name,
                use_case.pk,
            )
            for rule in field_rules:  # nothing of a column left half checked
                findings.flags.pop(str(rule.id), None)
                findings.errors.discard(str(rule.id))
            checks = RuleChecks(field_rules, pa.schema([]))
        for rule, item in zip(field_rules, checks.summary(), strict=True):
            summaries[rule.id] = item | {"severity": rule.severity}
    findings.summary = [summaries[rule.id] for rule in rules]
    return findings


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
    rules: list[RuleSpec], name: str, array: pa.Array | None, count: int, findings: RuleFindings
) -> RuleChecks:
    """Check one column's rules; record in `findings` the rows each rule flags. Every rule
    is checked as if of severity error, so that RuleChecks reports the rows of warning
    rules too (the summary keeps each rule's own severity)."""
    if array is None:
        return RuleChecks(rules, pa.schema([]))
    as_errors = [dataclasses.replace(rule, severity=_ERROR) for rule in rules]
    checks = RuleChecks(as_errors, pa.schema([(name, array.type)]))
    nulls = {name: np.asarray(array.is_null().to_numpy(zero_copy_only=False))}
    collector = _FlagCollector()
    checks.check_batch(0, {name: array}, nulls, collector)
    checks.check_file(count, collector)
    for rule, checked in zip(rules, checks.checked, strict=True):
        key = str(rule.id)
        if not checked:
            continue
        if rule.kind == _MAX_NULL_RATE:
            if nulls[name].any():
                findings.flags[key] = nulls[name]
            continue
        if rule.severity == _ERROR:
            findings.errors.add(key)
        if key in collector.broken:
            findings.flags[key] = collector.broken[key]
    return checks
