"""Opening uploaded files (CSV, gzipped CSV, Parquet) as streams of batches, within limits.

Files are validated as they stream. CSV is read with `pyarrow.csv.open_csv` in blocks, every
column as text (tables.casts types it per batch, so each bad value gets its row number);
Parquet is read with `ParquetFile.iter_batches` after its footer says how many rows it
holds. Sizes are checked before reading (when the source can tell) and while reading, so a
1 GB upload is refused after 200 MB, not after it was loaded.

A small Parquet file can hold far more than it weighs: 200,000 copies of one 10,000-character
value, dictionary-encoded, is a 320 KB file and 2 GB once decoded (issue 10). So the bytes
the values take once decoded are counted too, with the same 200 MB limit as an uncompressed
CSV file. Before any batch is read, the footer bounds each column (uncompressed sizes,
min/max statistics) and a dictionary-encoded text column is bounded by its rows times its
widest dictionary value (the dictionary is read alone); when that is not enough, its exact
size is summed from its dictionary and indices, still without decoding it. Then each batch
is measured again as it is read. No value may be wider than MAX_VALUE_BYTES, and no batch
handed on takes more than MAX_BATCH_BYTES.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from tables.report import Problem, Report, TableRejected, plural_s

MAX_ROWS = 1_000_000
# The file as uploaded, a CSV file uncompressed, and every file's values once decoded: the
# default for callers without settings (the bench, tests); the registry's services pass
# settings.MAX_UPLOAD_BYTES, the one limit of the portal.
MAX_BYTES = 200 * 1024**2
# One cell, in UTF-8 bytes: a spreadsheet cell holds 32,767 characters; no id, class or
# feature value needs more, and a dictionary bomb's values are found by it (issue 10).
MAX_VALUE_BYTES = 32 * 1024
# What one batch's values take once decoded, at most: a batch of wider rows is cut in
# slices, so the casts (a few copies of a batch) stay within a few times this.
MAX_BATCH_BYTES = 32 * 1024**2
# CSV blocks of 4 MiB hold ~50,000 rows of a typical file: few enough batches that the
# per-batch Python work is negligible, small enough that memory stays flat.
CSV_BLOCK_BYTES = 4 * 1024**2
# Parquet batches of 16,384 rows at most, fewer when the footer says rows are wide: a batch
# is decoded before it can be measured, so it is kept small (the footer bounds the rest).
PARQUET_BATCH_ROWS = 16_384
# Row groups: up to FEW_ROW_GROUPS of any size; more only if they hold MIN_GROUP_ROWS rows
# on average (at most 1,000 groups then, within MAX_ROWS). Writers make groups of 64 Ki to
# 1 Mi rows, or of 128 MB, by default.
FEW_ROW_GROUPS = 100
MIN_GROUP_ROWS = 1_000
# Row groups times columns: 20,000 are checked in about a second (100 groups of 200 columns).
MAX_COLUMN_CHUNKS = 20_000
# Decoded bytes of a text cell besides its characters: its offset in the column.
_OFFSET_BYTES = 4
_DICTIONARY_ENCODINGS = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
# A header line longer than this is not a header (or not a CSV file).
MAX_HEADER_BYTES = 1024**2
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


def parquet_bytes(table: pa.Table) -> bytes:
    """The table as a zstd-compressed Parquet file, ready for StoredTable."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


@dataclass
class TableReader:
    """An opened file: its column names, and `batches()` yielding (offset, {name: array}).

    `offset` is the 0-based index of the batch's first row among the rows read.
    """

    columns: list[str]
    batches: Callable[[], Iterator[tuple[int, dict[str, pa.Array]]]]


def open_table(
    source: BinaryIO, filename: str, *, max_rows: int, max_bytes: int, report: Report
) -> TableReader:
    """The file's column names and a generator of (offset, {column: array}) batches.

    Refuses files of unknown type, larger than `max_bytes` (as uploaded, as CSV text once
    uncompressed, as Parquet values once decoded), with a value wider than MAX_VALUE_BYTES
    or with more than `max_rows` rows, raising as soon as the size or the row count shows it
    (before reading if it can). CSV rows that do not split into the header's columns go to
    `report` as they are read.
    """
    kind = file_format(filename)
    size = _size(source)
    if size is not None and size > max_bytes:
        raise TableRejected(_too_large(max_bytes), limit_exceeded=True)
    if size == 0:
        raise TableRejected("The file has no data rows.")
    if kind == "parquet":
        reader = _open_parquet(source, max_rows=max_rows, max_bytes=max_bytes)
    else:
        gzipped = kind == "csv.gz"
        reader = _open_csv(
            source, gzipped=gzipped, max_rows=max_rows, max_bytes=max_bytes, report=report
        )
    # A CSV file's text was counted as it was read; a Parquet file's values are counted here.
    decoded_limit = max_bytes if kind == "parquet" else None
    batches = reader.batches
    return TableReader(
        reader.columns,
        lambda: _decoded_within(batches(), max_bytes=decoded_limit, report=report),
    )


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


