"""PredictionPair, what disagreement sampling reads: exactly the pairs a join of the log with
itself gives, after every path that writes the log (triggers of predictions 0010), and the
ranking in the database equal to disagreement() in Python for every task type."""

import datetime
import random
import threading

import pytest
from django.db import connection, connections

from predictions.models import Prediction, PredictionPair
from predictions.services import ingest
from registry.models import ModelVersion
from reviews.services import sampling
from tests.factories import T0, log_predictions, make_version
from usecases.services import usecases

pytestmark = pytest.mark.django_db


def joined() -> dict[tuple, tuple]:
    """What PredictionPair must hold: every two versions' predictions of one request."""
    rows = list(
        Prediction.objects.values_list(
            "id",
            "use_case_id",
            "model_version_id",
            "request_id",
            "score",
            "prediction",
            "random_key",
            "predicted_at",
        )
    )
    by_request: dict[tuple, list] = {}
    for row in rows:
        by_request.setdefault((row[1], row[3]), []).append(row)
    expected = {}
    for group in by_request.values():
        for a in group:
            for b in group:
                if a[2] == b[2]:
                    continue
                numbers = all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in (a[5], b[5])
                )
                expected[(a[0], b[0])] = (
                    a[2],
                    b[2],
                    a[6],
                    a[7],
                    None if a[4] is None or b[4] is None else pytest.approx(abs(a[4] - b[4])),
                    pytest.approx(abs(a[5] - b[5])) if numbers else None,
                    a[5] != b[5],
                )
    return expected


def stored() -> dict[tuple, tuple]:
    rows = PredictionPair.objects.values_list(
        "prediction_id",
        "other_prediction_id",
        "model_version_id",
        "other_version_id",
        "random_key",
        "predicted_at",
        "score_gap",
        "value_gap",
        "differ",
    )
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def assert_exact():
    assert stored() == joined()


@pytest.fixture
def versions(use_case, personas):
    by = personas["owner"]
    return tuple(make_version(use_case, name, by) for name in ("1.0", "2.0", "3.0"))


def batch(first: int, count: int, version: str, shift: float = 0.0) -> list[dict]:
    return [
        {
            "version": version,
            "request_id": f"req-{n}",
            "timestamp": "2026-03-31T14:05:00Z",
            "features": {"store": "S01", "price": 2.5},
            "prediction": 10.0 + n + shift,
            "segment": "north",
        }
        for n in range(first, first + count)
    ]


def test_pairs_follow_ingestion_in_any_order_and_ignore_rows_sent_again(
    use_case, personas, versions
):
    by = personas["data_scientist"]
    ingest.log_predictions(use_case, by=by, rows=batch(0, 20, "1.0"))
    assert not PredictionPair.objects.exists()
    ingest.log_predictions(use_case, by=by, rows=batch(10, 20, "2.0", shift=3))
    assert_exact()
    assert PredictionPair.objects.count() == 2 * 10
    # Both versions' rows of new requests in one batch, and rows sent again.
    both = batch(40, 5, "1.0") + batch(40, 5, "3.0", shift=0.5) + batch(0, 20, "1.0")
    ingest.log_predictions(use_case, by=by, rows=both)
    assert_exact()
    assert PredictionPair.objects.count() == 2 * 10 + 2 * 5


def test_pairs_follow_bulk_create_updates_and_deletes(use_case, personas, versions):
    v1, v2, v3 = versions
    log_predictions(v1, 60)
    rows2 = log_predictions(v2, 60, first=30, seed=2)
    log_predictions(v3, 20, first=50, errors=[0.1] * 20, seed=3)
    assert_exact()
    Prediction.objects.filter(pk=rows2[0].pk).update(score=0.123, prediction=0)
    Prediction.objects.filter(pk=rows2[1].pk).update(request_id="r-elsewhere")
    Prediction.objects.filter(pk=rows2[2].pk).update(model_version=v3)  # now v3 and v1 share r32
    Prediction.objects.filter(pk__in=[p.pk for p in rows2[3:6]]).update(
        random_key=0.5, predicted_at=T0 - datetime.timedelta(days=1)
    )
    assert_exact()
    Prediction.objects.filter(pk__in=[p.pk for p in rows2[10:40]]).delete()
    assert_exact()
    ModelVersion.objects.filter(pk=v3.pk).delete()
    assert_exact()
    usecases.delete_use_case(use_case, by=personas["owner"])
    assert not PredictionPair.objects.exists()


def test_outcomes_leave_the_pairs_alone(use_case, personas, versions):
    by = personas["data_scientist"]
    ingest.log_predictions(use_case, by=by, rows=batch(0, 10, "1.0") + batch(0, 10, "2.0", 1))
    before = stored()
    outcomes = [
        {"request_id": f"req-{n}", "outcome": 11.0, "timestamp": "2026-04-01T00:00:00Z"}
        for n in range(10)
    ]
    ingest.attach_outcomes(use_case, by=by, rows=outcomes)
    assert stored() == before
    assert_exact()


