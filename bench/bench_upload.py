"""Parse and validate uploads of 1,000,000 rows: an evaluation dataset and its predictions.

Method: a generated regression dataset (id, 6 features of every type but datetime, label,
segment with 20 values: 9 columns) and three data-quality rules (a range, a not-null and
an allowed-values rule), written as CSV and as Parquet in a temporary folder, then read
back from disk with `registry.uploads.read_dataset()` as an upload would be: streamed,
cast and checked per batch, duplicate ids looked for, label summary computed. The
predictions file (id, prediction) lists the rows in a shuffled order, so the timing of
`read_predictions()` includes aligning them to the dataset's order. Storing is excluded,
`to_parquet()` is timed apart. Best of 3 runs each; rows/s = rows / best time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry import uploads  # noqa: E402
from tables import rules  # noqa: E402

ROWS = 1_000_000
RUNS = 3
SCHEMA = [
    {"name": "age", "type": "integer"},
    {"name": "income", "type": "number"},
    {"name": "tenure", "type": "number"},
    {"name": "city", "type": "category"},
    {"name": "plan", "type": "string"},
    {"name": "active", "type": "boolean"},
]
RULES = [
    rules.RuleSpec(1, "age", "range", {"min": 0, "max": 120}, "error", "age between 0 and 120"),
    rules.RuleSpec(2, "income", "not_null", {}, "warning", "income never empty"),
    rules.RuleSpec(
        3, "city", "allowed_values", {"values": ["paris", "lyon", "nice", "lille"]}, "error", ""
    ),
]


def generate(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    ids = pa.array(np.char.add("row-", np.arange(ROWS).astype(str)))
    income = np.round(rng.normal(50_000, 12_000, ROWS), 2)
    dataset = pa.table(
        {
            "id": ids,
            "age": pa.array(rng.integers(18, 90, ROWS)),
            "income": pa.array(income, mask=rng.random(ROWS) < 0.01),
            "tenure": pa.array(np.round(rng.exponential(4.0, ROWS), 3)),
            "city": pa.array(rng.choice(["paris", "lyon", "nice", "lille"], ROWS)),
            "plan": pa.array(rng.choice(["basic", "plus", "pro"], ROWS)),
            "active": pa.array(rng.random(ROWS) < 0.7),
            "label": pa.array(np.round(rng.normal(120, 30, ROWS), 3)),
            "segment": pa.array(rng.choice([f"store-{i:02d}" for i in range(20)], ROWS)),
        }
    )
    order = rng.permutation(ROWS)
    predictions = pa.table(
        {
            "id": ids.take(pa.array(order)),
            "prediction": pa.array(np.round(rng.normal(120, 30, ROWS), 3)),
        }
    )
    paths = {
        "dataset.csv": folder / "dataset.csv",
        "dataset.parquet": folder / "dataset.parquet",
        "predictions.csv": folder / "predictions.csv",
    }
    pv.write_csv(dataset, paths["dataset.csv"])
    pq.write_table(dataset, paths["dataset.parquet"])
    pv.write_csv(predictions, paths["predictions.csv"])
    return paths


def best_of(function) -> tuple[float, object]:
    times, result = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def read(path: Path) -> uploads.DatasetTable:
    with path.open("rb") as source:
        return uploads.read_dataset(
            source,
            filename=path.name,
            feature_schema=SCHEMA,
            task_type="regression",
            rules=RULES,
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = generate(Path(folder))
        for name in ("dataset.csv", "dataset.parquet"):
            size_mb = paths[name].stat().st_size / 1024**2
            seconds, parsed = best_of(lambda name=name: read(paths[name]))
            print(
                f"{name:<16} {ROWS:,} rows, {size_mb:5.1f} MB: {seconds:.2f} s, "
                f"{ROWS / seconds:,.0f} rows/s"
            )
        seconds, blob = best_of(parsed.to_parquet)
        print(f"to_parquet       {len(blob) / 1024**2:5.1f} MB zstd: {seconds:.2f} s")
        ids = parsed.table.column("id")

        def predictions() -> uploads.PredictionTable:
            with paths["predictions.csv"].open("rb") as source:
                return uploads.read_predictions(
                    source, filename="predictions.csv", dataset_ids=ids, task_type="regression"
                )

        size_mb = paths["predictions.csv"].stat().st_size / 1024**2
        seconds, _ = best_of(predictions)
        print(
            f"predictions.csv  {ROWS:,} rows, {size_mb:5.1f} MB: {seconds:.2f} s, "
            f"{ROWS / seconds:,.0f} rows/s (shuffled, aligned to the dataset)"
        )


if __name__ == "__main__":
    main()