# --- Limits -------------------------------------------------------------------------------


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


# --- Decoded size --------------------------------------------------------------------------


def _decoded_within(
    batches: Iterator[tuple[int, dict[str, pa.Array]]], *, max_bytes: int | None, report: Report
) -> Iterator[tuple[int, dict[str, pa.Array]]]:
    """The batches, cut so that none takes more than MAX_BATCH_BYTES once decoded.

    Each batch is measured before it is handed on (a dictionary column without decoding
    it): a value wider than MAX_VALUE_BYTES refuses the file (400, naming
    its row and column), and so does a file whose values add up to more than `max_bytes`
    (413), before the batch that crosses the limit is decoded.
    """
    total = 0
    for offset, columns in batches:
        sizes = _row_sizes(offset, columns, report)
        total += int(sizes.sum())
        if max_bytes is not None and total > max_bytes:
            raise TableRejected(_too_large(max_bytes, " uncompressed"), limit_exceeded=True)
        yield from _slices(offset, columns, sizes)


def _row_sizes(offset: int, columns: dict[str, pa.Array], report: Report) -> np.ndarray:
    """Bytes each row of the batch takes once decoded; refuses a value that is too wide.
    A text cell holding a NUL character is a row problem: PostgreSQL cannot store it."""
    rows = len(next(iter(columns.values()))) if columns else 0
    sizes = np.zeros(rows, dtype=np.int64)
    for name, values in columns.items():
        kind = _value_type(values.type)
        if _is_text(kind):
            lengths = _cell_lengths(values)
            if rows and (widest := int(lengths.max())) > MAX_VALUE_BYTES:
                row = report.row_number(offset + int(lengths.argmax()))
                raise _too_wide(name, row, widest)
            sizes += lengths + _OFFSET_BYTES
            if (bad := _nul_cells(values)) is not None:
                report.rows(
                    offset, bad, column=name, key=f"{name}: NUL character", message=_nul_message
                )
        elif not pa.types.is_null(kind):
            sizes += max(kind.bit_width // 8, 1)
    return sizes


def _nul_message(index: int) -> str:
    return "The value holds a NUL character (\\0), which cannot be stored."


def _nul_cells(values: pa.Array) -> np.ndarray | None:
    """The cells holding a NUL character (a mask), or None when none does. A dictionary's
    values are searched, not its cells; a batch without a zero byte costs one pass of
    numpy's min over its characters."""
    text = _measurable(values.dictionary if pa.types.is_dictionary(values.type) else values)
    data = text.buffers()[2]
    if data is None or not data.size or np.frombuffer(data, dtype=np.uint8).min() != 0:
        return None
    found = pc.match_substring(text, "\x00")
    if pa.types.is_dictionary(values.type):
        found = pc.take(found, values.indices)
    bad = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    return bad if bad.any() else None


def _cell_lengths(values: pa.Array) -> np.ndarray:
    """Each text cell's length in bytes (0 when empty), a dictionary's without decoding it."""
    if pa.types.is_dictionary(values.type):
        lengths = pc.take(pc.binary_length(_measurable(values.dictionary)), values.indices)
    else:
        lengths = pc.binary_length(_measurable(values))
    return pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _measurable(text: pa.Array) -> pa.Array:
    # binary_length has no kernel for string views; such columns are rare and not
    # dictionary bombs (a view column stored with a dictionary is read as a dictionary).
    return pc.cast(text, pa.large_string()) if pa.types.is_string_view(text.type) else text


def _slices(
    offset: int, columns: dict[str, pa.Array], sizes: np.ndarray
) -> Iterator[tuple[int, dict[str, pa.Array]]]:
    """The batch as it is, or in consecutive slices of at most MAX_BATCH_BYTES (a single row
    wider than that is a slice of its own)."""
    if int(sizes.sum()) <= MAX_BATCH_BYTES:
        yield offset, columns
        return
    ends = np.cumsum(sizes)
    start = 0
    while start < len(sizes):
        before = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, before + MAX_BATCH_BYTES, side="right"))
        stop = max(stop, start + 1)
        yield offset + start, {name: v.slice(start, stop - start) for name, v in columns.items()}
        start = stop


def _too_wide(column: str, row: int | None, width: int) -> TableRejected:
    limit = _bytes_text(MAX_VALUE_BYTES)
    where = f"on row {row:,} " if row is not None else ""
    problem = f"The value is {width:,} bytes long, more than the {limit} a value may hold."
    return TableRejected(
        f"A value of “{column}” {where}is {width:,} bytes long, more than the {limit} a value "
        "may hold: nothing was stored.",
        [Problem(row, column, problem)],
    )


