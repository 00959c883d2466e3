"""Reading and validating uploaded tables: evaluation datasets and a version's predictions.

Pure pyarrow + numpy, no ORM: the registry services call `read_dataset()` or
`read_predictions()`, store `to_parquet()` only when no `TableRejected` was raised, and
evaluations read the blobs back with `load_table()`.

Files are validated as they stream. CSV is read with `pyarrow.csv.open_csv` in blocks, every
column as text, then cast per batch with vectorised pyarrow.compute, so each bad value gets
its row number; Parquet is read with `ParquetFile.iter_batches` after its footer says how
many rows it holds. Sizes are checked before reading (when the source can tell) and while
reading, so a 1 GB upload is refused after 200 MB, not after it was loaded.

Row numbers in problems are 1-based data rows as a user counts them in the file, the header
excluded: row 1 is the second line of a CSV file (the first row of a Parquet file).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

MAX_PROBLEMS = 100
MAX_ROWS = 1_000_000
MAX_BYTES = 200 * 1024**2
HISTOGRAM_BINS = 30
# CSV blocks of 4 MiB hold ~50,000 rows of a typical file: few enough batches that the
# per-batch Python work is negligible, small enough that memory stays flat.
CSV_BLOCK_BYTES = 4 * 1024**2
PARQUET_BATCH_ROWS = 65_536
# A header line longer than this is not a header (or not a CSV file).
MAX_HEADER_BYTES = 1024**2
PROBABILITY_SUM_TOLERANCE = 0.01

TASK_TYPES = ("regression", "binary", "multiclass")
FEATURE_TYPES: dict[str, pa.DataType] = {
    "number": pa.float64(),
    "integer": pa.int64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    # Stored dictionary-encoded (one small dictionary per column); read as string per batch.
    "category": pa.dictionary(pa.int32(), pa.string()),
    # Values without an offset are taken as UTC; values with one are converted to UTC.
    "datetime": pa.timestamp("us", tz="UTC"),
}
LABEL_TYPES: dict[str, pa.DataType] = {
    "regression": pa.float64(),
    "binary": pa.int64(),
    "multiclass": pa.string(),
}
PROBA_PREFIX = "proba_"

# What pyarrow's string→float cast accepts, or more: a value this lets through that the cast
# then refuses is caught by `_cast_or_flag`, so the cast's grammar is the one that counts.
_FLOAT = r"(?i)^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)$"
_INTEGER = r"^[+-]?\d+$"
# Strict about field ranges so that only impossible days (02-30) reach the bisecting cast.
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)"
_DATETIME = rf"^{_DATE}(?:{_TIME})?$"
_DATETIME_WITH_OFFSET = rf"^{_DATE}{_TIME}{_OFFSET}$"
_TRUE = ["true", "t", "yes", "y", "1", "1.0"]
_FALSE = ["false", "f", "no", "n", "0", "0.0"]
_LABEL_ONE = ["1", "true", "1.0"]
_LABEL_ZERO = ["0", "false", "0.0"]
_LARGEST_EXACT_FLOAT_INTEGER = 2.0**53
_READABLE_PARQUET_TYPES = (
    pa.types.is_null,
    pa.types.is_boolean,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_decimal,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_string_view,
    pa.types.is_date,
    pa.types.is_timestamp,
)


# --- Public types -------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Problem:
    """One reason a file was refused; `row` is None for a problem of the whole file."""

    row: int | None
    column: str | None
    message: str
    rule: str | None = None  # the RuleSpec id, as text, when a rule was broken

    def as_dict(self) -> dict:
        """The problem as the API reports it (STYLE.md: row, field, message)."""
        return {"row": self.row, "field": self.column, "message": self.message, "rule": self.rule}


class TableRejected(Exception):
    """The file was refused; nothing of it may be stored.

    `message` is one sentence for the user; `problems` the first 100 problems (file-level
    ones first, then by row); `counts` the exact number of each kind of problem over the
    whole file, keyed by reason ("age: not a number") or by the broken rule's summary.
    `limit_exceeded` is True when the file was refused for its size or row count alone
    (an API may answer 413 then).
    """

    def __init__(
        self,
        message: str,
        problems: list[Problem] | None = None,
        counts: dict[str, int] | None = None,
        *,
        limit_exceeded: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])
        self.counts = dict(counts or {})
        self.limit_exceeded = limit_exceeded


@dataclass
class DatasetTable:
    """A validated dataset: every row passed every check and every error-severity rule.

    `table` has the columns id (string), each feature in its type (see FEATURE_TYPES),
    label (float64 for regression, 0/1 int64 for binary, string for multiclass) and segment
    (string) when the file had one, in that order and in the file's row order.
    """

    table: pa.Table
    row_count: int
    columns: list[str]
    has_segment: bool
    label_summary: dict
    # [{"rule", "field", "summary", "severity", "violations", "checked"}] for every rule;
    # checked is False when the rule's field is not a column of the dataset.
    rule_violations: list[dict]

    def to_parquet(self) -> bytes:
        """The table as a zstd-compressed Parquet file, ready for StoredTable."""
        return _parquet_bytes(self.table)


@dataclass
class PredictionTable:
    """Validated predictions, one per dataset row, in the dataset's row order (no id column).

    `table` has prediction (float64 for regression; 0/1 int64 for binary, all null when only
    scores were given; string for multiclass), score (float64 in [0, 1]) when `has_score`,
    and one proba_<class> column (float64) per class in `proba_classes` for multiclass.
    """

    table: pa.Table
    row_count: int
    has_score: bool
    has_prediction: bool = True
    proba_classes: list[str] = field(default_factory=list)

    def to_parquet(self) -> bytes:
        """The table as a zstd-compressed Parquet file, ready for StoredTable."""
        return _parquet_bytes(self.table)


def file_format(filename: str) -> str:
    """ "csv", "csv.gz" or "parquet" from the file's name; TableRejected for anything else."""
    name = (filename or "").strip().lower()
    for suffix, kind in ((".csv.gz", "csv.gz"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return kind
    raise TableRejected(
        f"“{filename}” is neither CSV nor Parquet: upload a .csv, .csv.gz or .parquet file."
    )


def load_table(parquet: bytes, columns: list[str] | None = None) -> pa.Table:
    """A stored table (or only `columns` of it) back from its Parquet bytes."""
    return pq.read_table(pa.BufferReader(parquet), columns=columns)


# --- Datasets -----------------------------------------------------------------------------


def read_dataset(
    source: BinaryIO,
    *,
    filename: str,
    feature_schema: list[dict],
    task_type: str,
    rules: list[RuleSpec],
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BYTES,
) -> DatasetTable:
    """Parse and validate a dataset file completely, or raise TableRejected with the report.

    Columns: id (required, unique, non-empty), every feature of `feature_schema`, label
    (typed by `task_type`) and an optional segment; missing or unexpected columns refuse
    the file. Empty cells are nulls. Error-severity rules refuse the file when broken;
    warning ones are only counted in `rule_violations`.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"Unknown task type {task_type!r}.")
    features = [(str(f["name"]), str(f["type"])) for f in feature_schema]
    for name, kind in features:
        if kind not in FEATURE_TYPES:
            raise ValueError(f"Unknown feature type {kind!r} for {name!r}.")
    report = _Report()
    reader = _open(source, filename, max_rows=max_rows, max_bytes=max_bytes, report=report)
    _check_columns(
        reader.columns,
        required=["id", *(name for name, _ in features), "label"],
        optional=["segment"],
        report=report,
    )
    has_segment = "segment" in reader.columns
    out_types = {"id": pa.string()}
    out_types.update({name: _batch_type(FEATURE_TYPES[kind]) for name, kind in features})
    out_types["label"] = LABEL_TYPES[task_type]
    if has_segment:
        out_types["segment"] = pa.string()
    schema = pa.schema(list(out_types.items()))
    checks = _RuleChecks(rules, schema)

    batches: list[pa.RecordBatch] = []
    for offset, raw in reader.batches():
        columns: dict[str, pa.Array] = {}
        nulls: dict[str, np.ndarray] = {}
        columns["id"], nulls["id"] = _required_text(raw["id"], "id", offset, report)
        for name, kind in features:
            columns[name], nulls[name] = _feature(raw[name], kind, name, offset, report)
        columns["label"], nulls["label"] = _label(raw["label"], task_type, offset, report)
        if has_segment:
            columns["segment"] = _text(raw["segment"])
            nulls["segment"] = _null_mask(columns["segment"])
        checks.check_batch(offset, columns, nulls, report)
        batches.append(pa.RecordBatch.from_arrays(list(columns.values()), schema=schema))
        report.end_batch()

    row_count = sum(batch.num_rows for batch in batches)
    if row_count == 0:
        report.raise_if_any()  # rows that could not be split are rows, with problems
        raise TableRejected("The file has no data rows.")
    table = pa.Table.from_batches(batches, schema=schema)
    _report_duplicates(table.column("id"), report)
    checks.check_file(row_count, report)
    if task_type != "regression":
        _check_classes(table.column("label"), task_type, report)
    report.raise_if_any()

    for name, kind in features:
        if kind == "category":
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, pc.dictionary_encode(table.column(name)))
    table = table.unify_dictionaries().combine_chunks()
    return DatasetTable(
        table=table,
        row_count=row_count,
        columns=table.column_names,
        has_segment=has_segment,
        label_summary=label_summary(table.column("label"), task_type),
        rule_violations=checks.summary(),
    )


def label_summary(labels: pa.ChunkedArray | pa.Array, task_type: str) -> dict:
    """For the dataset page: a ~30-bin histogram of a numeric label, or class counts."""
    if task_type == "regression":
        values = labels.to_numpy(zero_copy_only=False).astype(float)
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        return {
            "kind": "numeric",
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": float(values.mean()),
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        }
    counted = pc.value_counts(labels).to_pylist()
    counts = {str(item["values"]): int(item["counts"]) for item in counted}
    return {"kind": "categorical", "counts": dict(sorted(counts.items()))}


def _batch_type(stored: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_dictionary(stored) else stored


def _feature(
    raw: pa.Array, kind: str, name: str, offset: int, report: _Report
) -> tuple[pa.Array, np.ndarray]:
    """The column cast to the feature's type (bad values null) and its mask of empty cells."""
    if kind in ("string", "category"):
        values = _text(raw)
        return values, _null_mask(values)
    values, failures = _CASTS[kind](raw)
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column=name,
            key=f"{name}: {reason}",
            message=lambda i, t=template: t.format(value=_shown(raw, i)),
        )
    return values, _null_mask(values) & ~_any(failures, len(raw))


def _label(
    raw: pa.Array, task_type: str, offset: int, report: _Report
) -> tuple[pa.Array, np.ndarray]:
    """The label typed by the task type; bad and empty labels are row problems."""
    if task_type == "regression":
        values, failures = _to_float(raw)
    elif task_type == "binary":
        values, failures = _to_binary(raw)
    else:
        values, failures = _to_class(raw)
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column="label",
            key=f"label: {reason}",
            message=lambda i, t=template: t.format(value=_shown(raw, i)),
        )
    empty = _null_mask(values) & ~_any(failures, len(raw))
    report.rows(
        offset, empty, column="label", key="label: empty", message=lambda i: "The label is empty."
    )
    return values, empty


