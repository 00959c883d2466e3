"""Uploaded tables, read and checked with pyarrow + numpy: no models, no Django.

- `tables.io`: opening files (CSV, gzipped CSV, Parquet) as batches within the size and row
  limits (`open_table`, `TableReader`, `file_format`), and stored Parquet in and out
  (`parquet_bytes`, `load_table`).
- `tables.casts`: the vectorised casts from text to each feature type (`to_float`,
  `to_integer`, `to_bool`, `to_datetime`; `to_binary` and `to_class` for labels), each
  returning its `Failure`s; `FEATURE_TYPES`, and the mask and cell-text helpers.
- `tables.rules`: data-quality rules (`RuleSpec`) and their checks (`RuleChecks`).
- `tables.report`: what is wrong with a file: `Problem`, the `Report` that collects them
  while it streams, and `TableRejected`, the refusal (a 400 or, for size alone, a 413).

What the columns of a dataset or of a predictions file mean (ids, labels, task types) is
the registry's: registry/uploads.py.
"""
