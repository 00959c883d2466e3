"""SegmentCount, the stratum sizes stratified sampling reads: equal to a GROUP BY count of
the prediction log after every path that writes it (ingestion, re-sends, bulk_create,
outcomes, threshold changes, updates, deletes of rows, versions and use cases; on
PostgreSQL also COPY and TRUNCATE), on SQLite and PostgreSQL (triggers of predictions
0007)."""

import datetime

import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDate

from predictions.models import Prediction, SegmentCount
from predictions.services import ingest
from predictions.services.store import recompute_confidences
from registry.models import ModelVersion
from tests.factories import T0, log_predictions, make_version
from usecases.services import usecases

pytestmark = pytest.mark.django_db


def grouped() -> dict[tuple, int]:
    """What SegmentCount must hold: a GROUP BY over the log, per version, segment, UTC day."""
    rows = (
        Prediction.objects.annotate(day=TruncDate("predicted_at", tzinfo=datetime.UTC))
        .values_list("model_version_id", "segment", "day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(version, segment, day): n for version, segment, day, n in rows}


def counted() -> dict[tuple, int]:
    rows = SegmentCount.objects.values_list("model_version_id", "segment", "day", "rows")
    return {(version, segment, day): n for version, segment, day, n in rows}


def assert_exact():
    assert counted() == grouped()
    assert not SegmentCount.objects.filter(rows__lte=0).exists()


@pytest.fixture
def versions(use_case, personas):
    by = personas["owner"]
    return make_version(use_case, "1.0", by), make_version(use_case, "2.0", by)


def batch(first: int, count: int, *, version: str = "1.0", day: int = 31) -> list[dict]:
    return [
        {
            "version": version,
            "request_id": f"req-{n}",
            "timestamp": f"2026-03-{day:02d}T{n % 24:02d}:05:00Z",
            "features": {"store": "S01", "price": 2.5},
            "prediction": 10.0 + n,
            "segment": ("north", "south", "")[n % 3],
        }
        for n in range(first, first + count)
    ]


def test_counts_follow_ingestion_and_ignore_rows_sent_again(use_case, personas, versions):
    by = personas["data_scientist"]
    ingest.log_predictions(use_case, by=by, rows=batch(0, 30))
    assert_exact()
    assert sum(counted().values()) == 30
    # Half re-sent (stored already), one repeated within the batch, and new rows on a new day.
    again = batch(15, 30) + batch(40, 1) + batch(50, 10, version="2.0", day=30)
    ingest.log_predictions(use_case, by=by, rows=again)
    assert_exact()
    assert sum(counted().values()) == 55


def test_counts_follow_bulk_create_updates_and_deletes(use_case, versions):
    v1, v2 = versions
    rows = log_predictions(v1, 100, segments={"north": 60, "south": 40})
    log_predictions(v2, 50, first=200)
    assert_exact()
    moved = [p.pk for p in rows[:10]]
    Prediction.objects.filter(pk__in=moved).update(segment="east")  # another segment
    assert_exact()
    Prediction.objects.filter(pk__in=moved[:5]).update(
        predicted_at=T0 - datetime.timedelta(days=3)  # another day
    )
    assert_exact()
    Prediction.objects.filter(pk=rows[50].pk).update(model_version=v2)  # another version
    assert_exact()
    Prediction.objects.filter(pk__in=[p.pk for p in rows[20:70]]).delete()
    assert_exact()
    Prediction.objects.filter(segment="east").delete()  # a whole segment: its rows go
    assert_exact()
    assert not SegmentCount.objects.filter(segment="east").exists()


def test_outcomes_and_threshold_changes_leave_the_counts_alone(use_case, personas, versions):
    by = personas["data_scientist"]
    ingest.log_predictions(use_case, by=by, rows=batch(0, 12))
    before = counted()
    outcomes = [
        {"request_id": f"req-{n}", "outcome": 11.0, "timestamp": "2026-04-01T00:00:00Z"}
        for n in range(6)
    ]
    ingest.attach_outcomes(use_case, by=by, rows=outcomes)
    recompute_confidences(use_case)
    assert counted() == before
    assert_exact()


def test_deleting_a_version_or_the_use_case_takes_its_counts(use_case, personas, versions):
    v1, v2 = versions
    log_predictions(v1, 40, segments={"a": 30, "b": 10})
    log_predictions(v2, 40, first=100)
    ModelVersion.objects.filter(pk=v2.pk).delete()
    assert_exact()
    assert set(counted()) and {key[0] for key in counted()} == {v1.pk}
    usecases.delete_use_case(use_case, by=personas["owner"])
    assert counted() == {} == grouped()


@pytest.mark.postgres
def test_counts_follow_a_raw_copy_and_a_truncate_on_postgresql(use_case, versions):
    """What bench/bench_review.py and bulk loads do: COPY straight into the log."""
    v1, _ = versions
    log_predictions(v1, 10)
    columns = (
        "use_case_id, model_version_id, request_id, predicted_at, features, prediction, "
        "segment, random_key, received_at"
    )
    copying = f"COPY reviews_prediction ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(copying) as copy:
        for n in range(300):
            at = T0 + datetime.timedelta(hours=7 * n)
            copy.write_row((use_case.pk, v1.pk, f"c{n}", at, "{}", "1", f"s{n % 4}", n / 300, at))
    assert_exact()
    assert sum(counted().values()) == 310
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending FK checks
        cursor.execute("TRUNCATE reviews_prediction CASCADE")
    assert counted() == {} == grouped()


# The counts and the pairs rest on triggers: a later migration that rebuilds the prediction
# table (SQLite rebuilds it for most column changes) would drop them without a word.
TRIGGERS = {
    "predictions_segment_count_add",
    "predictions_segment_count_take",
    "predictions_segment_count_move",
    "predictions_pair_add",
    "predictions_pair_take",
    "predictions_pair_redo",
}
TRUNCATE_TRIGGERS = {"predictions_segment_count_clear", "predictions_pair_clear"}


def test_the_triggers_that_keep_the_counts_and_pairs_exist_at_the_latest_migration(db):
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger "
                "WHERE tgrelid = 'reviews_prediction'::regclass AND NOT tgisinternal"
            )
            expected = TRIGGERS | TRUNCATE_TRIGGERS
        else:  # SQLite has no TRUNCATE
            cursor.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name = 'reviews_prediction'"
            )
            expected = TRIGGERS
        assert {name for (name,) in cursor.fetchall()} == expected