def _required_text(
    raw: pa.Array, name: str, offset: int, report: _Report
) -> tuple[pa.Array, np.ndarray]:
    """A text column that may not be empty (ids): empty cells are row problems."""
    values = _text(raw)
    empty = _blank_mask(values)
    report.rows(
        offset, empty, column=name, key=f"{name}: empty", message=lambda i: f"The {name} is empty."
    )
    return values, empty


def _check_classes(labels: pa.ChunkedArray, task_type: str, report: _Report) -> None:
    classes = [str(v) for v in pc.unique(labels.drop_null()).to_pylist()]
    if task_type == "binary" and len(classes) < 2:
        only = f" ({classes[0]})" if classes else ""
        report.file(
            f"The label has a single class{only}: binary classification needs both 0 and 1.",
            key="label: a single class",
            column="label",
        )
    elif task_type == "multiclass" and len(classes) < 2:
        only = f" (“{classes[0]}”)" if classes else ""
        report.file(
            f"The label has a single class{only}: multiclass classification needs at least two.",
            key="label: a single class",
            column="label",
        )


# --- Predictions --------------------------------------------------------------------------


def read_predictions(
    source: BinaryIO,
    *,
    filename: str,
    dataset_ids: pa.Array | pa.ChunkedArray,
    task_type: str,
    classes: list[str] | None = None,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BYTES,
) -> PredictionTable:
    """Parse and validate a version's predictions for a dataset, aligned to its row order.

    Columns: id and prediction; binary also takes score (probability of class 1, in
    [0, 1]) and needs prediction (0/1 or true/false), score or both; multiclass takes an
    optional score (confidence of the predicted class) and optional proba_<class> columns
    (one per class when `classes` is given; each row adds up to 1). With `classes`,
    multiclass predictions must be one of them. The ids must be the dataset's exactly:
    duplicates, ids not in the dataset and dataset ids without a prediction refuse the file.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"Unknown task type {task_type!r}.")
    if isinstance(dataset_ids, pa.ChunkedArray):
        dataset_ids = dataset_ids.combine_chunks()
    dataset_ids = _text(dataset_ids)
    report = _Report()
    reader = _open(source, filename, max_rows=max_rows, max_bytes=max_bytes, report=report)
    names = reader.columns
    proba_columns = [n for n in names if n.startswith(PROBA_PREFIX)]
    proba_classes = [n.removeprefix(PROBA_PREFIX) for n in proba_columns]
    required, optional, needs = ["id"], [], ""
    if task_type == "regression":
        required.append("prediction")
    elif task_type == "binary":
        optional += ["prediction", "score"]
        if "prediction" not in names and "score" not in names:
            needs = (
                "needs a “prediction” column (0/1), a “score” column (the probability of 1) or both"
            )
    else:
        required.append("prediction")
        optional.append("score")
        if proba_columns and classes is not None:
            # One probability column per class, no more, no fewer.
            proba_classes = [str(c) for c in classes]
            proba_columns = [f"{PROBA_PREFIX}{c}" for c in proba_classes]
            required += proba_columns
        else:
            optional += proba_columns
    _check_columns(names, required=required, optional=optional, report=report, needs=needs)
    has_prediction = "prediction" in names
    has_score = "score" in names
    out_types = {"prediction": LABEL_TYPES[task_type]}
    if has_score:
        out_types["score"] = pa.float64()
    out_types.update({name: pa.float64() for name in proba_columns})
    schema = pa.schema(list(out_types.items()))
    allowed = pa.array([str(c) for c in classes], pa.string()) if classes else None

    ids: list[pa.Array] = []
    batches: list[pa.RecordBatch] = []
    for offset, raw in reader.batches():
        batch_ids, _ = _required_text(raw["id"], "id", offset, report)
        ids.append(batch_ids)
        columns: dict[str, pa.Array] = {}
        if has_prediction:
            columns["prediction"] = _prediction(
                raw["prediction"], task_type, allowed, offset, report
            )
        else:
            columns["prediction"] = pa.nulls(len(batch_ids), LABEL_TYPES[task_type])
        if has_score:
            columns["score"] = _probability(raw["score"], "score", offset, report)
        for name in proba_columns:
            columns[name] = _probability(raw[name], name, offset, report)
        if proba_columns:
            _check_probability_sums([columns[n] for n in proba_columns], offset, report)
        batches.append(pa.RecordBatch.from_arrays(list(columns.values()), schema=schema))
        report.end_batch()

    row_count = sum(batch.num_rows for batch in batches)
    if row_count == 0:
        report.raise_if_any()  # rows that could not be split are rows, with problems
        raise TableRejected("The file has no data rows.")
    file_ids = pa.chunked_array(ids, pa.string()).combine_chunks()
    _report_duplicates(file_ids, report)
    positions = _match_ids(file_ids, dataset_ids, report)
    report.raise_if_any()

    # Every dataset id appears exactly once (checked above), so this is a permutation.
    order = np.empty(len(dataset_ids), dtype=np.int64)
    order[positions] = np.arange(row_count, dtype=np.int64)
    table = pa.Table.from_batches(batches, schema=schema).take(pa.array(order)).combine_chunks()
    return PredictionTable(
        table=table,
        row_count=row_count,
        has_score=has_score,
        has_prediction=has_prediction,
        proba_classes=proba_classes,
    )


def _prediction(
    raw: pa.Array, task_type: str, allowed: pa.Array | None, offset: int, report: _Report
) -> pa.Array:
    if task_type == "regression":
        values, failures = _to_float(raw)
    elif task_type == "binary":
        values, failures = _to_binary(raw)
        hint = "“{value}” is not 0/1 or true/false (probabilities go in a “score” column)."
        failures = [(bad, reason, hint) for bad, reason, _ in failures]
    else:
        values, failures = _to_class(raw)
        if allowed is not None:
            unknown = _not_in(values, allowed)
            failures.append((unknown, "not a known class", "“{value}” is not one of the classes."))
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column="prediction",
            key=f"prediction: {reason}",
            message=lambda i, t=template: t.format(value=_shown(raw, i)),
        )
    empty = _null_mask(values) & ~_any(failures, len(raw))
    report.rows(
        offset,
        empty,
        column="prediction",
        key="prediction: empty",
        message=lambda i: "The prediction is empty.",
    )
    return values


def _probability(raw: pa.Array, name: str, offset: int, report: _Report) -> pa.Array:
    """A probability column: numbers in [0, 1], never empty."""
    values, failures = _to_float(raw)
    outside = _mask(pc.or_(pc.less(values, 0.0), pc.greater(values, 1.0)))
    failures.append((outside, "not between 0 and 1", "{value} is not between 0 and 1."))
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column=name,
            key=f"{name}: {reason}",
            message=lambda i, t=template: t.format(value=_shown(raw, i)),
        )
    empty = _null_mask(values) & ~_any(failures, len(raw))
    report.rows(
        offset, empty, column=name, key=f"{name}: empty", message=lambda i: f"The {name} is empty."
    )
    return values


def _check_probability_sums(columns: list[pa.Array], offset: int, report: _Report) -> None:
    total = np.sum([c.to_numpy(zero_copy_only=False) for c in columns], axis=0)
    off = np.abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE  # NaN (a bad cell) compares False
    report.rows(
        offset,
        off,
        column=None,
        key=f"{PROBA_PREFIX}*: do not add up to 1",
        message=lambda i: f"The class probabilities add up to {total[i]:.3g}, not 1.",
    )


def _match_ids(file_ids: pa.Array, dataset_ids: pa.Array, report: _Report) -> np.ndarray:
    """Each file row's position in the dataset (-1 if not there); reports extra and missing."""
    positions = pc.fill_null(pc.index_in(file_ids, value_set=dataset_ids), -1)
    positions = positions.to_numpy(zero_copy_only=False).astype(np.int64)
    extra = (positions < 0) & ~_null_mask(file_ids)
    report.rows(
        0,
        extra,
        column="id",
        key="id: not in the dataset",
        message=lambda i: f"The id “{_shown(file_ids, i)}” is not in the dataset.",
        late=True,
    )
    found = np.bincount(positions[positions >= 0], minlength=len(dataset_ids))
    missing = np.flatnonzero(found == 0)
    if len(missing):
        examples = ", ".join(f"“{_shown(dataset_ids, i)}”" for i in missing[:5])
        more = ", …" if len(missing) > 5 else ""
        report.file(
            f"{len(missing):,} id{_s(len(missing))} of the dataset "
            f"{'have' if len(missing) > 1 else 'has'} no prediction: {examples}{more}.",
            key="id: missing from the file",
            column="id",
            count=len(missing),
        )
    return positions


