"""Data-quality rules: checked batch by batch on typed columns, counted over the whole file.

Error-severity rules refuse a file when broken (each broken row is a problem in the
`Report`); warning ones are only counted, for `RuleChecks.summary()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tables.casts import (
    as_text,
    mask,
    not_in,
    plain_text,
    shown,
    to_bool,
    to_datetime,
    to_float,
    to_integer,
)
from tables.report import Report


@dataclass(frozen=True)
class RuleSpec:
    """One data-quality rule as the validator takes it (built from a DataQualityRule row).

    `kind` is range (params min and/or max), not_null, allowed_values (params values),
    regex (params pattern, which must match the whole value) or max_null_rate (params
    max_rate, a share between 0 and 1). `summary` names the rule for people, e.g.
    "age between 0 and 120"; counts in reports are keyed by it.
    """

    id: int | str
    field: str
    kind: str
    params: dict = field(default_factory=dict)
    severity: str = "error"
    summary: str = ""

    @property
    def label(self) -> str:
        return self.summary or f"{self.field} {self.kind}"


class RuleChecks:
    """Counts each rule's violations batch by batch; error-severity ones become problems.

    A rule is checked when its field is in `schema` (and, for range, is numeric); the
    others are reported unchecked by `summary()`.
    """

    def __init__(self, rules: list[RuleSpec], schema: pa.Schema) -> None:
        self.rules = list(rules)
        self.schema = schema
        self.violations = [0] * len(self.rules)
        self.nulls = [0] * len(self.rules)
        self.checked = [self._applies(rule) for rule in self.rules]
        self._value_sets: dict[int, pa.Array] = {}
        self._python_patterns: dict[int, re.Pattern] = {}

    def _applies(self, rule: RuleSpec) -> bool:
        if rule.field not in self.schema.names:
            return False
        kind = self.schema.field(rule.field).type
        if rule.kind == "range":
            return pa.types.is_integer(kind) or pa.types.is_floating(kind)
        return rule.kind in ("not_null", "allowed_values", "regex", "max_null_rate")

    def check_batch(
        self,
        offset: int,
        columns: dict[str, pa.Array],
        nulls: dict[str, np.ndarray],
        report: Report,
    ) -> None:
        """Check the row rules on a batch starting at row `offset` (0-based)."""
        for index, rule in enumerate(self.rules):
            if not self.checked[index]:
                continue
            if rule.kind == "max_null_rate":
                self.nulls[index] += int(nulls[rule.field].sum())
                continue
            values = columns[rule.field]
            bad = self._broken(index, rule, values, nulls[rule.field])
            count = int(bad.sum())
            self.violations[index] += count
            if count and rule.severity == "error":
                report.rows(
                    offset,
                    bad,
                    column=rule.field,
                    key=rule.label,
                    message=lambda i, r=rule, v=values: _rule_message(r, v, i),
                    rule=str(rule.id),
                )

    def _broken(
        self, index: int, rule: RuleSpec, values: pa.Array, nulls: np.ndarray
    ) -> np.ndarray:
        params = rule.params or {}
        if rule.kind == "not_null":
            return nulls
        if rule.kind == "range":
            bad = pa.array(np.zeros(len(values), dtype=bool))
            if params.get("min") not in (None, ""):
                bad = pc.or_(bad, pc.less(values, float(params["min"])))
            if params.get("max") not in (None, ""):
                bad = pc.or_(bad, pc.greater(values, float(params["max"])))
            return mask(bad)
        if rule.kind == "allowed_values":
            allowed = self._value_set(index, rule, values.type)
            return not_in(values, allowed)
        # regex: the whole value must match, as re.fullmatch does.
        text = as_text(values)
        pattern = str(params.get("pattern", ""))
        if index not in self._python_patterns:
            try:
                return mask(pc.invert(pc.match_substring_regex(text, f"^(?:{pattern})$")))
            except pa.ArrowInvalid:
                # Valid for Python's re but not RE2 (look-arounds, back-references).
                self._python_patterns[index] = re.compile(pattern)
        compiled = self._python_patterns[index]
        return np.array(
            [v is not None and compiled.fullmatch(v) is None for v in text.to_pylist()], dtype=bool
        )

    def _value_set(self, index: int, rule: RuleSpec, kind: pa.DataType) -> pa.Array:
        """The allowed values in the column's type; ones that do not convert are dropped."""
        if index not in self._value_sets:
            values = (rule.params or {}).get("values") or []
            if isinstance(values, str):
                values = [v.strip() for v in values.split(",") if v.strip()]
            text = pa.array([plain_text(v) for v in values], pa.string())
            if pa.types.is_string(kind):
                typed = text
            else:
                cast = {
                    pa.types.is_floating: to_float,
                    pa.types.is_integer: to_integer,
                    pa.types.is_boolean: to_bool,
                    pa.types.is_timestamp: to_datetime,
                }
                convert = next(f for test, f in cast.items() if test(kind))
                typed = convert(text)[0].drop_null()
                if pa.types.is_integer(kind):
                    # 2 and 2.0 are the same allowed value for an integer column.
                    typed = pc.cast(typed, kind)
            self._value_sets[index] = typed
        return self._value_sets[index]

    def check_file(self, row_count: int, report: Report) -> None:
        """The file-level rules (max_null_rate), once every batch was seen."""
        for index, rule in enumerate(self.rules):
            if rule.kind != "max_null_rate" or not self.checked[index]:
                continue
            rate = self.nulls[index] / row_count
            limit = float((rule.params or {}).get("max_rate", 0))
            if rate > limit:
                self.violations[index] = 1
                if rule.severity == "error":
                    report.file(
                        f"“{rule.field}” is empty in {rate:.1%} of the rows, more than the "
                        f"{limit:.1%} allowed ({rule.label}).",
                        key=rule.label,
                        column=rule.field,
                        rule=str(rule.id),
                    )

    def summary(self) -> list[dict]:
        """[{"rule", "field", "summary", "severity", "violations", "checked"}] per rule."""
        return [
            {
                "rule": rule.id,
                "field": rule.field,
                "summary": rule.label,
                "severity": rule.severity,
                "violations": self.violations[index],
                "checked": self.checked[index],
            }
            for index, rule in enumerate(self.rules)
        ]


def _rule_message(rule: RuleSpec, values: pa.Array, index: int) -> str:
    if rule.kind == "not_null":
        return f"“{rule.field}” is empty, which breaks the rule “{rule.label}”."
    return f"“{shown(values, index)}” breaks the rule “{rule.label}”."
