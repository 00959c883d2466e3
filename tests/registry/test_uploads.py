"""Reading and validating uploaded datasets and predictions (registry.uploads, over the
tables package): no database, small generated files."""

import datetime
import gzip
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tables.io
from registry import uploads
from tables.io import load_table
from tables.report import TableRejected
from tables.rules import RuleSpec

SCHEMA = [
    {"name": "age", "type": "integer"},
    {"name": "income", "type": "number"},
    {"name": "city", "type": "category"},
    {"name": "note", "type": "string"},
    {"name": "active", "type": "boolean"},
    {"name": "seen_at", "type": "datetime"},
]
HEADER = "id,age,income,city,note,active,seen_at,label,segment"
GOOD_ROWS = [
    "r1,34,52000.5,paris,first,true,2026-01-05,12.5,north",
    "r2,51,,lyon,,FALSE,2026-01-06T10:30:00+02:00,20,south",
    "r3,29,31000,paris,third,yes,,7.25,north",
]


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def read(
    data: bytes,
    *,
    filename="data.csv",
    schema=SCHEMA,
    task_type="regression",
    rules=(),
    **limits,
) -> uploads.DatasetTable:
    return uploads.read_dataset(
        io.BytesIO(data),
        filename=filename,
        feature_schema=schema,
        task_type=task_type,
        rules=list(rules),
        **limits,
    )


def rejected(data: bytes, **kwargs) -> TableRejected:
    with pytest.raises(TableRejected) as caught:
        read(data, **kwargs)
    return caught.value


def label_only(*labels: str) -> bytes:
    return csv_bytes(*(f"r{i},{v}" for i, v in enumerate(labels, start=1)), header="id,label")


def rule(kind, params=None, *, field="age", severity="error", rule_id=7) -> RuleSpec:
    return RuleSpec(rule_id, field, kind, params or {}, severity, f"{field} {kind}")


# --- A valid file ------------------------------------------------------------------------