# --- Data-quality rules -------------------------------------------------------------------


class _RuleChecks:
    """Counts each rule's violations batch by batch; error-severity ones become problems."""

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
        report: _Report,
    ) -> None:
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
            return _mask(bad)
        if rule.kind == "allowed_values":
            allowed = self._value_set(index, rule, values.type)
            return _not_in(values, allowed)
        # regex: the whole value must match, as re.fullmatch does.
        text = _text(values)
        pattern = str(params.get("pattern", ""))
        if index not in self._python_patterns:
            try:
                return _mask(pc.invert(pc.match_substring_regex(text, f"^(?:{pattern})$")))
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
            text = pa.array([_plain_text(v) for v in values], pa.string())
            if pa.types.is_string(kind):
                typed = text
            else:
                cast = {
                    pa.types.is_floating: _to_float,
                    pa.types.is_integer: _to_integer,
                    pa.types.is_boolean: _to_bool,
                    pa.types.is_timestamp: _to_datetime,
                }
                convert = next(f for test, f in cast.items() if test(kind))
                typed = convert(text)[0].drop_null()
                if pa.types.is_integer(kind):
                    # 2 and 2.0 are the same allowed value for an integer column.
                    typed = pc.cast(typed, kind)
            self._value_sets[index] = typed
        return self._value_sets[index]

    def check_file(self, row_count: int, report: _Report) -> None:
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
    return f"“{_shown(values, index)}” breaks the rule “{rule.label}”."


