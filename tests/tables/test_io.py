"""Opening uploaded files (tables.io): formats, limits and unreadable files."""

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tables.io import MAX_BYTES, MAX_ROWS, file_format, load_table, open_table, parquet_bytes
from tables.report import Report, TableRejected


def label_only(*labels: str) -> bytes:
    rows = [f"r{i},{v}" for i, v in enumerate(labels, start=1)]
    return ("\n".join(["id,label", *rows]) + "\n").encode()


def plain_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def read_all(source, *, filename="d.csv", max_rows=MAX_ROWS, max_bytes=MAX_BYTES) -> list:
    """Every batch of the file, as read_dataset and read_predictions read them."""
    reader = open_table(source, filename, max_rows=max_rows, max_bytes=max_bytes, report=Report())
    return list(reader.batches())


def rejected(data: bytes, **kwargs) -> TableRejected:
    with pytest.raises(TableRejected) as caught:
        read_all(io.BytesIO(data), **kwargs)
    return caught.value


def test_file_format_names_the_format():
    assert [file_format(n) for n in ("a.CSV", "a.csv.gz", "a.parquet")] == [
        "csv",
        "csv.gz",
        "parquet",
    ]


def test_file_with_an_unknown_extension_is_refused():
    error = rejected(b"id,label\nr1,1\n", filename="data.xlsx")

    assert error.message == (
        "“data.xlsx” is neither CSV nor Parquet: upload a .csv, .csv.gz or .parquet file."
    )


def test_csv_is_read_as_text_batches_and_gzipped_csv_alike():
    data = label_only("1", "2")

    plain = read_all(io.BytesIO(data))
    gzipped = read_all(io.BytesIO(gzip.compress(data)), filename="d.csv.gz")

    expected = [(0, {"id": ["r1", "r2"], "label": ["1", "2"]})]
    assert [(offset, {k: v.to_pylist() for k, v in b.items()}) for offset, b in plain] == expected
    assert [(offset, {k: v.to_pylist() for k, v in b.items()}) for offset, b in gzipped] == expected


def test_stored_parquet_is_zstd_compressed_and_reads_back_by_column():
    table = pa.table({"id": ["r1", "r2"], "label": [1.0, 2.0]})

    blob = parquet_bytes(table)

    assert pq.ParquetFile(io.BytesIO(blob)).metadata.row_group(0).column(0).compression == "ZSTD"
    assert load_table(blob).equals(table)
    assert load_table(blob, columns=["label"]).column_names == ["label"]


def test_file_that_is_not_utf8_is_refused():
    error = rejected("id,label\nr1,1\nré,2\n".encode("latin-1"))

    assert "could not be read as CSV" in error.message


def test_corrupt_parquet_is_refused():
    error = rejected(b"PAR1 not really parquet", filename="d.parquet")

    assert error.message.startswith("The file could not be read as Parquet")


# --- Too large ---------------------------------------------------------------------------


def test_csv_with_too_many_rows_is_refused_naming_the_limit():
    error = rejected(label_only(*["1"] * 11), max_rows=10)

    assert error.message == "The file has more than 10 rows, the limit: nothing was stored."
    assert error.limit_exceeded


def test_parquet_with_too_many_rows_is_refused_from_its_footer(monkeypatch):
    table = pa.table({"id": [f"r{i}" for i in range(11)], "label": [1.0] * 11})
    monkeypatch.setattr(
        pq.ParquetFile, "iter_batches", lambda *a, **k: pytest.fail("rows were read")
    )

    error = rejected(plain_parquet(table), filename="d.parquet", max_rows=10)

    assert error.message == "The file has 11 rows, more than the limit of 10: nothing was stored."


class Stream:
    """A non-seekable upload (a socket, a pipe) that counts what was read from it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size=-1) -> bytes:
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk


def test_file_larger_than_the_byte_limit_is_refused_before_reading():
    source = io.BytesIO(label_only(*["1"] * 1000))

    with pytest.raises(TableRejected) as caught:
        read_all(source, max_bytes=2048)

    assert caught.value.message == "The file is larger than 2 KB, the limit: nothing was stored."
    assert caught.value.limit_exceeded
    assert source.tell() == 0


def test_stream_larger_than_the_byte_limit_is_refused_while_reading():
    data = label_only(*["1"] * 200_000)
    source = Stream(data)

    with pytest.raises(TableRejected) as caught:
        read_all(source, max_bytes=100_000)

    assert "larger than" in caught.value.message
    assert source.read_bytes <= 100_001 < len(data)


def test_gzipped_csv_is_limited_by_its_uncompressed_size_too():
    note = "x" * 500
    data = gzip.compress(label_only(*[f"1,{note}"] * 1000).replace(b"id,label", b"id,label,note"))
    assert len(data) < 100_000

    error = rejected(data, filename="d.csv.gz", max_bytes=100_000)

    assert error.message == (
        "The file is larger than 100,000 bytes uncompressed, the limit: nothing was stored."
    )