# --- CSV ----------------------------------------------------------------------------------


def _open_csv(
    source: BinaryIO, *, gzipped: bool, max_rows: int, max_bytes: int, report: Report
) -> TableReader:
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
    return TableReader(names, lambda: _csv_batches(stream, names, max_rows, report))


def _csv_batches(
    stream: _CappedStream, names: list[str], max_rows: int, report: Report
) -> Iterator[tuple[int, dict[str, pa.Array]]]:
    def skip(row: pv.InvalidRow) -> str:
        # row.number is the physical line (the header is line 1), known single-threaded.
        number = row.number - 1 if row.number is not None and row.number > 0 else None
        report.skipped_row(
            number,
            f"The row has {row.actual_columns} value{plural_s(row.actual_columns)} where the "
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


# --- Parquet ------------------------------------------------------------------------------


def _open_parquet(source: BinaryIO, *, max_rows: int, max_bytes: int) -> TableReader:
    if not _seekable(source):
        # Parquet keeps its footer at the end: a stream must be read whole (within the limit).
        source = io.BytesIO(_CappedStream(source, max_bytes).read())
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
        raise TableRejected(
            f"The file could not be read as Parquet: {str(error).splitlines()[0]}."
        ) from None
    metadata = parquet.metadata
    rows = metadata.num_rows
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
    try:
        batch_rows = _check_footer(source, metadata, schema, max_bytes=max_bytes)
    except (pa.ArrowInvalid, OSError) as error:
        raise TableRejected(
            f"The file could not be read as Parquet: {str(error).splitlines()[0]}."
        ) from None
    names = schema.names

    def batches() -> Iterator[tuple[int, dict[str, pa.Array]]]:
        offset = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows):
                if offset + batch.num_rows > max_rows:  # the footer said otherwise
                    raise TableRejected(_too_many_rows(max_rows), limit_exceeded=True)
                yield offset, dict(zip(names, batch.columns, strict=True))
                offset += batch.num_rows
        except (pa.ArrowInvalid, OSError) as error:
            if isinstance(error, TableRejected):
                raise
            raise TableRejected(
                f"The file could not be read as Parquet: {str(error).splitlines()[0]}."
            ) from None

    return TableReader(names, batches)


