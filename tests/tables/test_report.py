"""Problems and refusals (tables.report): what the API shows of a rejected file."""

import io

import numpy as np
import pytest

from portal.errors import InvalidInput
from tables.io import open_table
from tables.report import Report, TableRejected


def refusal(data: bytes, *, filename="d.csv", max_rows=1_000, max_bytes=10_000) -> TableRejected:
    """The TableRejected that reading `data` ends with (problems collected on the way)."""
    report = Report()
    with pytest.raises(TableRejected) as caught:
        reader = open_table(
            io.BytesIO(data), filename, max_rows=max_rows, max_bytes=max_bytes, report=report
        )
        for _ in reader.batches():
            report.end_batch()
        report.raise_if_any()
    return caught.value


def test_file_with_row_problems_is_a_400_listing_each_row_and_the_counts():
    error = refusal(b"id,label\nr1,1\nr2\nr3,3,x\n")

    assert isinstance(error, InvalidInput)
    assert (error.status_code, error.code) == (400, "rejected_file")
    assert error.message == "The file has 2 bad rows: nothing was stored."
    assert error.error_items() == [
        {"row": 2, "message": "The row has 1 value where the header has 2."},
        {"row": 3, "message": "The row has 3 values where the header has 2."},
    ]
    assert error.body_extras() == {"counts": {"rows with the wrong number of values": 2}}


def test_problems_about_a_column_name_it_as_the_field():
    report = Report()
    report.file("The file lacks the column “label”.", key="missing columns", column="label")
    bad = np.array([False, True])
    report.rows(0, bad, column="age", key="age: empty", message=lambda i: "The age is empty.")

    with pytest.raises(TableRejected) as caught:
        report.raise_if_any()

    assert caught.value.error_items() == [
        {"field": "label", "message": "The file lacks the column “label”."},
        {"row": 2, "field": "age", "message": "The age is empty."},
    ]


def test_file_refused_as_a_whole_is_a_400_about_the_file():
    error = refusal(b"id,label\n", filename="data.xlsx")

    assert (error.status_code, error.code) == (400, "rejected_file")
    assert error.error_items() == [{"field": "file", "message": error.message}]
    assert error.message.startswith("“data.xlsx” is neither CSV nor Parquet")
    assert error.body_extras() == {"counts": {}}


def test_file_over_the_size_limit_is_a_413_with_only_its_message():
    error = refusal(b"id,label\n" + b"r1,1\n" * 100, max_bytes=100)

    assert error.limit_exceeded
    assert (error.status_code, error.code) == (413, "too_large")
    assert error.message == "The file is larger than 100 bytes, the limit: nothing was stored."
    assert error.error_items() == []
    assert error.body_extras() == {}