def test_valid_csv_gives_typed_columns_label_summary_and_rule_counts():
    rules = [
        rule("range", {"min": 0, "max": 120}, rule_id=1),
        rule("not_null", field="income", severity="warning", rule_id=2),
    ]
    parsed = read(csv_bytes(*GOOD_ROWS), rules=rules)

    assert parsed.row_count == 3
    assert parsed.columns == [
        "id",
        "age",
        "income",
        "city",
        "note",
        "active",
        "seen_at",
        "label",
        "segment",
    ]
    assert parsed.has_segment
    table = parsed.table
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("age").type == pa.int64()
    assert table.schema.field("income").type == pa.float64()
    assert pa.types.is_dictionary(table.schema.field("city").type)
    assert table.schema.field("active").type == pa.bool_()
    assert table.schema.field("seen_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("age").to_pylist() == [34, 51, 29]
    assert table.column("income").to_pylist() == [52000.5, None, 31000.0]
    assert table.column("city").to_pylist() == ["paris", "lyon", "paris"]
    assert table.column("note").to_pylist() == ["first", None, "third"]
    assert table.column("active").to_pylist() == [True, False, True]
    utc = datetime.UTC
    assert table.column("seen_at").to_pylist() == [
        datetime.datetime(2026, 1, 5, tzinfo=utc),
        datetime.datetime(2026, 1, 6, 8, 30, tzinfo=utc),  # +02:00 converted to UTC
        None,
    ]
    assert table.column("segment").to_pylist() == ["north", "south", "north"]
    summary = parsed.label_summary
    assert summary["kind"] == "numeric"
    assert (summary["min"], summary["max"]) == (7.25, 20.0)
    assert summary["mean"] == pytest.approx((12.5 + 20 + 7.25) / 3)
    assert len(summary["histogram"]["edges"]) == 31
    assert sum(summary["histogram"]["counts"]) == 3
    assert parsed.rule_violations == [
        {
            "rule": 1,
            "field": "age",
            "summary": "age range",
            "severity": "error",
            "violations": 0,
            "checked": True,
        },
        {
            "rule": 2,
            "field": "income",
            "summary": "income not_null",
            "severity": "warning",
            "violations": 1,
            "checked": True,
        },
    ]


def test_stored_parquet_reads_back_as_the_same_table():
    parsed = read(csv_bytes(*GOOD_ROWS))
    blob = parsed.to_parquet()

    assert pq.ParquetFile(io.BytesIO(blob)).metadata.row_group(0).column(0).compression == "ZSTD"
    assert load_table(blob).equals(parsed.table)
    assert load_table(blob, columns=["label"]).column_names == ["label"]


def test_parquet_upload_gives_the_same_table_as_the_csv():
    from_csv = read(csv_bytes(*GOOD_ROWS))
    from_parquet = read(from_csv.to_parquet(), filename="data.parquet")

    assert from_parquet.table.equals(from_csv.table)
    assert from_parquet.label_summary == from_csv.label_summary


def test_parquet_columns_of_native_types_are_cast_to_the_schema():
    table = pa.table(
        {
            "id": pa.array([1, 2, 3]),  # ids are stored as text
            "age": pa.array([30.0, 40.0, None]),
            "active": pa.array([1, 0, 1]),
            "when": pa.array([datetime.date(2026, 3, 1)] * 3),
            "label": pa.array([True, False, True]),
        }
    )
    schema = [
        {"name": "age", "type": "integer"},
        {"name": "active", "type": "boolean"},
        {"name": "when", "type": "datetime"},
    ]
    parsed = read(parquet_bytes(table), filename="x.PARQUET", schema=schema, task_type="binary")

    assert parsed.table.column("id").to_pylist() == ["1", "2", "3"]
    assert parsed.table.column("age").to_pylist() == [30, 40, None]
    assert parsed.table.column("active").to_pylist() == [True, False, True]
    assert parsed.table.column("label").to_pylist() == [1, 0, 1]
    assert parsed.label_summary == {"kind": "categorical", "counts": {"0": 1, "1": 2}}


def test_gzipped_csv_is_read_like_csv():
    parsed = read(gzip.compress(csv_bytes(*GOOD_ROWS)), filename="data.csv.gz")

    assert parsed.table.equals(read(csv_bytes(*GOOD_ROWS)).table)


def test_utf8_bom_windows_line_ends_and_padded_numbers_are_accepted():
    data = "\ufeffid,age,label\r\nr1, 42 ,1.5\r\nr2,3.0,+2e1\r\n".encode()
    parsed = read(data, schema=[{"name": "age", "type": "integer"}])

    assert parsed.table.column("age").to_pylist() == [42, 3]
    assert parsed.table.column("label").to_pylist() == [1.5, 20.0]


def test_file_without_segment_column_has_no_segment():
    parsed = read(label_only("1", "2"), schema=[])

    assert not parsed.has_segment
    assert parsed.columns == ["id", "label"]


# --- Columns -----------------------------------------------------------------------------


def test_missing_feature_columns_are_named_in_one_problem():
    error = rejected(csv_bytes("r1,1,2", header="id,age,label"))

    assert error.message == (
        "The file lacks the columns “income”, “city”, “note”, “active”, “seen_at”: "
        "nothing was stored."
    )
    assert len(error.problems) == 1
    assert error.problems[0].row is None
    assert error.counts == {"missing columns": 5}


@pytest.mark.parametrize("header", ["age,label", "id,age"])
def test_missing_id_or_label_column_is_refused(header):
    error = rejected(csv_bytes("1,2", header=header), schema=[{"name": "age", "type": "integer"}])

    missing = "id" if header.startswith("age") else "label"
    assert error.message == f"The file lacks the column “{missing}”: nothing was stored."


def test_unexpected_columns_are_refused_by_name():
    error = rejected(
        csv_bytes("r1,1,x,y", header="id,label,colour,size"), schema=[], task_type="regression"
    )

    assert "“colour”, “size”" in error.message
    assert "expected: id, label, segment (optional)" in error.message
    assert error.counts == {"unexpected columns": 2}


def test_semicolon_separated_file_gets_a_hint():
    error = rejected(b"id;label\nr1;1\n", schema=[])

    assert "separated by “;”" in error.message


def test_repeated_header_column_is_refused():
    error = rejected(csv_bytes("r1,1,2", header="id,label,label"), schema=[])

    assert "repeats the column “label”" in error.message


# --- Labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_type", "labels", "bad_row", "message"),
    [
        ("regression", ["1.5", "abc", "3"], 2, "“abc” is not a number."),
        ("regression", ["1.5", "2", ""], 3, "The label is empty."),
        ("binary", ["0", "1", "2"], 3, "“2” is not a binary label (0/1 or true/false)."),
        ("binary", ["yes", "true", "0"], 1, "“yes” is not a binary label (0/1 or true/false)."),
        ("binary", ["0", "", "1"], 2, "The label is empty."),
        ("multiclass", ["cat", "  ", "dog"], 2, "The label is empty."),
    ],
)
def test_wrong_label_for_the_task_type_is_reported_on_its_row(task_type, labels, bad_row, message):
    error = rejected(label_only(*labels), schema=[], task_type=task_type)

    assert error.message == "The file has 1 bad row: nothing was stored."
    assert [(p.row, p.column, p.message) for p in error.problems] == [(bad_row, "label", message)]