def _check_footer(
    source: BinaryIO, metadata: pq.FileMetaData, schema: pa.Schema, *, max_bytes: int
) -> int:
    """Refuse, before reading, a file whose values would take more than `max_bytes` decoded
    or that holds a value wider than MAX_VALUE_BYTES; else the rows to read per batch, so
    that a batch takes at most about MAX_BATCH_BYTES decoded.

    A file in too many small row groups is refused first: each is read on its own below.
    Then the footer's uncompressed sizes: the pages' bytes once decompressed, which the
    values take at least as much of once decoded (a dictionary holds each of its values
    once), so a file whose pages add up to more than `max_bytes` is refused before any of
    them is read. Each column's decoded size is then bounded: a fixed-width column by its
    rows; a text column stored plainly by its uncompressed size (plain pages are as large
    decoded); one stored with a dictionary is measured exactly, its dictionaries and
    indices read once (`_measure_dictionaries`), still without decoding it.
    """
    if metadata.num_columns != len(schema):
        return PARQUET_BATCH_ROWS  # not flat: refused as it is read, by its column types
    _check_row_groups(metadata)
    if _uncompressed_bytes(metadata) > max_bytes:
        raise TableRejected(_too_large(max_bytes, " uncompressed"), limit_exceeded=True)
    sizes = [_ColumnSize.of(metadata, index, field) for index, field in enumerate(schema)]
    for size in sizes:
        if size.widest > MAX_VALUE_BYTES:
            raise _too_wide(size.name, None, size.widest)
    encoded = [size for size in sizes if size.dictionary_rows]
    if encoded:
        _measure_dictionaries(source, metadata, encoded)
    if sum(size.bound for size in sizes) > max_bytes:
        raise TableRejected(_too_large(max_bytes, " uncompressed"), limit_exceeded=True)
    row_bytes = sum(size.row_width for size in sizes) or 1
    return int(min(PARQUET_BATCH_ROWS, max(1, MAX_BATCH_BYTES // row_bytes)))


def _check_row_groups(metadata: pq.FileMetaData) -> None:
    """Refuse a file in more than FEW_ROW_GROUPS row groups that hold fewer than
    MIN_GROUP_ROWS rows on average, or in more than MAX_COLUMN_CHUNKS column chunks (row
    groups times columns): each row group is read on its own, and each column chunk costs
    tens of microseconds however small it is (6,000 row groups of 5 rows took 18 s)."""
    groups, rows, columns = metadata.num_row_groups, metadata.num_rows, metadata.num_columns
    if groups > FEW_ROW_GROUPS and rows < groups * MIN_GROUP_ROWS:
        raise TableRejected(
            f"The file is written in {groups:,} row groups of {rows // groups:,} rows on "
            f"average: write it in row groups of at least {MIN_GROUP_ROWS:,} rows (or in at "
            f"most {FEW_ROW_GROUPS}), as Parquet writers do by default: nothing was stored."
        )
    if groups * columns > MAX_COLUMN_CHUNKS:
        raise TableRejected(
            f"The file is written in {groups:,} row groups of {columns:,} columns, "
            f"{groups * columns:,} column chunks, more than the {MAX_COLUMN_CHUNKS:,} allowed: "
            "write it in fewer, larger row groups: nothing was stored."
        )


def _uncompressed_bytes(metadata: pq.FileMetaData) -> int:
    """What the file's pages take once decompressed, as its footer says."""
    return sum(
        group.column(index).total_uncompressed_size
        for group in map(metadata.row_group, range(metadata.num_row_groups))
        for index in range(metadata.num_columns)
    )


@dataclass
class _ColumnSize:
    """What the footer (and the column's dictionaries, once read) say of one column."""

    name: str
    index: int
    fixed_width: int = 0  # bytes a value, for a fixed-width type
    rows: int = 0
    plain_bytes: int = 0  # uncompressed bytes of the column chunks stored plainly
    dictionary_rows: int = 0  # rows in the column chunks stored with a dictionary
    widest: int = 0  # bytes of the widest value known
    exact: int | None = None  # decoded bytes, once measured

    @classmethod
    def of(cls, metadata: pq.FileMetaData, index: int, field: pa.Field) -> _ColumnSize:
        size = cls(field.name, index, rows=metadata.num_rows)
        kind = _value_type(field.type)
        if not _is_text(kind):
            size.fixed_width = 0 if pa.types.is_null(kind) else max(kind.bit_width // 8, 1)
            return size
        for group in range(metadata.num_row_groups):
            chunk = metadata.row_group(group).column(index)
            # Some writers leave the dictionary page's offset out: the encodings tell too.
            if chunk.has_dictionary_page or _DICTIONARY_ENCODINGS & set(chunk.encodings):
                size.dictionary_rows += chunk.num_values
            size.plain_bytes += chunk.total_uncompressed_size  # holds the dictionaries too
            statistics = chunk.statistics
            if statistics is not None and statistics.has_min_max:
                for value in (statistics.min, statistics.max):
                    if isinstance(value, str | bytes):
                        encoded = value.encode() if isinstance(value, str) else value
                        size.widest = max(size.widest, len(encoded))
        return size

    @property
    def bound(self) -> int:
        """Bytes the column takes decoded, at most (exactly, once measured)."""
        if self.exact is not None:
            return self.exact
        if self.fixed_width:
            return self.rows * self.fixed_width
        return self.plain_bytes + self.rows * _OFFSET_BYTES

    @property
    def row_width(self) -> int:
        """Bytes a row of this column takes decoded, at most or on average."""
        if self.fixed_width:
            return self.fixed_width
        average = self.plain_bytes // max(self.rows, 1) + _OFFSET_BYTES
        return max(average, self.widest + _OFFSET_BYTES if self.dictionary_rows else 0)


def _measure_dictionaries(
    source: BinaryIO, metadata: pq.FileMetaData, sizes: list[_ColumnSize]
) -> None:
    """Measure the dictionary-encoded text columns exactly: their widest value, and their
    decoded size summed from each cell's dictionary value.

    One read per row group, of all these columns at once, as dictionaries: nothing is
    decoded, and a dictionary is held once (with its indices, 4 bytes a row) while it is
    measured. The footer's check has bounded what the dictionaries take.
    """
    names = [size.name for size in sizes]
    reader = pq.ParquetFile(source, metadata=metadata, read_dictionary=names)
    totals = [0] * len(sizes)
    for group in range(metadata.num_row_groups):
        columns = reader.read_row_group(group, columns=names).columns
        for position, (size, column) in enumerate(zip(sizes, columns, strict=True)):
            for values in column.chunks:
                if not pa.types.is_dictionary(values.type) or not len(values.dictionary):
                    continue
                lengths = pc.binary_length(_measurable(values.dictionary))
                size.widest = max(size.widest, pc.max(lengths).as_py() or 0)
                if size.widest > MAX_VALUE_BYTES:
                    raise _too_wide(size.name, None, size.widest)
                totals[position] += int(pc.sum(pc.take(lengths, values.indices)).as_py() or 0)
        del columns  # before the next row group's are read
    for size, total in zip(sizes, totals, strict=True):
        size.exact = total + size.rows * _OFFSET_BYTES


def _value_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _seekable(source: BinaryIO) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False