# --- Casting, batch by batch --------------------------------------------------------------

# A failure: (mask of the bad rows, reason for the counts, message template with {value}).
Failure = tuple[np.ndarray, str, str]


def _to_float(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """float64; "nan" and empty cells are null, infinities and non-numbers are failures."""
    raw = _plain(raw)
    if pa.types.is_string(raw.type):
        values, bad = _parse_text(raw, pa.float64(), _FLOAT)
        failures = [(bad, "not a number", "“{value}” is not a number.")]
    elif _is_numeric(raw.type):
        values = pc.cast(raw, pa.float64())
        failures = []
    else:
        return _not_convertible(raw, pa.float64(), "not a number", "“{value}” is not a number.")
    values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)
    infinite = _mask(pc.is_inf(values))
    if infinite.any():
        values = pc.if_else(pa.array(infinite), pa.scalar(None, pa.float64()), values)
        failures.append((infinite, "not a finite number", "“{value}” is not a finite number."))
    return values, failures


def _to_integer(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """int64; "3" and "3.0" are 3, "3.5" or "abc" are failures."""
    raw = _plain(raw)
    reason, template = "not a whole number", "“{value}” is not a whole number."
    if pa.types.is_integer(raw.type) or pa.types.is_null(raw.type):
        values, bad = _cast_or_flag(raw, pa.int64())
        return values, [(bad, reason, template)]
    if pa.types.is_string(raw.type):
        try:
            return pc.cast(raw, pa.int64()), []
        except pa.ArrowInvalid:
            pass
        text = _trimmed(raw)
        is_integer = pc.fill_null(pc.match_substring_regex(text, _INTEGER), False)
        digits = pc.replace_substring_regex(
            pc.if_else(is_integer, text, pa.scalar(None, pa.string())), r"^\+", ""
        )
        integers, too_large = _cast_or_flag(digits, pa.int64())
        rest = pc.if_else(is_integer, pa.scalar(None, pa.string()), text)
        floats, float_failures = _to_float(rest)
        bad = too_large | _any(float_failures, len(raw))
    elif _is_numeric(raw.type):
        integers = pa.nulls(len(raw), pa.int64())
        floats = pc.cast(raw, pa.float64())
        floats = pc.if_else(pc.is_nan(floats), pa.scalar(None, pa.float64()), floats)
        bad = _mask(pc.is_inf(floats))
        floats = pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), floats)
    else:
        return _not_convertible(raw, pa.int64(), reason, template)
    fractional = _mask(
        pc.or_(
            pc.not_equal(floats, pc.floor(floats)),
            pc.greater(pc.abs(floats), _LARGEST_EXACT_FLOAT_INTEGER),
        )
    )
    bad |= fractional
    whole = pc.if_else(pa.array(fractional), pa.scalar(None, pa.float64()), floats)
    values = pc.coalesce(integers, pc.cast(whole, pa.int64()))
    return values, [(bad, reason, template)]