def test_binary_labels_may_be_true_false_in_any_case_and_are_stored_as_0_1():
    parsed = read(
        label_only("TRUE", "false", "1", "0", "True", "1.0"), schema=[], task_type="binary"
    )

    assert parsed.table.schema.field("label").type == pa.int64()
    assert parsed.table.column("label").to_pylist() == [1, 0, 1, 0, 1, 1]
    assert parsed.label_summary == {"kind": "categorical", "counts": {"0": 2, "1": 4}}


@pytest.mark.parametrize(("task_type", "value"), [("binary", "1"), ("multiclass", "cat")])
def test_classification_label_with_a_single_class_is_refused(task_type, value):
    error = rejected(label_only(value, value), schema=[], task_type=task_type)

    assert "single class" in error.message
    assert error.counts == {"label: a single class": 1}


def test_multiclass_labels_are_kept_as_text():
    parsed = read(label_only("cat", "dog", "cat", "bird"), schema=[], task_type="multiclass")

    assert parsed.table.column("label").to_pylist() == ["cat", "dog", "cat", "bird"]
    assert parsed.label_summary["counts"] == {"bird": 1, "cat": 2, "dog": 1}


# --- Values ------------------------------------------------------------------------------


def test_non_numeric_value_is_reported_with_its_row_and_column():
    rows = [*GOOD_ROWS, "r4,40,abc,paris,x,true,,1,north"]
    error = rejected(csv_bytes(*rows))

    assert error.message == "The file has 1 bad row: nothing was stored."
    problem = error.problems[0]
    assert (problem.row, problem.column) == (4, "income")  # the 5th line: row 4 of the data
    assert problem.message == "“abc” is not a number."
    assert problem.as_dict() == {
        "row": 4,
        "field": "income",
        "message": "“abc” is not a number.",
        "rule": None,
    }
    assert error.counts == {"income: not a number": 1}


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("integer", "2.5", "not a whole number"),
        ("integer", "twelve", "not a whole number"),
        ("integer", "99999999999999999999", "not a whole number"),
        ("number", '"1,5"', "not a number"),
        ("number", "inf", "not a finite number"),
        ("boolean", "maybe", "not true or false"),
        ("datetime", "2026-13-01", "not a date"),
        ("datetime", "2026-02-30", "not a date"),
        ("datetime", "yesterday", "not a date"),
    ],
)
def test_values_that_do_not_parse_as_the_feature_type_are_row_problems(kind, value, reason):
    data = csv_bytes("r1,1,1", "r2,1,1", f"r3,{value},1", header="id,x,label")
    good = {"integer": "1", "number": "1", "boolean": "true", "datetime": "2026-01-01"}[kind]
    data = data.replace(b"r1,1,", f"r1,{good},".encode()).replace(b"r2,1,", f"r2,{good},".encode())

    error = rejected(data, schema=[{"name": "x", "type": kind}])

    assert [(p.row, p.column) for p in error.problems] == [(3, "x")]
    assert error.counts == {f"x: {reason}": 1}


def test_two_bad_cells_on_one_row_count_as_one_bad_row():
    error = rejected(csv_bytes("r1,x,y", "r2,1,2", header="id,age,label"), schema=SCHEMA[:1])

    assert error.message == "The file has 1 bad row: nothing was stored."
    assert len(error.problems) == 2


