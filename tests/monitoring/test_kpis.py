"""A day's KPIs are registry.metrics.evaluate on that day's logged predictions with outcomes,
the evaluations' resamples and seed, segment KPIs from its segments; checked against
scikit-learn for ROC AUC."""

import datetime

import numpy as np
import pytest
from django.db import connection
from sklearn.metrics import precision_score, roc_auc_score

from monitoring.services import kpis as kpi_service
from monitoring.services.kpis import day_kpis
from predictions.models import Prediction
from registry import metrics
from registry.services.evaluations import N_RESAMPLES, SEED
from tests.factories import KPIFactory, UseCaseFactory, make_version
from tests.monitoring.conftest import DAY, T0, log_day

pytestmark = pytest.mark.django_db


def the_days_rows(version):
    return [
        p
        for p in Prediction.objects.filter(model_version=version, outcome__isnull=False)
        if p.predicted_at.date() == DAY
    ]


def test_day_kpis_equal_evaluate_on_the_same_rows(deployed):
    log_day(deployed, 300)
    rows = the_days_rows(deployed)
    result = day_kpis(deployed, DAY)
    assert result.n_predictions == 300
    assert result.n_with_outcome == len(rows)
    expected = metrics.evaluate(
        "binary",
        np.array([p.outcome for p in rows], dtype=float),
        np.array([p.prediction for p in rows], dtype=float),
        score=np.array([p.score for p in rows]),
        segments=np.array([p.segment for p in rows], dtype=object),
        threshold=deployed.use_case.decision_threshold,
        value_model=deployed.use_case.value_model,
        n_resamples=N_RESAMPLES,
        seed=SEED,
    )
    by_metric = {v.kpi.metric: v for v in result.values}
    assert set(by_metric) == {"roc_auc", "precision", "log_loss"}
    for metric in ("roc_auc", "log_loss"):
        estimate = expected.metrics[metric]
        value = by_metric[metric]
        assert (value.value, value.low, value.high) == (estimate.value, estimate.low, estimate.high)
        assert value.n == len(rows)
    business = expected.segments["business"]
    precision = by_metric["precision"]  # the KPI of the business segment
    assert precision.value == business.metrics["precision"].value
    assert precision.n == business.rows
    assert precision.low is not None and precision.low <= precision.value <= precision.high


def test_day_roc_auc_and_segment_precision_match_scikit_learn(deployed):
    log_day(deployed, 400, seed=7)
    rows = the_days_rows(deployed)
    by_metric = {v.kpi.metric: v for v in day_kpis(deployed, DAY).values}
    truth = [p.outcome for p in rows]
    assert by_metric["roc_auc"].value == pytest.approx(
        roc_auc_score(truth, [p.score for p in rows]), abs=1e-12
    )
    business = [p for p in rows if p.segment == "business"]
    assert by_metric["precision"].value == pytest.approx(
        precision_score([p.outcome for p in business], [p.prediction for p in business]),
        abs=1e-12,
    )


def test_a_day_without_outcomes_has_kpis_without_values(deployed):
    log_day(deployed, 50, with_outcome=0.0)
    result = day_kpis(deployed, DAY)
    assert result.n_predictions == 50 and result.n_with_outcome == 0
    assert [(v.value, v.n) for v in result.values] == [(None, 0)] * 3


# On PostgreSQL the day is read as arrays by one query (kpis._read_sql); a day with values
# ingestion never stores is read row by row, the general way (SQLite's). Both must agree.


def figures(result) -> list[tuple]:
    return [(v.kpi.name, v.value, v.low, v.high, v.n) for v in result.values]


def general_way(monkeypatch) -> None:
    monkeypatch.setattr(kpi_service, "_found_arrays", lambda *args: None)


def test_the_array_read_and_the_general_read_agree(deployed, monkeypatch):
    log_day(deployed, 500, seed=11)
    Prediction.objects.filter(segment="retail", request_id__endswith="7").update(segment="")
    fast = day_kpis(deployed, DAY)
    assert fast.n_with_outcome and all(v.value is not None for v in fast.values)
    general_way(monkeypatch)
    again = day_kpis(deployed, DAY)
    assert (again.n_predictions, again.n_with_outcome) == (fast.n_predictions, fast.n_with_outcome)
    assert figures(again) == figures(fast)


