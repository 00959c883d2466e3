"""Reading and validating uploaded tables: evaluation datasets and a version's predictions.

Pure pyarrow + numpy, no ORM: the registry services call `read_dataset()` or
`read_predictions()`, store `to_parquet()` only when no `TableRejected` was raised, and
evaluations read the blobs back with `tables.io.load_table()`.

This module knows what the columns mean (ids, features, labels, predictions, scores and
class probabilities, per task type); opening files, casting values, checking rules and
reporting problems are the `tables` package's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tables.casts import (
    CASTS,
    FEATURE_TYPES,
    any_failed,
    as_text,
    blank_mask,
    mask,
    not_in,
    null_mask,
    shown,
    to_binary,
    to_class,
    to_float,
)
from tables.io import MAX_BYTES, MAX_ROWS, open_table, parquet_bytes
from tables.report import MAX_PROBLEMS, Problem, Report, TableRejected, plural_s
from tables.rules import RuleChecks, RuleSpec
from usecases.catalogue import TaskType

HISTOGRAM_BINS = 30
PROBABILITY_SUM_TOLERANCE = 0.01

TASK_TYPES = tuple(TaskType.values)
LABEL_TYPES: dict[str, pa.DataType] = {
    "regression": pa.float64(),
    "binary": pa.int64(),
    "multiclass": pa.string(),
}
PROBA_PREFIX = "proba_"


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
    # Its distinct non-blank segments, sorted, at most MAX_SEGMENTS_KEPT.
    segments: list[str]
    label_summary: dict
    # [{"rule", "field", "summary", "severity", "violations", "checked"}] for every rule;
    # checked is False when the rule's field is not a column of the dataset.
    rule_violations: list[dict]

    def to_parquet(self) -> bytes:
        """The table as a zstd-compressed Parquet file, ready for StoredTable."""
        return parquet_bytes(self.table)


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
        return parquet_bytes(self.table)


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
    report = Report()
    reader = open_table(source, filename, max_rows=max_rows, max_bytes=max_bytes, report=report)
    _check_columns(
        reader.columns,
        required=["id", *(name for name, _ in features), "label"],
        optional=["segment"],
        report=report,
    )
    has_segment = "segment" in reader.columns
    schema = _dataset_schema(features, task_type, has_segment)
    checks = RuleChecks(rules, schema)

    batches: list[pa.RecordBatch] = []
    for offset, raw in reader.batches():
        columns, nulls = _dataset_columns(raw, features, task_type, has_segment, offset, report)
        checks.check_batch(offset, columns, nulls, report)
        batches.append(pa.RecordBatch.from_arrays(list(columns.values()), schema=schema))
        report.end_batch()

    row_count = _row_count(batches, report)
    table = pa.Table.from_batches(batches, schema=schema)
    _report_duplicates(table.column("id"), report)
    checks.check_file(row_count, report)
    if task_type != "regression":
        _check_classes(table.column("label"), task_type, report)
    report.raise_if_any()

    table = _encode_categories(table, features)
    return DatasetTable(
        table=table,
        row_count=row_count,
        columns=table.column_names,
        has_segment=has_segment,
        segments=distinct_segments(table) if has_segment else [],
        label_summary=label_summary(table.column("label"), task_type),
        rule_violations=checks.summary(),
    )


MAX_SEGMENTS_KEPT = 1000


def distinct_segments(table: pa.Table) -> list[str]:
    """The segment column's distinct non-blank values, sorted (a KPI's segment is chosen
    from them); at most MAX_SEGMENTS_KEPT."""
    values = pc.unique(table.column("segment").cast(pa.string())).to_pylist()
    return sorted(v for v in values if v and v.strip())[:MAX_SEGMENTS_KEPT]


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


def _dataset_schema(
    features: list[tuple[str, str]], task_type: str, has_segment: bool
) -> pa.Schema:
    """The columns of each batch as read: categories are text until the whole file is in."""
    out_types = {"id": pa.string()}
    out_types.update({name: _batch_type(FEATURE_TYPES[kind]) for name, kind in features})
    out_types["label"] = LABEL_TYPES[task_type]
    if has_segment:
        out_types["segment"] = pa.string()
    return pa.schema(list(out_types.items()))


def _batch_type(stored: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_dictionary(stored) else stored


def _dataset_columns(
    raw: dict[str, pa.Array],
    features: list[tuple[str, str]],
    task_type: str,
    has_segment: bool,
    offset: int,
    report: Report,
) -> tuple[dict[str, pa.Array], dict[str, np.ndarray]]:
    """One batch's columns typed (bad values null and reported) and their empty cells."""
    columns: dict[str, pa.Array] = {}
    nulls: dict[str, np.ndarray] = {}
    columns["id"], nulls["id"] = _required_text(raw["id"], "id", offset, report)
    for name, kind in features:
        columns[name], nulls[name] = _feature(raw[name], kind, name, offset, report)
    columns["label"], nulls["label"] = _label(raw["label"], task_type, offset, report)
    if has_segment:
        columns["segment"] = as_text(raw["segment"])
        nulls["segment"] = null_mask(columns["segment"])
    return columns, nulls