def test_empty_cells_are_nulls():
    parsed = read(csv_bytes("r1,,,,,,,1,", "r2,1,2,a,b,true,2026-01-01,2,s"))

    first = parsed.table.slice(0, 1).to_pylist()[0]
    assert first == {
        "id": "r1",
        "age": None,
        "income": None,
        "city": None,
        "note": None,
        "active": None,
        "seen_at": None,
        "label": 1.0,
        "segment": None,
    }


def test_row_that_does_not_split_into_the_header_columns_is_reported():
    error = rejected(b"id,age,label\nr1,1,2\nr2,3\nr3,x,4\n", schema=SCHEMA[:1])

    assert [(p.row, p.column, p.message) for p in error.problems] == [
        (2, None, "The row has 2 values where the header has 3."),
        (3, "age", "“x” is not a whole number."),  # still row 3, though row 2 was skipped
    ]
    assert error.message == "The file has 2 bad rows: nothing was stored."


# --- Ids ---------------------------------------------------------------------------------


def test_duplicate_ids_are_reported_with_their_rows():
    error = rejected(label_only("1", "2", "3").replace(b"r3,", b"r1,") + b"r1,4\nr9,5\n", schema=[])

    assert error.message == "The file has 2 bad rows: nothing was stored."
    assert [(p.row, p.column, p.message) for p in error.problems] == [
        (3, "id", "The id “r1” appears 3 times (rows 1, 3, 4)."),
    ]
    assert error.counts == {"id: duplicate": 2}


def test_empty_id_is_a_row_problem():
    error = rejected(b"id,label\nr1,1\n,2\n", schema=[])

    assert [(p.row, p.message) for p in error.problems] == [(2, "The id is empty.")]


# --- Empty and too large -----------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"id,label\n", b"\n"])
def test_empty_or_header_only_csv_has_no_data_rows(data):
    assert rejected(data, schema=[]).message == "The file has no data rows."


def test_parquet_without_rows_has_no_data_rows():
    empty = pa.table({"id": pa.array([], pa.string()), "label": pa.array([], pa.float64())})

    error = rejected(parquet_bytes(empty), filename="d.parquet", schema=[])

    assert error.message == "The file has no data rows."


def test_dataset_with_more_rows_than_the_limit_is_refused():
    error = rejected(label_only(*["1"] * 11), schema=[], max_rows=10)

    assert error.message == "The file has more than 10 rows, the limit: nothing was stored."
    assert error.limit_exceeded


# --- Data-quality rules ------------------------------------------------------------------

AGE_SCHEMA = [{"name": "age", "type": "integer"}]


def test_rules_may_check_the_label_and_segment():
    data = csv_bytes("r1,5,north", "r2,-3,west", header="id,label,segment")
    rules = [
        rule("range", {"min": 0}, field="label", rule_id=1),
        rule("allowed_values", {"values": ["north", "south"]}, field="segment", rule_id=2),
    ]

    error = rejected(data, schema=[], rules=rules)

    assert [(p.row, p.column, p.rule) for p in error.problems] == [
        (2, "label", "1"),
        (2, "segment", "2"),
    ]
    assert error.message == "The file has 1 bad row: nothing was stored."


def test_problem_list_is_capped_at_100_but_counts_are_exact(monkeypatch):
    monkeypatch.setattr(tables.io, "CSV_BLOCK_BYTES", 4096)  # many batches
    rows = [f"r{i},{'x' if i % 2 else 30},{'y' if i % 3 == 0 else 1}" for i in range(1, 1001)]
    spec = rule("not_null", field="age", severity="error")

    error = rejected(csv_bytes(*rows, header="id,age,label"), schema=AGE_SCHEMA, rules=[spec])

    assert len(error.problems) == 100
    rows_seen = [p.row for p in error.problems]
    assert rows_seen == sorted(rows_seen)
    assert rows_seen[:4] == [1, 3, 3, 5]  # row 3: both the age and the label
    assert error.counts == {"age: not a whole number": 500, "label: not a number": 333}
    bad = sum(1 for i in range(1, 1001) if i % 2 or i % 3 == 0)
    assert error.message == f"The file has {bad} bad rows: nothing was stored."