def _to_bool(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """bool from true/false, t/f, yes/no, y/n or 1/0 (any case), or from 0/1 numbers."""
    raw = _plain(raw)
    reason, template = "not true or false", "“{value}” is not true or false."
    if pa.types.is_boolean(raw.type) or pa.types.is_null(raw.type):
        return pc.cast(raw, pa.bool_()), []
    if _is_numeric(raw.type):
        numbers = pc.cast(raw, pa.float64())
        bad = _not_in(numbers, pa.array([0.0, 1.0]))
        values = pc.if_else(pa.array(bad), pa.scalar(None, pa.bool_()), pc.equal(numbers, 1.0))
        return values, [(bad, reason, template)]
    if not pa.types.is_string(raw.type):
        return _not_convertible(raw, pa.bool_(), reason, template)
    text = pc.utf8_lower(_trimmed(raw))
    true = pc.is_in(text, value_set=pa.array(_TRUE))
    false = pc.is_in(text, value_set=pa.array(_FALSE))
    bad = _mask(pc.invert(pc.or_(true, false))) & ~_null_mask(text)
    values = pc.if_else(pc.or_(true, false), true, pa.scalar(None, pa.bool_()))
    return values, [(bad, reason, template)]


def _to_datetime(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """UTC timestamps from ISO 8601 text (date, or date and time with an optional offset)."""
    raw = _plain(raw)
    target = FEATURE_TYPES["datetime"]
    reason = "not a date"
    template = "“{value}” is not a date or time in ISO 8601 form (2026-03-31 14:05:00+02:00)."
    if pa.types.is_timestamp(raw.type) or pa.types.is_date(raw.type) or raw.type == pa.null():
        if pa.types.is_timestamp(raw.type) and raw.type.tz is None:
            raw = pc.cast(raw, pa.timestamp("us"))  # naive values are taken as UTC
        return pc.cast(raw, target), []
    if not pa.types.is_string(raw.type):
        return _not_convertible(raw, target, reason, template)
    text = _trimmed(raw)
    with_offset = pc.fill_null(pc.match_substring_regex(text, _DATETIME_WITH_OFFSET), False)
    naive = pc.fill_null(pc.match_substring_regex(text, _DATETIME), False)
    none = pa.scalar(None, pa.string())
    aware_values, aware_bad = _cast_or_flag(pc.if_else(with_offset, text, none), target)
    naive_values, naive_bad = _cast_or_flag(pc.if_else(naive, text, none), pa.timestamp("us"))
    values = pc.coalesce(aware_values, pc.cast(naive_values, target))
    unmatched = _mask(pc.invert(pc.or_(with_offset, naive))) & ~_null_mask(text)
    return values, [(unmatched | aware_bad | naive_bad, reason, template)]


def _to_binary(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """0/1 int64 from 0/1, true/false (any case) or 0.0/1.0."""
    raw = _plain(raw)
    reason, template = "not 0/1", "“{value}” is not a binary label (0/1 or true/false)."
    if pa.types.is_boolean(raw.type):
        return pc.cast(raw, pa.int64()), []
    if _is_numeric(raw.type) or pa.types.is_null(raw.type):
        numbers = pc.cast(raw, pa.float64())
        bad = _not_in(numbers, pa.array([0.0, 1.0]))
        values = pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), numbers)
        return pc.cast(values, pa.int64()), [(bad, reason, template)]
    if not pa.types.is_string(raw.type):
        return _not_convertible(raw, pa.int64(), reason, template)
    text = pc.utf8_lower(_trimmed(raw))
    one = pc.is_in(text, value_set=pa.array(_LABEL_ONE))
    zero = pc.is_in(text, value_set=pa.array(_LABEL_ZERO))
    bad = _mask(pc.invert(pc.or_(one, zero))) & ~_null_mask(text)
    values = pc.if_else(pc.or_(one, zero), pc.cast(one, pa.int64()), pa.scalar(None, pa.int64()))
    return values, [(bad, reason, template)]


def _to_class(raw: pa.Array) -> tuple[pa.Array, list[Failure]]:
    """Class names as text; blank cells are null."""
    values = _text(raw)
    blank = _blank_mask(values)
    return pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), values), []


_CASTS: dict[str, Callable[[pa.Array], tuple[pa.Array, list[Failure]]]] = {
    "number": _to_float,
    "integer": _to_integer,
    "boolean": _to_bool,
    "datetime": _to_datetime,
}