def _encode_categories(table: pa.Table, features: list[tuple[str, str]]) -> pa.Table:
    """Category features dictionary-encoded, one dictionary per column for the whole file.

    The other columns keep their batches as chunks: combining them would copy the whole
    table (up to 200 MB of text) just before it is written (issue 10: peak memory).
    """
    categories = [name for name, kind in features if kind == "category"]
    for name in categories:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.dictionary_encode(table.column(name)))
    table = table.unify_dictionaries()
    for name in categories:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).combine_chunks())
    return table


def _feature(
    raw: pa.Array, kind: str, name: str, offset: int, report: Report
) -> tuple[pa.Array, np.ndarray]:
    """The column cast to the feature's type (bad values null) and its mask of empty cells."""
    if kind in ("string", "category"):
        values = as_text(raw)
        return values, null_mask(values)
    values, failures = CASTS[kind](raw)
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column=name,
            key=f"{name}: {reason}",
            message=lambda i, t=template: t.format(value=shown(raw, i)),
        )
    return values, null_mask(values) & ~any_failed(failures, len(raw))


def _label(
    raw: pa.Array, task_type: str, offset: int, report: Report
) -> tuple[pa.Array, np.ndarray]:
    """The label typed by the task type; bad and empty labels are row problems."""
    if task_type == "regression":
        values, failures = to_float(raw)
    elif task_type == "binary":
        values, failures = to_binary(raw)
    else:
        values, failures = to_class(raw)
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column="label",
            key=f"label: {reason}",
            message=lambda i, t=template: t.format(value=shown(raw, i)),
        )
    empty = null_mask(values) & ~any_failed(failures, len(raw))
    report.rows(
        offset, empty, column="label", key="label: empty", message=lambda i: "The label is empty."
    )
    return values, empty


def _required_text(
    raw: pa.Array, name: str, offset: int, report: Report
) -> tuple[pa.Array, np.ndarray]:
    """A text column that may not be empty (ids): empty cells are row problems."""
    values = as_text(raw)
    empty = blank_mask(values)
    report.rows(
        offset, empty, column=name, key=f"{name}: empty", message=lambda i: f"The {name} is empty."
    )
    return values, empty


def _check_classes(labels: pa.ChunkedArray, task_type: str, report: Report) -> None:
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
    dataset_ids = as_text(dataset_ids)
    report = Report()
    reader = open_table(source, filename, max_rows=max_rows, max_bytes=max_bytes, report=report)
    names = reader.columns
    proba_columns, proba_classes = _check_prediction_header(names, task_type, classes, report)
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

    row_count = _row_count(batches, report)
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


def disagreeing_rows(parsed: PredictionTable, threshold: float) -> int | None:
    """Binary predictions with both a 0/1 prediction and a score: how many rows' prediction
    is not what the score gives at `threshold` (score ≥ threshold is 1). Evaluations classify
    by the score, so these rows' prediction column is not used. None without both columns
    (rows missing either value are not counted)."""
    if not (parsed.has_prediction and parsed.has_score):
        return None
    table = parsed.table
    if table.schema.field("prediction").type != LABEL_TYPES["binary"]:
        return None
    from_score = pc.greater_equal(table.column("score"), threshold)  # null where no score
    differs = pc.not_equal(pc.cast(table.column("prediction"), pa.bool_()), from_score)
    return pc.sum(pc.cast(differs, pa.int64())).as_py() or 0  # nulls (a value missing) skipped


def _check_prediction_header(
    names: list[str], task_type: str, classes: list[str] | None, report: Report
) -> tuple[list[str], list[str]]:
    """Refuse a header that does not fit the task type; else the proba_ columns and classes."""
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
    return proba_columns, proba_classes


