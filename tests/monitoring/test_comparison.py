"""A shadow or canary version against production on the same requests, per UTC day:
disagreement before outcomes, each KPI's paired difference with its interval once outcomes
arrive (monitoring/services/comparison.py), stored by the daily job."""

from __future__ import annotations

import datetime
import random

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from sklearn.metrics import log_loss, precision_score, roc_auc_score

from monitoring.models import DailyComparison, DailyDifference
from monitoring.services import comparison, jobs
from predictions.models import Prediction
from promotions.models import StageChange
from registry.models import ModelVersion
from tests.conftest import login
from tests.factories import KPIFactory, UseCaseFactory, make_version
from tests.monitoring.conftest import DAY, log_day

pytestmark = pytest.mark.django_db
Stage = ModelVersion.Stage


@pytest.fixture
def shadow(churn, personas, deployed) -> ModelVersion:
    version = make_version(churn, "2.0.0", personas["owner"])
    ModelVersion.objects.filter(pk=version.pk).update(stage=Stage.SHADOW)
    version.refresh_from_db()
    return version


def shadow_copy(production: list[Prediction], shadow: ModelVersion, *, flip_every: int = 0):
    """The shadow's predictions of the same requests: production's score moved a little
    (seeded), its class flipped on every `flip_every`-th row; outcomes as logged."""
    rng = random.Random(11)
    rows = []
    for i, row in enumerate(production):
        score = row.score
        if flip_every:
            score = min(max(score + rng.gauss(0.05 if row.outcome == 1 else -0.05, 0.1), 0), 1)
        prediction = row.prediction
        if flip_every and i % flip_every == 0:
            prediction = 1 - prediction
        rows.append(
            Prediction(
                use_case_id=row.use_case_id,
                model_version=shadow,
                request_id=row.request_id,
                predicted_at=row.predicted_at,
                features=row.features,
                prediction=prediction,
                score=score,
                segment=row.segment,
                random_key=row.random_key,
                outcome=row.outcome,
                error=row.error,
            )
        )
    return Prediction.objects.bulk_create(rows)


def in_day(rows: list[Prediction]) -> list[Prediction]:
    start = datetime.datetime.combine(DAY, datetime.time(), tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=1)
    return [r for r in rows if start <= r.predicted_at < end]


def test_disagreement_counts_the_paired_requests_of_the_day_only(deployed, shadow):
    production = log_day(deployed, 300, with_outcome=0.0)
    shadow_rows = shadow_copy(production, shadow, flip_every=7)
    log_day(shadow, 40, prefix="only-shadow", seed=5)  # requests production never saw
    result = comparison.day_comparison(shadow, DAY)
    paired = in_day(shadow_rows)
    flipped = sum(
        1 for a, b in zip(shadow_rows, production, strict=True) if a.prediction != b.prediction
    )
    flipped_in_day = sum(
        1
        for a, b in zip(shadow_rows, production, strict=True)
        if a in paired and a.prediction != b.prediction
    )
    assert flipped > flipped_in_day > 0  # the rows outside the day flip too
    assert result.baseline == deployed
    assert (result.n_paired, result.n_disagree) == (len(paired), flipped_in_day)
    assert result.n_with_outcome == 0
    assert all(d.difference is None for d in result.differences)  # no outcome yet


