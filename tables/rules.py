"""Data-quality rules: checked batch by batch on typed columns, counted over the whole file.

Error-severity rules refuse a file when broken (each broken row is a problem in the
`Report`); warning ones are only counted, for `RuleChecks.summary()`.

Regular expressions run on RE2 (pyarrow's match_substring_regex), in time linear in the
value: never on a backtracking engine, where `(a+)+$` takes minutes on 30 characters
(issue 10). Linear is not enough on its own: RE2's time per character grows with the size
of the compiled pattern once its DFA gives up, and `.{0,999}a` written 30 times took 10 s
per 32 KB value. So `regex_problem()` also refuses patterns whose repetitions expand too
far (`pattern_cost`, docs/security.md gives the measured worst cases). Rule definitions
refuse such patterns, and a stored rule whose pattern is refused is reported unchecked,
with why.
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
# What a pattern may cost (measured in docs/security.md, "Regular expressions"): at most
# MAX_REPEAT repeats in one {n,m}; at most MAX_PATTERN_SIZE characters matched once every
# repetition is expanded (a \p{…} class counts UNICODE_CLASS_SIZE: it compiles to hundreds of
# instructions); and at most MAX_TAIL_SIZE of them from an unbounded repetition (*, +, {n,})
# on, its body included: RE2's DFA tracks every place where what follows could start, and
# thrashes once they are too many (`.*a.{16}`: 22 ms per 32 KB value).
MAX_REPEAT = 100
MAX_PATTERN_SIZE = 300
MAX_TAIL_SIZE = 13
UNICODE_CLASS_SIZE = 100
UNICODE_CLASS_TAIL = 3  # in a tail, a \p{…} class costs about three other characters


def regex_problem(pattern: str) -> str | None:
    """Why the rule engine cannot take `pattern` (as a whole-value match), or None if it can.

    Compiled by RE2 itself, as the engine will run it: no look-arounds, back-references or
    other constructs that need backtracking. Then its cost (`pattern_cost`) must be within
    the limits above.
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
    return _cost_problem(pattern_cost(pattern))


def _cost_problem(cost: PatternCost) -> str | None:
    slow = "such patterns take too long to check on long values"
    if cost.largest_repeat > MAX_REPEAT:
        return (
            f"The pattern repeats a part up to {cost.largest_repeat:,} times, more than the "
            f"{MAX_REPEAT} allowed in {{n,m}}: {slow}."
        )
    if cost.size > MAX_PATTERN_SIZE:
        return (
            f"The pattern matches up to {cost.size:,} characters one by one once its "
            f"repetitions are expanded (a \\p{{…}} class counts {UNICODE_CLASS_SIZE}), more "
            f"than the {MAX_PATTERN_SIZE} allowed: {slow}. Use fewer or smaller {{n,m}}."
        )
    if cost.tail > MAX_TAIL_SIZE:
        return (
            f"From a repetition without an upper bound (*, + or {{n,}}) on, the pattern "
            f"matches {cost.tail:,} characters one by one, more than the {MAX_TAIL_SIZE} "
            f"allowed: {slow}. Bound the repetition, e.g. {{1,20}} instead of +, or move it "
            "to the end."
        )
    return None


def _whole_value(pattern: str) -> str:
    """The pattern matching the whole value, as re.fullmatch does."""
    return f"^(?:{pattern})$"


# --- What a pattern costs ------------------------------------------------------------------


@dataclass(frozen=True)
class PatternCost:
    """A pattern's size once its repetitions are expanded, in characters matched one by one;
    the most of them from an unbounded repetition on, its body included (`tail`); and the
    largest count in any {n,m}."""

    size: int = 0
    tail: int = 0
    largest_repeat: int = 0


@dataclass
class _Node:
    size: int  # characters matched, every repetition expanded
    tail_size: int  # the same, counted as a tail counts them
    tail: int | None = None  # characters from an unbounded repetition on, if it has one


_ZERO_WIDTH_ESCAPES = set("bBAz")


def pattern_cost(pattern: str) -> PatternCost:
    """Scan an RE2 pattern (one RE2 compiles) for what it costs: see PatternCost.

    Escapes, character classes, groups, alternatives and repetitions are followed as RE2
    reads them; each character, class or escape matches one character (a \\p{…} class
    weighs more), anchors and flags none.
    """
    frames: list[list[list[_Node]]] = [[[]]]  # open groups > alternatives > items
    largest = 0
    i = 0
    while i < len(pattern):
        char, items = pattern[i], frames[-1][-1]
        if char == "(":
            i = _group_start(pattern, i, frames)
            continue
        if char == ")" and len(frames) > 1:
            node = _alternatives(frames.pop())
            frames[-1][-1].append(node)
        elif char == "|":
            frames[-1].append([])
        elif char in "*+?" or (char == "{" and _counted(pattern, i)):
            low, high, i = _repetition(pattern, i)
            largest = max(largest, high or low)
            if items:
                items[-1] = _repeated(items[-1], low, high)
            continue
        elif char in "^$":
            pass  # zero width
        elif char == "[":
            node, i = _character_class(pattern, i)
            items.append(node)
            continue
        elif char == "\\":
            i = _escape(pattern, i, items)
            continue
        else:
            items.append(_Node(1, 1))
        i += 1
    while len(frames) > 1:  # unbalanced: RE2 refused it already; measured all the same
        frames[-1][-1].append(_alternatives(frames.pop()))
    root = _alternatives(frames[0])
    return PatternCost(root.size, root.tail or 0, largest)


