"""A day's KPIs are registry.metrics.evaluate on that day's logged predictions with outcomes,
the evaluations' resamples and seed, segment KPIs from its segments; checked against
scikit-learn for ROC AUC."""

import numpy as np
import pytest
from sklearn.metrics import precision_score, roc_auc_score

from monitoring.services.kpis import day_kpis
from predictions.models import Prediction
from registry import metrics
from registry.services.evaluations import N_RESAMPLES, SEED
from tests.monitoring.conftest import DAY, log_day

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
