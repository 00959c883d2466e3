"""The reference a version's live days are compared with, per feature and for the
prediction: its fixed bins (monitoring/drift.py), its histogram over them, and for numbers a
bounded sample for the Kolmogorov–Smirnov test.

Two sources (issue 14, item 3):

- `reference_from_dataset`: a holdout dataset (by default the dataset of the version's last
  succeeded evaluation, `default_reference`), read back from its Parquet file, only the
  needed columns; the prediction and score from the version's predictions on that dataset;
- `reference_from_window`: a window of the version's own prediction log that the owner
  picks, read with the same queries as a live day (monitoring/services/log_reads.py).

Building one reads the dataset or the window once; the daily job may cache it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from monitoring.drift import (
    KS_SAMPLE_SIZE,
    CategoryBins,
    Histogram,
    NumericBins,
    bounded_sample,
    category_bins,
    category_histogram,
    numeric_bins,
    numeric_histogram,
)
from monitoring.services.log_reads import (
    CATEGORICAL,
    NUMERIC,
    SCORE_COLUMN,
    Column,
    feature_column,
    prediction_column,
    read_log,
)
from portal.errors import DomainError
from registry.models import (
    Evaluation,
    EvaluationDataset,
    ModelVersion,
    PredictionSet,
    StoredTable,
)
from tables.io import load_table


class NoReference(DomainError):
    default_code = "no_reference"


@dataclass(frozen=True)
class FeatureReference:
    """One column's reference: bins, counts over them, and (numbers) a bounded sample."""

    column: Column
    bins: NumericBins | CategoryBins
    histogram: Histogram
    sample: np.ndarray | None = None


@dataclass(frozen=True)
class Reference:
    """Every column's reference, in the order day_drift reports them; `source` says where it
    comes from ("dataset 12", "window 2026-01-01T00:00:00+00:00 – …")."""

    features: tuple[FeatureReference, ...]
    source: str

    @property
    def columns(self) -> list[Column]:
        return [f.column for f in self.features]


def schema_columns(use_case) -> list[Column]:
    """The use case's schema features that have drift (numbers and categories), then the
    prediction."""
    columns = [feature_column(str(f["name"]), str(f["type"])) for f in use_case.feature_schema]
    return [c for c in columns if c is not None] + [prediction_column(use_case.task_type)]


def default_reference(version: ModelVersion) -> Reference:
    """The reference dataset of the version's last succeeded evaluation."""
    evaluation = (
        Evaluation.objects.filter(model_version=version, status=Evaluation.Status.SUCCEEDED)
        .select_related("dataset")
        .order_by("-finished_at", "-pk")
        .first()
    )
    if evaluation is None:
        raise NoReference(
            f"Version {version.version} has no succeeded evaluation: pick a reference window "
            "of its prediction log instead."
        )
    return reference_from_dataset(
        evaluation.dataset, version=version, threshold=evaluation.threshold
    )


# A dataset


def reference_from_dataset(
    dataset: EvaluationDataset,
    *,
    version: ModelVersion | None = None,
    threshold: float | None = None,
) -> Reference:
    """The reference from a dataset's rows: each schema feature from its column (a feature
    the dataset lacks has no values), the prediction (and score) from `version`'s prediction
    set on the dataset, empty without one. Binary predictions missing from the set are the
    score at `threshold` (default: the use case's decision threshold)."""
    use_case = dataset.use_case
    columns = schema_columns(use_case)
    table = _read_columns(dataset.table_id, [c.key for c in columns if c.key])
    predicted = _prediction_table(version, dataset)
    if predicted is not None and "score" in predicted.column_names and use_case.is_classification:
        columns.append(SCORE_COLUMN)
    if threshold is None:
        threshold = use_case.decision_threshold
    features = []
    for column in columns:
        if column.field == "features":
            values = table.column(column.key) if column.key in table.column_names else None
            rows = dataset.row_count
        elif predicted is None:
            values, rows = None, 0
        else:
            values = _predicted_values(predicted, column, use_case.task_type, threshold)
            rows = predicted.num_rows
        features.append(_from_values(column, values, rows))
    name = f"dataset {dataset.pk}" + (f", version {version.version}" if version else "")
    return Reference(tuple(features), name)