@pytest.mark.parametrize("task_type", ["binary", "multiclass", "regression"])
def test_ranking_in_the_database_equals_disagreement(use_case, personas, versions, task_type):
    """Every pair in the pool (fewer than DISAGREEMENT_POOL_MIN): the n chosen are the n
    largest disagreement() values, whatever the task type, scores missing or not."""
    use_case.task_type = task_type
    use_case.save(update_fields=["task_type"])
    v1, v2, _ = versions
    rng = random.Random(5)
    made = []
    for version in (v1, v2):
        for n in range(80):
            score = None if n % 7 == 0 else round(rng.random(), 3)
            if task_type == "multiclass":
                value = rng.choice(["cat", "dog", "fox"])
            elif task_type == "binary":
                value = rng.choice([0, 1])
            else:
                value = round(rng.uniform(0, 50), 2) if n % 11 else "n/a"
            made.append(
                Prediction(
                    use_case=use_case,
                    model_version=version,
                    request_id=f"r{n}",
                    predicted_at=T0,
                    prediction=value,
                    score=score,
                    segment="",
                    random_key=rng.random(),
                )
            )
    Prediction.objects.bulk_create(made)
    mine = {p.request_id: p for p in Prediction.objects.filter(model_version=v2)}
    theirs = {p.request_id: p for p in Prediction.objects.filter(model_version=v1)}
    values = sorted(
        (sampling.disagreement(mine[r], theirs[r], task_type) for r in mine), reverse=True
    )
    picked = sampling.sample_predictions(
        v2, other_version=v1, strategy="disagreement", sample_size=15
    )
    by_id = {p.pk: p for p in Prediction.objects.all()}
    got = sorted(
        (sampling.disagreement(by_id[a], by_id[b], task_type) for a, b in picked), reverse=True
    )
    assert got == pytest.approx(values[:15])
    assert all(by_id[a].request_id == by_id[b].request_id for a, b in picked)


def test_disagreement_pool_is_a_uniform_run_that_wraps_around(
    use_case, personas, versions, monkeypatch
):
    """With a pool smaller than the pairs, the chosen come from the pool_size pairs that
    follow the random start in random_key order, wrapping around the end."""
    v1, v2, _ = versions
    log_predictions(v1, 300)
    mine = log_predictions(v2, 300, seed=9)
    monkeypatch.setattr(sampling, "DISAGREEMENT_POOL_MIN", 40)
    monkeypatch.setattr(sampling, "DISAGREEMENT_POOL", 4)
    start = 0.97
    rng = random.Random(1)
    rng.random = lambda: start
    picked = sampling.sample_predictions(
        v2, other_version=v1, strategy="disagreement", sample_size=10, rng=rng
    )
    order = sorted(mine, key=lambda p: (p.random_key < start, p.random_key))
    pool = {p.pk for p in order[:40]}
    assert len(picked) == 10 and {a for a, _ in picked} <= pool


def test_a_disagreement_window_takes_its_start_and_leaves_its_end(use_case, personas, versions):
    """[start, end): a pair logged at the very start is in, one at the very end is out (on
    SQLite too, where the bounds must be written as the column stores times)."""
    v1, v2, _ = versions
    log_predictions(v1, 20)
    mine = log_predictions(v2, 20, seed=9)
    start, end = T0 + datetime.timedelta(hours=5), T0 + datetime.timedelta(hours=10)
    picked = sampling.sample_predictions(
        v2,
        other_version=v1,
        strategy="disagreement",
        sample_size=5,
        window_start=start,
        window_end=end,
    )
    inside = {p.pk for p in mine if start <= p.predicted_at < end}
    assert len(inside) == 5 and {a for a, _ in picked} == inside


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_two_versions_miss_no_pair(use_case, personas, versions):
    """Champion and challenger batches of the same requests, committed at the same time:
    the later one's trigger waits for the earlier one and pairs them."""
    by = personas["data_scientist"]
    barrier = threading.Barrier(2)
    errors = []

    def send(version: str) -> None:
        try:
            barrier.wait()
            ingest.log_predictions(use_case, by=by, rows=batch(0, 300, version))
        except Exception as error:  # pragma: no cover - shown by the assertion
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(v,)) for v in ("1.0", "2.0")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    connection.ensure_connection()
    assert PredictionPair.objects.count() == 600
    assert_exact()


def test_pairwise_uniform_sample_is_the_run_of_pairs_after_the_start(
    use_case, personas, versions, monkeypatch
):
    """As for one version: n drawn from the RUN_FACTOR·n pairs that follow the start in the
    version's random_key order, wrapping around; only requests both versions predicted."""
    v1, v2, _ = versions
    log_predictions(v1, 100, first=50)
    mine = log_predictions(v2, 150, seed=4)  # r0…r49 have no twin
    start = 0.98
    rng = random.Random(3)
    draws = iter([start])
    rng.random = lambda: next(draws, 0.5)
    picked = sampling.sample_predictions(
        v2, other_version=v1, mode="pairwise", sample_size=10, rng=rng
    )
    twins = [p for p in mine if int(p.request_id[1:]) >= 50]
    order = sorted(twins, key=lambda p: (p.random_key < start, p.random_key))
    run = {p.pk for p in order[: sampling.RUN_FACTOR * 10]}
    assert len({a for a, _ in picked}) == 10 and {a for a, _ in picked} <= run
    by_id = Prediction.objects.in_bulk([pk for pair in picked for pk in pair])
    assert all(by_id[a].request_id == by_id[b].request_id for a, b in picked)
    assert all(by_id[b].model_version_id == v1.pk for _, b in picked)