def test_streamed_batches_keep_row_numbers(monkeypatch):
    monkeypatch.setattr(tables.io, "CSV_BLOCK_BYTES", 1024)
    rows = [f"r{i},{i}" for i in range(1, 2001)]
    rows[1499] = "r1500,oops"

    error = rejected(csv_bytes(*rows, header="id,label"), schema=[])

    assert [(p.row, p.message) for p in error.problems] == [(1500, "“oops” is not a number.")]


# --- Predictions -------------------------------------------------------------------------

DATASET_IDS = pa.array(["a", "b", "c", "d"])


def predictions(data: bytes, *, task_type="regression", filename="p.csv", **kwargs):
    return uploads.read_predictions(
        io.BytesIO(data),
        filename=filename,
        dataset_ids=DATASET_IDS,
        task_type=task_type,
        **kwargs,
    )


def predictions_rejected(data: bytes, **kwargs) -> TableRejected:
    with pytest.raises(TableRejected) as caught:
        predictions(data, **kwargs)
    return caught.value


def test_predictions_are_aligned_to_the_dataset_order():
    parsed = predictions(b"id,prediction\nc,3.5\na,1\nd,4\nb,2\n")

    assert parsed.row_count == 4
    assert not parsed.has_score
    assert parsed.table.column_names == ["prediction"]
    assert parsed.table.column("prediction").to_pylist() == [1.0, 2.0, 3.5, 4.0]
    assert load_table(parsed.to_parquet()).equals(parsed.table)


def test_predictions_accept_a_chunked_dataset_id_column_and_parquet():
    ids = pa.chunked_array([["a", "b"], ["c", "d"]])
    data = parquet_bytes(pa.table({"id": ["d", "c", "b", "a"], "prediction": [4, 3, 2, 1]}))

    parsed = uploads.read_predictions(
        io.BytesIO(data), filename="p.parquet", dataset_ids=ids, task_type="regression"
    )

    assert parsed.table.column("prediction").to_pylist() == [1.0, 2.0, 3.0, 4.0]


def test_missing_and_extra_prediction_ids_are_reported():
    error = predictions_rejected(b"id,prediction\na,1\nzz,2\nb,3\n")

    assert error.message == "The file has 1 bad row and 1 other problem: nothing was stored."
    assert [(p.row, p.message) for p in error.problems] == [
        (None, "2 ids of the dataset have no prediction: “c”, “d”."),
        (2, "The id “zz” is not in the dataset."),
    ]
    assert error.counts == {"id: not in the dataset": 1, "id: missing from the file": 2}


def test_duplicate_prediction_ids_are_reported():
    error = predictions_rejected(b"id,prediction\na,1\nb,2\nc,3\nd,4\nb,5\n")

    assert [(p.row, p.message) for p in error.problems] == [
        (5, "The id “b” appears 2 times (rows 2, 5)."),
    ]
    assert error.counts == {"id: duplicate": 1}


def test_non_numeric_regression_prediction_is_a_row_problem():
    error = predictions_rejected(b"id,prediction\na,1\nb,two\nc,3\nd,4\n")

    assert [(p.row, p.column, p.message) for p in error.problems] == [
        (2, "prediction", "“two” is not a number."),
    ]


def test_binary_score_outside_0_1_is_a_row_problem():
    data = b"id,prediction,score\na,1,0.9\nb,0,-0.1\nc,1,1.5\nd,0,0\n"

    error = predictions_rejected(data, task_type="binary")

    assert [(p.row, p.column) for p in error.problems] == [(2, "score"), (3, "score")]
    assert error.problems[1].message == "1.5 is not between 0 and 1."
    assert error.counts == {"score: not between 0 and 1": 2}


def test_binary_prediction_must_be_0_1_or_true_false():
    error = predictions_rejected(b"id,prediction\na,1\nb,true\nc,0.7\nd,0\n", task_type="binary")

    assert [(p.row, p.column) for p in error.problems] == [(3, "prediction")]


def test_binary_scores_alone_give_an_empty_prediction_column():
    parsed = predictions(b"id,score\nb,0.2\na,0.9\nc,0.5\nd,0\n", task_type="binary")

    assert parsed.has_score and not parsed.has_prediction
    assert parsed.table.column("prediction").null_count == 4
    assert parsed.table.column("score").to_pylist() == [0.9, 0.2, 0.5, 0.0]