def _parse_text(text: pa.Array, to: pa.DataType, pattern: str) -> tuple[pa.Array, np.ndarray]:
    """Cast text; on failure, trim, keep what matches `pattern`, and flag the rest."""
    try:
        return pc.cast(text, to), np.zeros(len(text), dtype=bool)
    except pa.ArrowInvalid:
        pass
    text = _trimmed(text)
    matches = pc.fill_null(pc.match_substring_regex(text, pattern), True)
    values, bad = _cast_or_flag(pc.if_else(matches, text, pa.scalar(None, pa.string())), to)
    return values, bad | ~_mask(matches)


def _cast_or_flag(values: pa.Array, to: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast, flagging (and nulling) the values that do not convert.

    A failed cast is bisected to find its culprits: cheap when they are few, which the
    regular expressions in front of it ensure (they already removed the gross failures).
    """
    bad = np.zeros(len(values), dtype=bool)
    try:
        return pc.cast(values, to), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass

    def visit(start: int, length: int) -> None:
        try:
            pc.cast(values.slice(start, length), to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if length == 1:
                bad[start] = True
                return
            half = length // 2
            visit(start, half)
            visit(start + half, length - half)

    visit(0, len(values))
    cleaned = pc.if_else(pa.array(bad), pa.scalar(None, values.type), values)
    return pc.cast(cleaned, to), bad


def _not_convertible(
    raw: pa.Array, to: pa.DataType, reason: str, template: str
) -> tuple[pa.Array, list[Failure]]:
    """A Parquet column of a type that cannot hold these values: every value is a failure."""
    return pa.nulls(len(raw), to), [(~_null_mask(raw), reason, template)]


def _plain(values: pa.Array) -> pa.Array:
    """Dictionary-decoded, with large and view strings as plain strings."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = pc.cast(values, pa.string())
    return values


def _text(values: pa.Array) -> pa.Array:
    """Any column as text (booleans as true/false, numbers as pyarrow writes them)."""
    values = _plain(values)
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_boolean(values.type):
        return pc.if_else(values, "true", "false")
    return pc.cast(values, pa.string())


def _trimmed(text: pa.Array) -> pa.Array:
    """Surrounding whitespace removed; blank cells null."""
    text = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _not_in(values: pa.Array, allowed: pa.Array) -> np.ndarray:
    """Rows holding a value that is not in `allowed` (empty cells are not flagged)."""
    return _mask(pc.invert(pc.is_in(values, value_set=allowed))) & ~_null_mask(values)


def _mask(condition: pa.Array) -> np.ndarray:
    """A boolean array as numpy, null as False."""
    return pc.fill_null(condition, False).to_numpy(zero_copy_only=False)


def _null_mask(values: pa.Array) -> np.ndarray:
    return values.is_null().to_numpy(zero_copy_only=False)


def _blank_mask(text: pa.Array) -> np.ndarray:
    return _mask(pc.or_kleene(text.is_null(), pc.equal(pc.utf8_trim_whitespace(text), "")))


def _any(failures: list[Failure], length: int) -> np.ndarray:
    bad = np.zeros(length, dtype=bool)
    for mask, _, _ in failures:
        bad |= mask
    return bad


def _shown(values: pa.Array | pa.ChunkedArray, index: int) -> str:
    """One cell as the user wrote it, shortened for a message."""
    value = values[int(index)].as_py()
    text = "" if value is None else _plain_text(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _plain_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# --- Shared checks ------------------------------------------------------------------------


def _check_columns(
    names: list[str],
    *,
    required: list[str],
    optional: list[str],
    report: _Report,
    needs: str = "",
) -> None:
    """Refuse the file at once if its header does not match: nothing else is worth reading.

    Each mismatch is a problem of its own; the message sums them up in one sentence.
    `needs` states a requirement the lists cannot ("a prediction or a score column").
    """
    parts = []
    seen = Counter(names)
    twice = [name for name, count in seen.items() if count > 1]
    if twice:
        parts.append(f"repeats the column{_s(len(twice))} {_names(twice)}")
        report.file(f"The header {parts[-1]}.", key="repeated columns")
    missing = [name for name in required if name not in seen]
    if missing:
        parts.append(f"lacks the column{_s(len(missing))} {_names(missing)}")
        report.file(f"The file {parts[-1]}.", key="missing columns", count=len(missing))
    if needs:
        parts.append(needs)
        report.file(f"The file {needs}.", key="missing columns")
    known = set(required) | set(optional)
    extra = [name for name in seen if name not in known]
    if extra:
        expected = ", ".join(required + [f"{name} (optional)" for name in optional])
        parts.append(
            f"has unexpected column{_s(len(extra))} {_names(extra)} (expected: {expected})"
        )
        report.file(f"The file {parts[-1]}.", key="unexpected columns", count=len(extra))
    if parts:
        hint = ""
        if len(names) == 1 and ";" in names[0]:
            hint = " The values seem to be separated by “;”: use commas."
        message = f"The file {', and '.join(parts)}: nothing was stored.{hint}"
        raise TableRejected(message, report.problems, report.counts)


def _names(names: list[str]) -> str:
    return ", ".join(f"“{name}”" for name in names)


def _report_duplicates(ids: pa.Array | pa.ChunkedArray, report: _Report) -> None:
    """Each id used more than once: one problem per id listing its rows; every repeat counts."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    encoded = pc.dictionary_encode(ids)  # one hash pass; nulls stay null, out of the dictionary
    if len(encoded.dictionary) == len(ids) - ids.null_count:
        return
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    counts = np.bincount(codes[codes >= 0])
    rows = np.flatnonzero(np.isin(codes, np.flatnonzero(counts > 1)))
    order = np.argsort(codes[rows], kind="stable")
    rows, row_codes = rows[order], codes[rows][order]
    starts = np.flatnonzero(np.r_[True, row_codes[1:] != row_codes[:-1]])
    repeats = np.ones(len(rows), dtype=bool)
    repeats[starts] = False
    report.count_rows(rows[repeats], key="id: duplicate", count=int(repeats.sum()))
    groups = sorted(np.split(rows, starts[1:]), key=lambda group: group[1])[:MAX_PROBLEMS]
    for group in groups:
        numbers = [report.row_number(int(i)) for i in group]
        shown = ", ".join(str(n) for n in numbers[:10]) + (", …" if len(numbers) > 10 else "")
        report.add(
            Problem(
                numbers[1],
                "id",
                f"The id “{_shown(ids, group[0])}” appears {len(group)} times (rows {shown}).",
            )
        )


# --- Problems -----------------------------------------------------------------------------


class _Report:
    """Problems found so far: the first MAX_PROBLEMS kept, every one counted."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.counts: Counter[str] = Counter()
        self.file_problems = 0
        self._bad_rows: list[np.ndarray] = []  # 0-based indices among the rows read
        self._skipped: list[int] = []  # 1-based rows the CSV reader could not split
        self._full = False

    def row_number(self, index: int) -> int:
        """The 1-based row in the file of the `index`-th row read (0-based)."""
        if not self._skipped:
            return index + 1
        # Rows skipped by the CSV reader shift the later ones: skipped row s_j has
        # s_j - 1 - j rows read before it.
        read_before = np.asarray(self._skipped) - 1 - np.arange(len(self._skipped))
        return index + 1 + int(np.searchsorted(read_before, index, side="right"))

    def rows(
        self,
        offset: int,
        bad: np.ndarray,
        *,
        column: str | None,
        key: str,
        message: Callable[[int], str],
        rule: str | None = None,
        late: bool = False,
    ) -> None:
        """Count the rows flagged in `bad` (a batch starting at `offset`); keep the first."""
        where = np.flatnonzero(bad)
        if not len(where):
            return
        self.counts[key] += len(where)
        self._bad_rows.append(where + offset)
        if self._full and not late:
            return  # later batches only hold later rows than the 100 kept
        for i in where[:MAX_PROBLEMS]:
            self.problems.append(
                Problem(self.row_number(offset + int(i)), column, message(i), rule)
            )

    def count_rows(self, indices: np.ndarray, *, key: str, count: int) -> None:
        self.counts[key] += count
        self._bad_rows.append(indices)

    def skipped_row(self, row: int | None, message: str) -> None:
        """A CSV row that could not be split into the header's columns."""
        self.counts["rows with the wrong number of values"] += 1
        if row is not None:
            self._skipped.append(row)
        if not self._full:
            self.problems.append(Problem(row, None, message))

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def file(
        self,
        message: str,
        *,
        key: str,
        column: str | None = None,
        rule: str | None = None,
        count: int = 1,
    ) -> None:
        """A problem of the whole file (missing columns, a broken max_null_rate rule…)."""
        self.counts[key] += count
        self.file_problems += 1
        self.problems.append(Problem(None, column, message, rule))

    def end_batch(self) -> None:
        self._sort()
        self._full = len(self.problems) >= MAX_PROBLEMS

    def _sort(self) -> None:
        self.problems.sort(key=lambda p: (p.row is not None, p.row or 0))
        del self.problems[MAX_PROBLEMS:]

    @property
    def bad_row_count(self) -> int:
        read = 0
        if self._bad_rows:
            indices = np.concatenate(self._bad_rows)
            flagged = np.zeros(int(indices.max()) + 1, dtype=bool)
            flagged[indices] = True
            read = int(flagged.sum())
        return read + self.counts["rows with the wrong number of values"]

    def raise_if_any(self) -> None:
        if not self.counts:
            return
        self._sort()
        bad, other = self.bad_row_count, self.file_problems
        if bad and other:
            text = f"{bad:,} bad row{_s(bad)} and {other} other problem{_s(other)}"
        elif bad:
            text = f"{bad:,} bad row{_s(bad)}"
        elif other == 1:
            only = self.problems[0].message.rstrip(".")
            raise TableRejected(f"{only}: nothing was stored.", self.problems, self.counts)
        else:
            text = f"{other} problems"
        raise TableRejected(f"The file has {text}: nothing was stored.", self.problems, self.counts)


# --- Opening files ------------------------------------------------------------------------


@dataclass
class _Reader:
    columns: list[str]
    batches: Callable[[], Iterator[tuple[int, dict[str, pa.Array]]]]


def _open(
    source: BinaryIO, filename: str, *, max_rows: int, max_bytes: int, report: _Report
) -> _Reader:
    """The file's column names and a generator of (offset, {column: array}) batches.

    Refuses files of unknown type, larger than `max_bytes` or with more than `max_rows`
    rows, raising as soon as the size or the row count shows it (before reading if it can).
    """
    kind = file_format(filename)
    size = _size(source)
    if size is not None and size > max_bytes:
        raise TableRejected(_too_large(max_bytes), limit_exceeded=True)
    if size == 0:
        raise TableRejected("The file has no data rows.")
    if kind == "parquet":
        return _open_parquet(source, max_rows=max_rows, max_bytes=max_bytes)
    gzipped = kind == "csv.gz"
    return _open_csv(source, gzipped=gzipped, max_rows=max_rows, max_bytes=max_bytes, report=report)


def _size(source: BinaryIO) -> int | None:
    """Bytes left to read, when the source can tell without reading."""
    size = getattr(source, "size", None)  # Django's UploadedFile
    if isinstance(size, int):
        return size
    try:
        start = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(start)
    except (AttributeError, OSError, ValueError):
        return None
    return end - start


def _too_large(max_bytes: int, what: str = "") -> str:
    limit = _bytes_text(max_bytes)
    return f"The file is larger than {limit}{what}, the limit: nothing was stored."


def _too_many_rows(max_rows: int, rows: int | None = None) -> str:
    if rows is None:
        return f"The file has more than {max_rows:,} rows, the limit: nothing was stored."
    return f"The file has {rows:,} rows, more than the limit of {max_rows:,}: nothing was stored."


def _bytes_text(count: int) -> str:
    for unit, size in (("MB", 1024**2), ("KB", 1024)):
        if count >= size and count % size == 0:
            return f"{count // size:,} {unit}"
    return f"{count:,} bytes"


class _CappedStream:
    """A read-only stream over `raw` that refuses to pass more than `limit` bytes.

    `prefix` holds bytes already taken from `raw` (the header we peeked at); they count.
    """

    closed = False

    def __init__(self, raw, limit: int, *, what: str = "", prefix: bytes = b"") -> None:
        self._raw, self._limit, self._what = raw, limit, what
        self._prefix = prefix
        self._count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._prefix:
            data = self._prefix if size is None or size < 0 else self._prefix[:size]
            self._prefix = self._prefix[len(data) :]
            return data
        wanted = self._limit + 1 - self._count  # never read more than one byte past the limit
        if size is not None and 0 <= size < wanted:
            wanted = size
        data = self._raw.read(max(wanted, 1))
        self._count += len(data)
        if self._count > self._limit:
            raise TableRejected(_too_large(self._limit, self._what), limit_exceeded=True)
        return data

    def peek_line(self) -> bytes:
        """The first line (read ahead and kept as prefix for later reads)."""
        buffer = b""
        while b"\n" not in buffer and len(buffer) < MAX_HEADER_BYTES:
            chunk = self.read(64 * 1024)
            if not chunk:
                break
            buffer += chunk
        self._prefix = buffer + self._prefix
        return buffer.split(b"\n", 1)[0]


def _open_csv(
    source: BinaryIO, *, gzipped: bool, max_rows: int, max_bytes: int, report: _Report
) -> _Reader:
    stream = _CappedStream(source, max_bytes)
    if gzipped:
        stream = _CappedStream(gzip.GzipFile(fileobj=stream), max_bytes, what=" uncompressed")
    try:
        first_line = stream.peek_line()
    except (OSError, EOFError, zlib.error):
        raise TableRejected("The file is not valid gzip: nothing was stored.") from None
    try:
        header = first_line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise TableRejected("The file is not UTF-8 text: nothing was stored.") from None
    if not header.strip():
        raise TableRejected("The file has no data rows.")
    names = next(csv.reader([header]))
    if any(not name.strip() for name in names):
        raise TableRejected("The header has a column without a name: nothing was stored.")
    return _Reader(names, lambda: _csv_batches(stream, names, max_rows, report))


def _csv_batches(
    stream: _CappedStream, names: list[str], max_rows: int, report: _Report
) -> Iterator[tuple[int, dict[str, pa.Array]]]:
    def skip(row: pv.InvalidRow) -> str:
        # row.number is the physical line (the header is line 1), known single-threaded.
        number = row.number - 1 if row.number is not None and row.number > 0 else None
        report.skipped_row(
            number,
            f"The row has {row.actual_columns} value{_s(row.actual_columns)} where the "
            f"header has {row.expected_columns}.",
        )
        return "skip"

    try:
        reader = pv.open_csv(
            pa.PythonFile(stream, mode="r"),
            # One thread: it reads as fast here (the casts dominate) and keeps row numbers.
            read_options=pv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
            parse_options=pv.ParseOptions(invalid_row_handler=skip),
            convert_options=pv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
        if reader.schema.names != names or any(t != pa.string() for t in reader.schema.types):
            raise TableRejected("The file's header could not be read: nothing was stored.")
        offset = 0
        for batch in reader:
            if offset + batch.num_rows > max_rows:
                raise TableRejected(_too_many_rows(max_rows), limit_exceeded=True)
            yield offset, dict(zip(names, batch.columns, strict=True))
            offset += batch.num_rows
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            raise TableRejected("The file has no data rows.") from None
        detail = str(error).split("\n")[0]
        raise TableRejected(
            f"The file could not be read as CSV (UTF-8, comma-separated, a header line): {detail}."
        ) from None
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, TableRejected):
            raise
        raise TableRejected(f"The file could not be read: {error}.") from None


def _open_parquet(source: BinaryIO, *, max_rows: int, max_bytes: int) -> _Reader:
    if not _seekable(source):
        # Parquet keeps its footer at the end: a stream must be read whole (within the limit).
        source = io.BytesIO(_CappedStream(source, max_bytes).read())
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
        raise TableRejected(
            f"The file could not be read as Parquet: {str(error).splitlines()[0]}."
        ) from None
    rows = parquet.metadata.num_rows
    if rows > max_rows:
        raise TableRejected(_too_many_rows(max_rows, rows), limit_exceeded=True)
    schema = parquet.schema_arrow
    unreadable = [
        f"“{f.name}” ({f.type})"
        for f in schema
        if not any(test(_value_type(f.type)) for test in _READABLE_PARQUET_TYPES)
    ]
    if unreadable:
        raise TableRejected(
            f"The file has columns of types that hold no single value: {', '.join(unreadable)}."
        )
    names = schema.names

    def batches() -> Iterator[tuple[int, dict[str, pa.Array]]]:
        offset = 0
        try:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                yield offset, dict(zip(names, batch.columns, strict=True))
                offset += batch.num_rows
        except (pa.ArrowInvalid, OSError) as error:
            raise TableRejected(
                f"The file could not be read as Parquet: {str(error).splitlines()[0]}."
            ) from None

    return _Reader(names, batches)


def _value_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _seekable(source: BinaryIO) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()