def test_a_missing_score_drops_the_score_on_both_ways(deployed, monkeypatch):
    log_day(deployed, 200, seed=5)
    Prediction.objects.filter(request_id="q3").update(score=None)
    fast = day_kpis(deployed, DAY)
    general_way(monkeypatch)
    assert figures(day_kpis(deployed, DAY)) == figures(fast)


def test_values_ingestion_never_stores_are_read_the_general_way(deployed, monkeypatch):
    log_day(deployed, 300, seed=9)
    first, second = the_days_rows(deployed)[:2]
    Prediction.objects.filter(pk=first.pk).update(outcome=True)  # a JSON boolean
    Prediction.objects.filter(pk=second.pk).update(outcome="0")  # a numeric string
    rows = sorted(the_days_rows(deployed), key=lambda p: p.pk)
    general = []
    read_rows = kpi_service._arrays
    monkeypatch.setattr(kpi_service, "_arrays", lambda *a: general.append(1) or read_rows(*a))
    by_metric = {v.kpi.metric: v for v in day_kpis(deployed, DAY).values}
    assert general == [1]
    assert by_metric["roc_auc"].n == len(rows)
    assert by_metric["roc_auc"].value == pytest.approx(
        roc_auc_score([float(p.outcome) for p in rows], [p.score for p in rows]), abs=1e-12
    )


@pytest.mark.parametrize("task_type", ["regression", "multiclass"])
def test_regression_and_multiclass_days_agree_both_ways(personas, monkeypatch, task_type):
    use_case = UseCaseFactory(owner=personas["owner"], task_type=task_type)
    metric = "mae" if task_type == "regression" else "accuracy"
    direction = "lower" if task_type == "regression" else "higher"
    KPIFactory(use_case=use_case, metric=metric, direction=direction, target=1, gate_threshold=1)
    version = make_version(use_case, "1.0.0", personas["owner"])
    rng = np.random.default_rng(4)
    start = T0
    classes = ["cat", "dog", "owl"]
    Prediction.objects.bulk_create(
        Prediction(
            use_case_id=use_case.pk,
            model_version=version,
            request_id=f"r{i}",
            predicted_at=start + datetime.timedelta(seconds=60 * i),
            prediction=float(rng.normal(10, 2)) if task_type == "regression" else classes[i % 3],
            outcome=float(rng.normal(10, 2)) if task_type == "regression" else classes[i % 2],
            segment=["a", "b", ""][i % 3],
            random_key=float(rng.random()),
        )
        for i in range(240)
    )
    fast = day_kpis(version, DAY)
    assert fast.values[0].value is not None and fast.values[0].n == 240
    general_way(monkeypatch)
    assert figures(day_kpis(version, DAY)) == figures(fast)


@pytest.mark.postgres
def test_the_read_leaves_the_sessions_settings_as_they_were(deployed):
    log_day(deployed, 30)
    names = ("enable_seqscan", "jit", "work_mem")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '5MB'")
        cursor.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))
        before = cursor.fetchone()
    day_kpis(deployed, DAY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))
        assert cursor.fetchone() == before
    assert before[2] == "5MB"


@pytest.mark.postgres
def test_binary_arrays_are_read_as_numpy(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_send(ARRAY[1.5, -2, 1e300]::float8[]), array_send(ARRAY[7, -1]::int8[]),"
            " array_send(ARRAY[1, NULL]::float8[]), array_send('{}'::float8[])"
        )
        floats, ints, with_null, empty = cursor.fetchone()
    assert kpi_service._binary_array(floats).tolist() == [1.5, -2.0, 1e300]
    assert kpi_service._binary_array(ints).tolist() == [7, -1]
    assert kpi_service._binary_array(with_null) is None
    assert kpi_service._binary_array(empty).size == 0