def test_binary_predictions_need_a_prediction_or_a_score():
    error = predictions_rejected(b"id\na\nb\nc\nd\n", task_type="binary")

    assert "needs a “prediction” column" in error.message


def test_regression_predictions_take_no_score():
    error = predictions_rejected(b"id,prediction,score\na,1,0.5\n")

    assert "unexpected column “score”" in error.message


def test_multiclass_predictions_with_class_probabilities():
    data = (
        b"id,prediction,proba_cat,proba_dog\n"
        b"b,dog,0.2,0.8\na,cat,0.9,0.1\nd,dog,0.4,0.6\nc,cat,0.5,0.5\n"
    )

    parsed = predictions(data, task_type="multiclass", classes=["cat", "dog"])

    assert parsed.table.column("prediction").to_pylist() == ["cat", "dog", "cat", "dog"]
    assert parsed.table.column("proba_dog").to_pylist() == [0.1, 0.8, 0.5, 0.6]
    assert parsed.proba_classes == ["cat", "dog"]


def test_multiclass_probabilities_must_add_up_to_1_and_classes_must_be_known():
    data = (
        b"id,prediction,proba_cat,proba_dog\na,cat,0.9,0.3\nb,fox,0.2,0.8\nc,dog,0,1\nd,cat,1,0\n"
    )

    error = predictions_rejected(data, task_type="multiclass", classes=["cat", "dog"])

    assert [(p.row, p.column, p.message) for p in error.problems] == [
        (1, None, "The class probabilities add up to 1.2, not 1."),
        (2, "prediction", "“fox” is not one of the classes."),
    ]


def test_multiclass_probability_column_for_each_class_is_required_once_any_is_given():
    error = predictions_rejected(
        b"id,prediction,proba_cat\na,cat,1\n", task_type="multiclass", classes=["cat", "dog"]
    )

    assert error.message == "The file lacks the column “proba_dog”: nothing was stored."


def test_empty_prediction_file_has_no_data_rows():
    assert predictions_rejected(b"id,prediction\n").message == "The file has no data rows."


def test_prediction_file_with_too_many_rows_is_refused():
    error = predictions_rejected(b"id,prediction\na,1\nb,2\nc,3\nd,4\n", max_rows=3)

    assert "more than 3 rows" in error.message


def test_prediction_alignment_stays_correct_on_a_large_shuffled_file():
    n = 50_000
    ids = pa.array([f"id-{i}" for i in range(n)])
    order = np.random.default_rng(3).permutation(n)
    data = parquet_bytes(pa.table({"id": ids.take(order), "prediction": order.astype(float)}))

    parsed = uploads.read_predictions(
        io.BytesIO(data), filename="p.parquet", dataset_ids=ids, task_type="regression"
    )

    assert parsed.table.column("prediction").to_numpy().tolist() == list(range(n))


# Binary predictions whose two columns disagree (issue 11, item 10)


@pytest.mark.parametrize(
    ("threshold", "disagreeing"),
    [(0.5, 2), (0.3, 3), (0.95, 2)],
)
def test_rows_whose_prediction_is_not_what_the_score_gives_are_counted(threshold, disagreeing):
    # a: 1 at 0.9; b: 0 at 0.4 (1 at ≤ 0.4); c: 1 at 0.2 (0 above 0.2); d: 0 at 0.6 (1 at ≤ 0.6)
    data = b"id,prediction,score\na,1,0.9\nb,0,0.4\nc,1,0.2\nd,0,0.6\n"
    parsed = predictions(data, task_type="binary")
    from_score = {"a": 0.9, "b": 0.4, "c": 0.2, "d": 0.6}
    given = {"a": 1, "b": 0, "c": 1, "d": 0}
    want = sum(int(score >= threshold) != given[k] for k, score in from_score.items())
    assert uploads.disagreeing_rows(parsed, threshold) == want == disagreeing


def test_without_both_columns_nothing_is_counted():
    scores = predictions(b"id,score\na,0.2\nb,0.9\nc,0.5\nd,0\n", task_type="binary")
    assert uploads.disagreeing_rows(scores, 0.5) is None
    labels = predictions(b"id,prediction\na,1\nb,0\nc,1\nd,0\n", task_type="binary")
    assert uploads.disagreeing_rows(labels, 0.5) is None
