"""Opening uploaded files (CSV, gzipped CSV, Parquet) as streams of batches, within limits.

Files are validated as they stream. CSV is read with `pyarrow.csv.open_csv` in blocks, every
column as text (tables.casts types it per batch, so each bad value gets its row number);
Parquet is read with `ParquetFile.iter_batches` after its footer says how many rows it
holds. Sizes are checked before reading (when the source can tell) and while reading, so a
1 GB upload is refused after 200 MB, not after it was loaded.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

from tables.report import Report, TableRejected, plural_s

MAX_ROWS = 1_000_000
MAX_BYTES = 200 * 1024**2
# CSV blocks of 4 MiB hold ~50,000 rows of a typical file: few enough batches that the
# per-batch Python work is negligible, small enough that memory stays flat.
CSV_BLOCK_BYTES = 4 * 1024**2
PARQUET_BATCH_ROWS = 65_536
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

    Refuses files of unknown type, larger than `max_bytes` or with more than `max_rows`
    rows, raising as soon as the size or the row count shows it (before reading if it can).
    CSV rows that do not split into the header's columns go to `report` as they are read.
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

    return TableReader(names, batches)


def _value_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _seekable(source: BinaryIO) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False