def _read_columns(table_id: int, names: list[str]) -> pa.Table:
    """Only the `names` that the stored table has (one query, one Parquet read)."""
    parquet = bytes(StoredTable.objects.values_list("parquet", flat=True).get(pk=table_id))
    present = set(pq.read_schema(pa.BufferReader(parquet)).names)
    return load_table(parquet, columns=[n for n in dict.fromkeys(names) if n in present])


def _prediction_table(version, dataset) -> pa.Table | None:
    if version is None:
        return None
    table_id = (
        PredictionSet.objects.filter(model_version=version, dataset=dataset)
        .values_list("table_id", flat=True)
        .first()
    )
    if table_id is None:
        return None
    return _read_columns(table_id, ["prediction", "score"])


def _predicted_values(table: pa.Table, column: Column, task_type: str, threshold: float):
    if column.field == "score":
        return table.column("score")
    prediction = table.column("prediction") if "prediction" in table.column_names else None
    if task_type == "binary" and "score" in table.column_names:
        from_score = pc.cast(pc.greater_equal(table.column("score"), threshold), pa.int64())
        prediction = from_score if prediction is None else pc.coalesce(prediction, from_score)
    return prediction


def _from_values(column: Column, values, rows: int) -> FeatureReference:
    """A column's reference from its values (an Arrow array, or None: no values at all)."""
    if column.kind == NUMERIC:
        x = np.full(rows, np.nan) if values is None else _floats(values)
        bins = numeric_bins(x)
        return FeatureReference(
            column, bins, numeric_histogram(x, bins), bounded_sample(x, KS_SAMPLE_SIZE)
        )
    counts = {None: rows} if values is None else _text_counts(values)
    bins = category_bins(counts)
    return FeatureReference(column, bins, category_histogram(counts, bins))


def _floats(values) -> np.ndarray:
    floats = pc.fill_null(pc.cast(values, pa.float64()), float("nan"))
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=float)


def _text_counts(values) -> dict[str | None, int]:
    """Counts per category as text, nulls under None: booleans as "true"/"false" and
    integers in decimal, as the log's JSON reads in SQL."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        values = pc.cast(values, kind.value_type)
    if pa.types.is_boolean(values.type):
        values = pc.if_else(values, "true", "false")
    elif not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    counts: dict[str | None, int] = {}
    for item in pc.value_counts(values).to_pylist():
        counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
    return counts


# A window of the log


def reference_from_window(
    version: ModelVersion, start: datetime.datetime, end: datetime.datetime
) -> Reference:
    """The reference from the version's own predictions with start ≤ predicted_at < end.

    Categories are counted exactly. Numbers are cut at the quantiles of the window's KS
    sample (the KS_SAMPLE_SIZE rows with the smallest random_key: all of them in a window
    up to that size), then counted exactly over those bins. Two reads of the window."""
    if end <= start:
        raise NoReference("The reference window must end after it starts.", field="end")
    use_case = version.use_case
    columns = schema_columns(use_case)
    if use_case.is_classification:
        columns.append(SCORE_COLUMN)
    numeric = [c for c in columns if c.kind == NUMERIC]
    categorical = [c for c in columns if c.kind == CATEGORICAL]
    first = read_log(version.pk, start, end, categorical=categorical, sample=numeric)
    cuts = {c.name: numeric_bins(first.samples[c.name]) for c in numeric}
    second = read_log(version.pk, start, end, numeric=[(c, cuts[c.name]) for c in numeric])
    features = []
    for column in columns:
        if column.kind == NUMERIC:
            sample = first.samples[column.name]
            if column is SCORE_COLUMN and not sample.size:
                continue  # no scores logged: no score drift
            reference = FeatureReference(
                column, cuts[column.name], second.histograms[column.name], sample
            )
        else:
            counts = first.category_counts[column.name]
            bins = category_bins(counts)
            reference = FeatureReference(column, bins, category_histogram(counts, bins))
        features.append(reference)
    return Reference(tuple(features), f"window {start.isoformat()} – {end.isoformat()}")