def test_each_kpis_paired_difference_matches_scikit_learn_on_the_paired_rows(deployed, shadow):
    production = log_day(deployed, 600)
    shadow_rows = shadow_copy(production, shadow, flip_every=5)
    result = comparison.day_comparison(shadow, DAY)
    known = [
        (p, s) for p, s in zip(production, shadow_rows, strict=True) if s in in_day(shadow_rows)
    ]
    known = [(p, s) for p, s in known if p.outcome is not None]
    assert result.n_with_outcome == len(known)
    truth = np.array([p.outcome for p, _ in known])
    mine = np.array([s.score for _, s in known])
    theirs = np.array([p.score for p, _ in known])
    by_name = {d.kpi.name: d for d in result.differences}

    auc = by_name["Ranking quality"]
    expected = roc_auc_score(truth, mine) - roc_auc_score(truth, theirs)
    assert auc.difference == pytest.approx(expected, abs=1e-9)
    assert auc.challenger == pytest.approx(roc_auc_score(truth, mine), abs=1e-9)
    assert auc.low < auc.difference < auc.high and auc.n == len(known)

    calibration = by_name["Calibration"]
    expected = log_loss(truth, mine) - log_loss(truth, theirs)
    assert calibration.difference == pytest.approx(expected, rel=1e-6)

    # A segment's KPI on that segment's paired rows, the class from the score at 0.5.
    business = [(p, s) for p, s in known if p.segment == "business"]
    t = np.array([p.outcome for p, _ in business])
    precision = by_name["Precision on business clients"]
    expected = precision_score(
        t, [int(s.score >= 0.5) for _, s in business], zero_division=0
    ) - precision_score(t, [int(p.score >= 0.5) for p, _ in business], zero_division=0)
    assert precision.difference == pytest.approx(expected, abs=1e-9)
    assert precision.n == len(business)


def test_an_identical_challenger_differs_by_nothing_with_p_one(deployed, shadow):
    shadow_copy(log_day(deployed, 300), shadow)
    result = comparison.day_comparison(shadow, DAY)
    assert result.n_disagree == 0
    for difference in result.differences:
        assert difference.difference == 0 and difference.p_value == 1


def test_a_day_without_a_request_both_logged_stores_no_comparison_and_the_tab_says_why(
    client, personas, deployed, shadow, enqueued, monkeypatch
):
    monkeypatch.setattr(jobs, "day_drifts", lambda version, day: [])
    log_day(deployed, 50)
    log_day(shadow, 50, prefix="other")  # other request ids
    assert comparison.day_comparison(shadow, DAY) is None
    assert jobs.run_day(shadow.pk, DAY) is True
    assert not DailyComparison.objects.exists()
    login(client, personas, "viewer")
    page = client.get(tab(shadow, DAY, 1)).content.decode()
    assert 'id="comparison-empty"' in page


def test_a_multiclass_production_class_unseen_elsewhere_still_gives_differences(personas):
    use_case = UseCaseFactory(slug="tickets", task_type="multiclass", owner=personas["owner"])
    KPIFactory(
        use_case=use_case,
        name="Accuracy",
        metric="accuracy",
        direction="higher",
        target=0.9,
        gate_threshold=0.8,
    )
    production, challenger = (make_version(use_case, v, personas["owner"]) for v in "12")
    ModelVersion.objects.filter(pk=production.pk).update(stage=Stage.PRODUCTION)
    ModelVersion.objects.filter(pk=challenger.pk).update(stage=Stage.SHADOW)
    start = datetime.datetime.combine(DAY, datetime.time(1), tzinfo=datetime.UTC)
    rows = []
    for i in range(100):
        truth = "ab"[i % 2]
        for version, said in ((production, "c" if i == 0 else truth), (challenger, truth)):
            rows.append(
                Prediction(
                    use_case=use_case,
                    model_version=version,
                    request_id=f"t{i}",
                    predicted_at=start,
                    prediction=said,
                    random_key=0.5,
                    outcome=truth,
                )
            )
    Prediction.objects.bulk_create(rows)
    challenger.refresh_from_db()
    result = comparison.day_comparison(challenger, DAY)
    assert (result.n_paired, result.n_disagree) == (100, 1)
    [accuracy] = result.differences
    assert accuracy.difference == pytest.approx(0.01) and accuracy.n == 100


def test_production_itself_and_a_use_case_without_production_have_no_comparison(deployed, shadow):
    assert comparison.day_comparison(deployed, DAY) is None
    ModelVersion.objects.filter(pk=deployed.pk).update(stage=Stage.ARCHIVED)
    assert comparison.day_comparison(shadow, DAY) is None


