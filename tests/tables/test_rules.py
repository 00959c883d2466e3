"""Data-quality rules (tables.rules) on typed columns, as the upload readers run them."""

import re
import time

import pyarrow as pa
import pytest

import tables.rules
from tables.casts import null_mask
from tables.report import Report, TableRejected
from tables.rules import PatternCost, RuleChecks, RuleSpec, pattern_cost

AGES = pa.array([30, 150, None, -1], pa.int64())  # rows 1 to 4


def rule(kind, params=None, *, field="age", severity="error", rule_id=7) -> RuleSpec:
    return RuleSpec(rule_id, field, kind, params or {}, severity, f"{field} {kind}")


def check(rules, values=AGES, *, name="age") -> tuple[RuleChecks, Report]:
    """The rules checked on one column as one batch, then over the whole file."""
    checks = RuleChecks(rules, pa.schema([(name, values.type)]))
    report = Report()
    checks.check_batch(0, {name: values}, {name: null_mask(values)}, report)
    report.end_batch()
    checks.check_file(len(values), report)
    return checks, report


def rejected(rules, values=AGES, *, name="age") -> TableRejected:
    _, report = check(rules, values, name=name)
    with pytest.raises(TableRejected) as caught:
        report.raise_if_any()
    return caught.value


@pytest.mark.parametrize(
    ("spec", "bad_rows"),
    [
        (rule("range", {"min": 0, "max": 120}), [2, 4]),
        (rule("range", {"min": 0}), [4]),
        (rule("not_null"), [3]),
        (rule("allowed_values", {"values": ["30", 150]}), [4]),
        (rule("allowed_values", {"values": "30, -1"}), [2]),
        (rule("regex", {"pattern": r"\d+"}), [4]),
    ],
)
def test_error_rule_violations_refuse_the_file_with_row_problems(spec, bad_rows):
    error = rejected([spec])

    assert [p.row for p in error.problems] == bad_rows
    assert {p.rule for p in error.problems} == {"7"}
    assert {p.column for p in error.problems} == {"age"}
    assert error.counts == {spec.summary: len(bad_rows)}


@pytest.mark.parametrize(
    ("spec", "violations"),
    [
        (rule("range", {"min": 0, "max": 120}, severity="warning"), 2),
        (rule("not_null", severity="warning"), 1),
        (rule("allowed_values", {"values": [30]}, severity="warning"), 2),
        (rule("regex", {"pattern": "3.*"}, severity="warning"), 2),
        (rule("max_null_rate", {"max_rate": 0.1}, severity="warning"), 1),
    ],
)
def test_warning_rule_violations_are_only_counted(spec, violations):
    checks, report = check([spec])

    report.raise_if_any()  # nothing refused
    assert checks.summary()[0]["violations"] == violations
    assert checks.summary()[0]["severity"] == "warning"


def test_range_violation_message_names_the_value_and_the_rule():
    spec = RuleSpec(3, "age", "range", {"max": 120}, "error", "age at most 120")

    error = rejected([spec])

    assert error.problems[0].message == "“150” breaks the rule “age at most 120”."
    assert error.message == "The file has 1 bad row: nothing was stored."


def test_max_null_rate_is_checked_over_the_whole_file():
    too_strict = rule("max_null_rate", {"max_rate": 0.2})
    loose_enough = rule("max_null_rate", {"max_rate": 0.25})

    error = rejected([too_strict])
    checks, _ = check([loose_enough])

    assert error.message == (
        "“age” is empty in 25.0% of the rows, more than the 20.0% allowed "
        "(age max_null_rate): nothing was stored."
    )
    assert error.problems[0].row is None
    assert error.counts == {"age max_null_rate": 1}
    assert checks.summary()[0]["violations"] == 0


def test_regex_rule_must_match_the_whole_value():
    codes = pa.array(["AB-12", "xAB-12", "AB-123"])
    spec = rule("regex", {"pattern": r"[A-Z]{2}-\d{2}"}, field="code")

    error = rejected([spec], codes, name="code")

    assert [p.row for p in error.problems] == [2, 3]


def test_a_stored_regex_rule_that_re2_refuses_is_reported_unchecked_not_backtracked(
    monkeypatch,
):
    # A rule stored before patterns were checked: (?=…) needs a backtracking engine, on
    # which this value takes minutes (issue 10). It must not run on one, and not stop the file.
    def backtracking(*args, **kwargs):
        raise AssertionError("the rule engine must not use Python's re")

    monkeypatch.setattr(re, "compile", backtracking)
    monkeypatch.setattr(re, "fullmatch", backtracking)
    codes = pa.array(["a" * 40 + "!"])
    spec = rule("regex", {"pattern": r"(?=a)(a+)+$"}, field="code")

    start = time.perf_counter()
    checks, report = check([spec], codes, name="code")

    assert time.perf_counter() - start < 1
    summary = checks.summary()[0]
    assert (summary["checked"], summary["violations"]) == (False, 0)
    assert "invalid perl operator: (?=" in summary["unchecked_because"]
    assert not report.counts


def test_a_regex_rule_runs_in_linear_time_on_re2():
    spec = rule("regex", {"pattern": r"(a+)+$"}, field="code")  # catastrophic for re
    codes = pa.array(["a" * 100_000 + "!", "aaa"])

    start = time.perf_counter()
    error = rejected([spec], codes, name="code")

    assert time.perf_counter() - start < 1
    assert [p.row for p in error.problems] == [1]


def test_the_rule_engine_does_not_import_pythons_re():
    assert "re" not in vars(tables.rules)


def test_rule_on_a_column_not_in_the_dataset_is_marked_unchecked():
    checks, report = check([rule("range", {"min": 0}, field="score")])

    assert checks.summary()[0]["checked"] is False
    assert checks.summary()[0]["violations"] == 0
    assert not report.counts


def test_range_rule_on_a_text_column_is_not_checked():
    checks, _ = check([rule("range", {"min": 0}, field="code")], pa.array(["a"]), name="code")

    assert checks.summary()[0]["checked"] is False


def test_allowed_values_are_compared_in_the_column_type():
    values = pa.array([True, False, None])
    spec = rule("allowed_values", {"values": ["yes"]}, field="active")

    error = rejected([spec], values, name="active")

    assert [(p.row, p.message) for p in error.problems] == [
        (2, "“false” breaks the rule “active allowed_values”.")
    ]


@pytest.mark.parametrize(
    ("pattern", "size", "tail", "largest_repeat"),
    [
        (r"[A-Z]{2}[0-9]{6}", 8, 0, 6),
        (r"[a{]{3}", 3, 0, 3),  # a "{" in a class is a character
        (r"\{9999\}", 6, 0, 0),  # escaped braces are characters
        (r"a{,5}", 5, 0, 0),  # RE2 reads "{,5}" as characters
        (r"\Q.{999}\E", 6, 0, 0),  # quoted: characters
        (r"(?i)x{3}(?:y|zz)", 6, 0, 3),  # flags match nothing; alternatives add up
        (r"\p{Greek}{2}", 200, 0, 2),  # a Unicode class weighs 100
        (r".*a.{11}", 13, 13, 11),  # the .* and the 12 characters after it
        (r"(?:[A-Z]{2},)+x", 4, 4, 2),  # the body of an unbounded repetition is its tail
        (r"(?P<name>.{0,5}a){0,10}", 60, 0, 10),
    ],
)
def test_pattern_cost_follows_re2_syntax(pattern, size, tail, largest_repeat):
    assert pattern_cost(pattern) == PatternCost(size, tail, largest_repeat)
