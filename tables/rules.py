"""Data-quality rules: checked batch by batch on typed columns, counted over the whole file.

Error-severity rules refuse a file when broken (each broken row is a problem in the
`Report`); warning ones are only counted, for `RuleChecks.summary()`.

Regular expressions run on RE2 (pyarrow's match_substring_regex), in time linear in the
value: never on a backtracking engine, where `(a+)+$` takes minutes on 30 characters
(issue 10). `regex_problem()` says why RE2 refuses a pattern; rule definitions refuse such
patterns, and a stored rule whose pattern RE2 refuses is reported unchecked, with why.
"""

from __future__ import annotations

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

# Longer patterns are no data-quality rule anyone writes by hand (the browser form's input
# takes as many); RE2 also caps the memory a compiled pattern may take, refusing with its
# reason the patterns that need more ("a{1000}{1000}").
MAX_PATTERN_LENGTH = 300


def regex_problem(pattern: str) -> str | None:
    """Why the rule engine cannot take `pattern` (as a whole-value match), or None if it can.

    Compiled by RE2 itself, as the engine will run it: no look-arounds, back-references or
    other constructs that need backtracking.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        return (
            f"The pattern is {len(pattern):,} characters long, more than the "
            f"{MAX_PATTERN_LENGTH} allowed."
        )
    probe = pa.array([""], pa.string())  # an empty array would not compile the pattern
    for candidate in (pattern, _whole_value(pattern)):
        try:
            pc.match_substring_regex(probe, candidate)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            reason = str(error).splitlines()[0].removeprefix("Invalid regular expression: ")
            return (
                f"Not a valid regular expression for the rule engine: {reason} (patterns use "
                r"RE2 syntax: no look-arounds such as (?=…), no back-references such as \1)."
            )
    return None


def _whole_value(pattern: str) -> str:
    """The pattern matching the whole value, as re.fullmatch does."""
    return f"^(?:{pattern})$"


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
        self.reasons = [self._unchecked_because(rule) for rule in self.rules]
        self.checked = [reason is None for reason in self.reasons]
        self._value_sets: dict[int, pa.Array] = {}

    def _unchecked_because(self, rule: RuleSpec) -> str | None:
        """Why the rule cannot be checked on this file, or None when it can."""
        if rule.field not in self.schema.names:
            return f"no column “{rule.field}”"
        kind = self.schema.field(rule.field).type
        if rule.kind == "range" and not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            return f"“{rule.field}” is not a number"
        if rule.kind == "regex":
            # A pattern stored before RE2 was required: never run it on a backtracking engine.
            return regex_problem(str((rule.params or {}).get("pattern", "")))
        if rule.kind not in ("range", "not_null", "allowed_values", "max_null_rate"):
            return f"unknown kind of rule “{rule.kind}”"
        return None

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
            if pa.types.is_integer(values.type):
                # Compared as floats, as the bounds are: Arrow's implicit cast would refuse
                # integers beyond ±2^53 (a 500), rounding them to the nearest float does not.
                values = pc.cast(values, pa.float64(), safe=False)
            bad = pa.array(np.zeros(len(values), dtype=bool))
            if params.get("min") not in (None, ""):
                bad = pc.or_(bad, pc.less(values, float(params["min"])))
            if params.get("max") not in (None, ""):
                bad = pc.or_(bad, pc.greater(values, float(params["max"])))
            return mask(bad)
        if rule.kind == "allowed_values":
            allowed = self._value_set(index, rule, values.type)
            return not_in(values, allowed)
        # regex: the whole value must match, on RE2 only (checked in _unchecked_because).
        pattern = _whole_value(str(params.get("pattern", "")))
        return mask(pc.invert(pc.match_substring_regex(as_text(values), pattern)))

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
        """[{"rule", "field", "summary", "severity", "violations", "checked"}] per rule, and
        "unchecked_because" for a rule that could not be checked."""
        summary = []
        for index, rule in enumerate(self.rules):
            item = {
                "rule": rule.id,
                "field": rule.field,
                "summary": rule.label,
                "severity": rule.severity,
                "violations": self.violations[index],
                "checked": self.checked[index],
            }
            if self.reasons[index]:
                item["unchecked_because"] = self.reasons[index]
            summary.append(item)
        return summary


def _rule_message(rule: RuleSpec, values: pa.Array, index: int) -> str:
    if rule.kind == "not_null":
        return f"“{rule.field}” is empty, which breaks the rule “{rule.label}”."
    return f"“{shown(values, index)}” breaks the rule “{rule.label}”."