def test_the_baseline_is_the_version_in_production_at_the_end_of_the_day(
    deployed, shadow, personas
):
    # The shadow was promoted the day after: on DAY, the old production is its baseline.
    for version, to_stage, when in (
        (deployed, Stage.PRODUCTION, DAY - datetime.timedelta(days=3)),
        (shadow, Stage.PRODUCTION, DAY + datetime.timedelta(days=1)),
    ):
        StageChange.objects.create(
            use_case=version.use_case,
            model_version=version,
            from_stage=Stage.SHADOW,
            to_stage=to_stage,
            changed_by=personas["owner"],
            changed_at=datetime.datetime.combine(when, datetime.time(9), tzinfo=datetime.UTC),
        )
    ModelVersion.objects.filter(pk=deployed.pk).update(stage=Stage.ARCHIVED)
    ModelVersion.objects.filter(pk=shadow.pk).update(stage=Stage.PRODUCTION)
    assert comparison.baseline_on(shadow, DAY) == deployed
    assert comparison.baseline_on(shadow, DAY + datetime.timedelta(days=1)) is None
    # Before the history's first production, nothing was in production: no baseline, even
    # though a version is in production now.
    assert comparison.baseline_on(shadow, DAY - datetime.timedelta(days=5)) is None


def test_regression_disagrees_beyond_five_percent_and_gives_the_mean_gap():
    pairs = comparison._Pairs(challenger=[100.0, 0.0, 10.0, -50], baseline=[104.0, 0, 11.0, -60])
    # 4 % apart agrees, two zeros agree, 9 % and 17 % apart disagree.
    assert comparison._disagreement(pairs, "regression") == (2, pytest.approx((4 + 0 + 1 + 10) / 4))
    classes = comparison._Pairs(challenger=[1, "a", 1.0], baseline=[1.0, "b", 0])
    assert comparison._disagreement(classes, "binary") == (2, None)


def test_the_daily_job_stores_one_comparison_per_day_and_a_rerun_replaces_it(
    deployed, shadow, enqueued, monkeypatch
):
    monkeypatch.setattr(jobs, "day_drifts", lambda version, day: [])
    shadow_copy(log_day(deployed, 200), shadow, flip_every=4)
    assert jobs.run_day(shadow.pk, DAY) is True
    first = DailyComparison.objects.get(run__model_version=shadow)
    assert first.baseline == deployed and first.baseline_label == "1.0.0"
    assert first.n_disagree > 0 and 0 < first.disagreement_rate < 1
    assert DailyDifference.objects.filter(comparison=first).count() == 3
    jobs.request_days(shadow, [DAY])
    assert jobs.run_day(shadow.pk, DAY) is True
    again = DailyComparison.objects.get(run__model_version=shadow)
    assert again.pk != first.pk and again.n_paired == first.n_paired
    assert DailyDifference.objects.count() == 3
    assert jobs.run_day(deployed.pk, DAY) is True
    assert not DailyComparison.objects.filter(run__model_version=deployed).exists()


# The Monitoring tab's comparison section


def store_compared_days(shadow, production, days, *, better_from: int = 0) -> None:
    """One succeeded run per day with a comparison, as the job stores it: a disagreement of
    (i + 1) % and each KPI's difference, wholly better from day index `better_from` on."""
    kpis = list(shadow.use_case.kpis.order_by("name"))
    for i, day in enumerate(days):
        sign = 1 if i >= better_from else 0
        differences = [
            comparison.KPIDifference(
                kpi,
                challenger=0.8,
                baseline=0.8 - 0.02 * sign,
                difference=0.02 * sign,
                low=0.02 * sign - 0.01,
                high=0.02 * sign + 0.01,
                p_value=0.01 if sign else 1.0,
                n=400,
            )
            for kpi in kpis
        ]
        compared = comparison.DayComparison(
            baseline=production,
            n_paired=1000,
            n_disagree=10 * (i + 1),
            n_with_outcome=400,
            differences=differences,
        )
        token = jobs.claim_run(shadow.pk, day)
        run = jobs.DailyRun.objects.get(model_version=shadow, day=day)
        jobs.store_day(
            run.pk,
            token,
            kpis=jobs.kpi_service.DayKPIs(1000, 400, []),
            quality=jobs.quality_service.DayQuality(),
            drifts=[],
            compared=compared,
        )


def tab(version, start: datetime.date, days: int) -> str:
    end = start + datetime.timedelta(days=days - 1)
    return f"/usecases/churn/monitoring/?version={version.version}&start={start}&end={end}"