def _group_start(pattern: str, i: int, frames: list) -> int:
    """After "(": a group opens, or flags such as (?i) apply (zero width)."""
    if pattern.startswith("(?", i):
        ends = [pattern.find(mark, i) for mark in ":)>"]
        end = min((e for e in ends if e != -1), default=len(pattern))
        if end < len(pattern) and pattern[end] == ")":
            return end + 1  # (?i): flags, no group
        frames.append([[]])
        return end + 1
    frames.append([[]])
    return i + 1


def _repetition(pattern: str, i: int) -> tuple[int, int | None, int]:
    """(least, most or None for unbounded, index after it) of the repetition at `i`."""
    if pattern[i] == "{":
        return _counted(pattern, i)
    lazy = pattern.startswith("?", i + 1)
    least, most = {"*": (0, None), "+": (1, None), "?": (0, 1)}[pattern[i]]
    return least, most, i + 1 + lazy


def _counted(pattern: str, i: int) -> tuple[int, int | None, int] | None:
    """{n}, {n,} or {n,m} at `i`, as _repetition; None when the "{" starts none (RE2 then
    reads it as itself). Without Python's re: this module never imports it."""
    close = pattern.find("}", i)
    least, comma, most = pattern[i + 1 : max(close, i)].partition(",")
    if close == -1 or not _is_number(least) or (most and not _is_number(most)):
        return None
    end = close + 1 + pattern.startswith("?", close + 1)  # a lazy repetition
    if not comma:
        return int(least), int(least), end
    return int(least), int(most) if most else None, end


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _repeated(body: _Node, low: int, high: int | None) -> _Node:
    if high is not None:  # bounded: each inner tail is followed by the later repeats
        tail = None if body.tail is None else body.tail + body.tail_size * max(high - 1, 0)
        return _Node(body.size * high, body.tail_size * high, tail)
    # Unbounded: every character of the body may follow where another repeat could start.
    times = max(low, 1)
    size, tail_size = body.size * times, body.tail_size * times
    return _Node(size, tail_size, tail_size + (body.tail or 0))


def _sequence(items: list[_Node]) -> _Node:
    size = tail_size = 0
    tail: int | None = None
    for item in items:
        if tail is not None:
            tail += item.tail_size
        if item.tail is not None:
            tail = max(tail or 0, item.tail)
        size += item.size
        tail_size += item.tail_size
    return _Node(size, tail_size, tail)


def _alternatives(alternatives: list[list[_Node]]) -> _Node:
    """Every alternative is tried at once: their sizes add up."""
    nodes = [_sequence(items) for items in alternatives]
    tails = [node.tail for node in nodes if node.tail is not None]
    return _Node(
        sum(node.size for node in nodes),
        sum(node.tail_size for node in nodes),
        max(tails) if tails else None,
    )


def _character_class(pattern: str, i: int) -> tuple[_Node, int]:
    """[…] from `i`: one character (a \\p{…} class inside weighs more); the index after it."""
    i += 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1  # a first "]" is a literal
    unicode = False
    while i < len(pattern) and pattern[i] != "]":
        if pattern[i] == "\\":
            unicode = unicode or pattern[i + 1 : i + 2] in ("p", "P")
            i = _escape_end(pattern, i)
        elif pattern.startswith("[:", i) and ":]" in pattern[i:]:
            i = pattern.index(":]", i) + 2
        else:
            i += 1
    return _class_node(unicode), i + 1


def _escape(pattern: str, i: int, items: list[_Node]) -> int:
    """A backslash at `i`: adds what it matches to `items`; the index after it."""
    kind = pattern[i + 1 : i + 2]
    end = _escape_end(pattern, i)
    if kind == "Q":  # \Q…\E: literal characters
        quoted = pattern[i + 2 : end].removesuffix("\\E")
        items.extend(_Node(1, 1) for _ in quoted)
    elif kind not in _ZERO_WIDTH_ESCAPES:
        items.append(_class_node(kind in ("p", "P")))
    return end


def _escape_end(pattern: str, i: int) -> int:
    kind = pattern[i + 1 : i + 2]
    if kind in ("p", "P", "x") and pattern.startswith("{", i + 2):
        close = pattern.find("}", i + 2)
        return len(pattern) if close == -1 else close + 1
    if kind in ("p", "P"):
        return i + 3
    if kind == "x":
        return i + 4
    if kind == "Q":
        close = pattern.find("\\E", i + 2)
        return len(pattern) if close == -1 else close + 2
    if kind.isdigit():
        end = i + 1
        while end < len(pattern) and end < i + 4 and pattern[end].isdigit():
            end += 1
        return end
    return i + 2


def _class_node(unicode: bool) -> _Node:
    if unicode:
        return _Node(UNICODE_CLASS_SIZE, UNICODE_CLASS_TAIL)
    return _Node(1, 1)


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