def _prediction(
    raw: pa.Array, task_type: str, allowed: pa.Array | None, offset: int, report: Report
) -> pa.Array:
    if task_type == "regression":
        values, failures = to_float(raw)
    elif task_type == "binary":
        values, failures = to_binary(raw)
        hint = "“{value}” is not 0/1 or true/false (probabilities go in a “score” column)."
        failures = [(bad, reason, hint) for bad, reason, _ in failures]
    else:
        values, failures = to_class(raw)
        if allowed is not None:
            unknown = not_in(values, allowed)
            failures.append((unknown, "not a known class", "“{value}” is not one of the classes."))
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column="prediction",
            key=f"prediction: {reason}",
            message=lambda i, t=template: t.format(value=shown(raw, i)),
        )
    empty = null_mask(values) & ~any_failed(failures, len(raw))
    report.rows(
        offset,
        empty,
        column="prediction",
        key="prediction: empty",
        message=lambda i: "The prediction is empty.",
    )
    return values


def _probability(raw: pa.Array, name: str, offset: int, report: Report) -> pa.Array:
    """A probability column: numbers in [0, 1], never empty."""
    values, failures = to_float(raw)
    outside = mask(pc.or_(pc.less(values, 0.0), pc.greater(values, 1.0)))
    failures.append((outside, "not between 0 and 1", "{value} is not between 0 and 1."))
    for bad, reason, template in failures:
        report.rows(
            offset,
            bad,
            column=name,
            key=f"{name}: {reason}",
            message=lambda i, t=template: t.format(value=shown(raw, i)),
        )
    empty = null_mask(values) & ~any_failed(failures, len(raw))
    report.rows(
        offset, empty, column=name, key=f"{name}: empty", message=lambda i: f"The {name} is empty."
    )
    return values


def _check_probability_sums(columns: list[pa.Array], offset: int, report: Report) -> None:
    total = np.sum([c.to_numpy(zero_copy_only=False) for c in columns], axis=0)
    off = np.abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE  # NaN (a bad cell) compares False
    report.rows(
        offset,
        off,
        column=None,
        key=f"{PROBA_PREFIX}*: do not add up to 1",
        message=lambda i: f"The class probabilities add up to {total[i]:.3g}, not 1.",
    )


def _match_ids(file_ids: pa.Array, dataset_ids: pa.Array, report: Report) -> np.ndarray:
    """Each file row's position in the dataset (-1 if not there); reports extra and missing."""
    positions = pc.fill_null(pc.index_in(file_ids, value_set=dataset_ids), -1)
    positions = positions.to_numpy(zero_copy_only=False).astype(np.int64)
    extra = (positions < 0) & ~null_mask(file_ids)
    report.rows(
        0,
        extra,
        column="id",
        key="id: not in the dataset",
        message=lambda i: f"The id “{shown(file_ids, i)}” is not in the dataset.",
        late=True,
    )
    found = np.bincount(positions[positions >= 0], minlength=len(dataset_ids))
    missing = np.flatnonzero(found == 0)
    if len(missing):
        examples = ", ".join(f"“{shown(dataset_ids, i)}”" for i in missing[:5])
        more = ", …" if len(missing) > 5 else ""
        report.file(
            f"{len(missing):,} id{plural_s(len(missing))} of the dataset "
            f"{'have' if len(missing) > 1 else 'has'} no prediction: {examples}{more}.",
            key="id: missing from the file",
            column="id",
            count=len(missing),
        )
    return positions


# --- Shared checks ------------------------------------------------------------------------


def _row_count(batches: list[pa.RecordBatch], report: Report) -> int:
    """The rows read; a file without any is refused."""
    row_count = sum(batch.num_rows for batch in batches)
    if row_count == 0:
        report.raise_if_any()  # rows that could not be split are rows, with problems
        raise TableRejected("The file has no data rows.")
    return row_count


def _check_columns(
    names: list[str],
    *,
    required: list[str],
    optional: list[str],
    report: Report,
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
        parts.append(f"repeats the column{plural_s(len(twice))} {_names(twice)}")
        report.file(f"The header {parts[-1]}.", key="repeated columns")
    missing = [name for name in required if name not in seen]
    if missing:
        parts.append(f"lacks the column{plural_s(len(missing))} {_names(missing)}")
        report.file(f"The file {parts[-1]}.", key="missing columns", count=len(missing))
    if needs:
        parts.append(needs)
        report.file(f"The file {needs}.", key="missing columns")
    known = set(required) | set(optional)
    extra = [name for name in seen if name not in known]
    if extra:
        expected = ", ".join(required + [f"{name} (optional)" for name in optional])
        parts.append(
            f"has unexpected column{plural_s(len(extra))} {_names(extra)} (expected: {expected})"
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


def _report_duplicates(ids: pa.Array | pa.ChunkedArray, report: Report) -> None:
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
        shown_rows = ", ".join(str(n) for n in numbers[:10]) + (", …" if len(numbers) > 10 else "")
        report.add(
            Problem(
                numbers[1],
                "id",
                f"The id “{shown(ids, group[0])}” appears {len(group)} times (rows {shown_rows}).",
            )
        )