def test_the_tab_shows_the_challenger_against_production(client, personas, deployed, shadow):
    days = [DAY + datetime.timedelta(days=i) for i in range(4)]
    store_compared_days(shadow, deployed, days, better_from=2)
    login(client, personas, "viewer")
    response = client.get(tab(shadow, DAY, 4))
    page = response.content.decode()
    assert "against 1.0.0 in production" in page and "4 days with paired requests" in page
    summary = {row["kpi"].name: row for row in response.context["comparison_summary"]}
    auc = summary["Ranking quality"]
    assert (auc["better"], auc["worse"], auc["unclear"]) == (2, 0, 2)
    assert auc["verdict"] == "better" and auc["difference"] == "+0.020"
    calibration = summary["Calibration"]  # log loss: lower is better, so a rise is worse
    assert (calibration["better"], calibration["worse"]) == (0, 2)
    charts = response.context["comparison_charts"]
    rates = charts["disagreement"]["figure"]["data"][0]["y"]
    assert rates == pytest.approx([0.01, 0.02, 0.03, 0.04])
    first = charts["differences"][0]["figure"]["data"][0]
    assert first["y"] == pytest.approx([0, 0, 0.02, 0.02])
    assert first["error_y"]["array"] == pytest.approx([0.01] * 4)


def test_a_shadow_without_pairs_and_production_say_what_the_comparison_needs(
    client, personas, deployed, shadow
):
    login(client, personas, "viewer")
    page = client.get(tab(shadow, DAY, 3)).content.decode()
    assert 'id="comparison-empty"' in page and "same request ids" in page
    page = client.get(tab(deployed, DAY, 3)).content.decode()
    assert 'id="comparison-none"' in page and "Compare 2.0.0 (shadow)" in page


def test_the_comparison_costs_the_same_queries_for_5_or_30_days(client, personas, deployed, shadow):
    store_compared_days(shadow, deployed, [DAY + datetime.timedelta(days=i) for i in range(30)])
    login(client, personas, "viewer")
    counts = []
    for days in (5, 30):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(tab(shadow, DAY, days)).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_the_api_lists_each_challenger_day_with_its_differences(api, deployed, shadow):
    store_compared_days(shadow, deployed, [DAY + datetime.timedelta(days=i) for i in range(3)])
    url = "/api/v1/usecases/churn/monitoring/comparison/"
    body = api("viewer").get(f"{url}?version=2.0.0&start={DAY}").json()
    assert body["count"] == 3
    first = body["results"][0]
    assert (first["version"], first["stage"], first["baseline"]) == ("2.0.0", "shadow", "1.0.0")
    assert (first["n_paired"], first["n_disagree"], first["disagreement_rate"]) == (1000, 10, 0.01)
    assert [d["name"] for d in first["differences"]] == [
        "Calibration",
        "Precision on business clients",
        "Ranking quality",
    ]
    assert api("viewer").get(f"{url}?version=1.0.0").json()["count"] == 0
    assert api("viewer").get(f"{url}?version=9.9.9").status_code == 400


def test_the_comparison_api_costs_the_same_queries_for_3_or_30_days(api, deployed, shadow):
    client = api("viewer")
    url = "/api/v1/usecases/churn/monitoring/comparison/?page_size=50"

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    store_compared_days(shadow, deployed, [DAY + datetime.timedelta(days=i) for i in range(3)])
    few = count()
    later = [DAY + datetime.timedelta(days=i) for i in range(3, 30)]
    store_compared_days(shadow, deployed, later)
    assert count() == few


def test_a_version_name_is_plain_text_in_the_comparison_charts():
    import json

    from monitoring import charts_comparison
    from monitoring.selectors import Comparison

    name = '<a href="https://x">v</a>'
    row = {"day": DAY, "baseline_label": name, "n_paired": 10, "n_disagree": 2}
    data = Comparison(days=[{**row, "pk": 1, "n_with_outcome": 5, "mean_abs_difference": 0.1}])
    data.days[0]["rate"] = 0.2
    figure = json.dumps(charts_comparison.disagreement_chart(data, [DAY])["figure"])
    assert "<a" not in figure and "&lt;a href" in figure
