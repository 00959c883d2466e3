"""The demo's monitoring (demo/management/commands/_demo_monitoring.py): 30 days of the churn
use case's traffic ending yesterday, a drift of the production version's salary from day 20,
and that drift as the one alert. The demo is loaded once for the package (conftest.py)."""

import datetime

import pytest
from django.urls import reverse

from demo.management.commands import _demo_monitoring as demo_monitoring
from monitoring.models import (
    PREDICTION_FEATURE,
    Alert,
    DailyComparison,
    DailyDrift,
    DailyKPI,
    DailyRun,
)
from monitoring.services import jobs
from monitoring.services.alerts import kpi_crosses
from predictions.models import DailyTally, Prediction
from registry.models import ModelVersion

SLUG = demo_monitoring.SLUG
SALARY = demo_monitoring.DRIFTED_FEATURE
DAYS = demo_monitoring.DAYS
pytestmark = pytest.mark.django_db


def _days() -> list[datetime.date]:
    """Day 1 to day 30: the 30 UTC days ending yesterday."""
    yesterday = jobs.utc_today() - datetime.timedelta(days=1)
    return [yesterday - datetime.timedelta(days=DAYS - n) for n in range(1, DAYS + 1)]


def _deployed() -> dict[str, ModelVersion]:
    versions = ModelVersion.objects.filter(use_case__slug=SLUG, stage__in=jobs.DEPLOYED)
    return {version.version: version for version in versions}


def _psi(version: ModelVersion, feature: str) -> list[float]:
    drifts = DailyDrift.objects.filter(run__model_version=version, feature=feature)
    return list(drifts.order_by("run__day").values_list("psi", flat=True))


def test_every_deployed_version_has_30_succeeded_days_ending_yesterday(demo):
    deployed = _deployed()
    assert {v: version.stage for v, version in deployed.items()} == {
        "0.9.0": ModelVersion.Stage.PRODUCTION,
        "1.0.0": ModelVersion.Stage.SHADOW,
    }
    for version in deployed.values():
        runs = DailyRun.objects.filter(model_version=version).order_by("day")
        assert [run.day for run in runs] == _days()
        assert {run.status for run in runs} == {DailyRun.Status.SUCCEEDED}
        assert all(run.n_predictions >= 290 for run in runs)  # and the reviews' log
    # The grocery use case's versions are deployed too, but the demo monitors churn only.
    assert not DailyRun.objects.exclude(model_version__use_case__slug=SLUG).exists()


def test_the_shadow_logged_the_same_requests_as_production(demo):
    logged = Prediction.objects.filter(
        use_case__slug=SLUG, request_id__startswith=demo_monitoring.REQUEST_PREFIX
    )
    ids = {
        version: set(logged.filter(model_version__version=version).values_list("request_id"))
        for version in ("0.9.0", "1.0.0")
    }
    assert ids["0.9.0"] == ids["1.0.0"]
    assert 30 * 290 <= len(ids["0.9.0"]) <= 30 * 310


def test_every_day_of_the_shadow_is_compared_with_production(demo):
    deployed = _deployed()
    compared = DailyComparison.objects.filter(run__model_version=deployed["1.0.0"])
    assert [c.run.day for c in compared.order_by("run__day")] == _days()
    assert {c.baseline_id for c in compared} == {deployed["0.9.0"].pk}
    assert all(c.n_paired >= 290 and 0 < c.n_disagree < c.n_paired for c in compared)
    assert not DailyComparison.objects.filter(run__model_version=deployed["0.9.0"]).exists()


def test_the_salary_drifts_from_day_20_in_production_only(demo):
    deployed = _deployed()
    production = _psi(deployed["0.9.0"], SALARY)
    assert len(production) == DAYS
    before, after = production[: demo_monitoring.DRIFT_FROM_DAY - 1], production[19:]
    assert max(before) < 0.2, before
    assert min(after) > 0.2, after
    # The shadow's feature store still gives net salaries; nothing else drifts anywhere,
    # not the prediction nor the score either (the models do not use the salary).
    assert max(_psi(deployed["1.0.0"], SALARY)) < 0.2
    others = DailyDrift.objects.filter(run__model_version__use_case__slug=SLUG).exclude(
        feature=SALARY
    )
    assert others.filter(psi__gt=0.2).count() == 0
    features = set(others.values_list("feature", flat=True))
    assert {PREDICTION_FEATURE, "age", "balance", "country"} <= features


def test_the_one_alert_is_the_salary_drift_kept_open_by_the_later_days(demo):
    (alert,) = Alert.objects.filter(use_case__slug=SLUG)
    days = _days()
    assert (alert.kind, alert.subject, alert.status) == (Alert.Kind.DRIFT, SALARY, "open")
    assert alert.model_version.version == "0.9.0"
    assert (alert.day, alert.last_seen_day) == (days[19], days[-1])
    assert alert.value > alert.threshold == 0.2
    assert not Alert.objects.exclude(pk=alert.pk).exists()  # no KPI, quality, silence …


def test_the_days_old_enough_have_every_kpi_over_its_gate(demo):
    known = DAYS - demo_monitoring.OUTCOME_LAG_DAYS  # days 1 to 25 have outcomes
    for version in _deployed().values():
        runs = list(DailyRun.objects.filter(model_version=version).order_by("day"))
        assert all(run.n_with_outcome >= 290 for run in runs[:known])
        assert all(run.n_with_outcome == 0 for run in runs[known:])
        figures = DailyKPI.objects.filter(run__model_version=version).select_related("kpi", "run")
        kpis = version.use_case.kpis.count()
        assert figures.count() == kpis * DAYS
        with_values = [figure for figure in figures if figure.value is not None]
        assert len(with_values) == kpis * known
        assert {figure.run.day for figure in with_values} == set(_days()[:known])
        assert not [f for f in with_values if f.kpi.is_gating and kpi_crosses(f.kpi, f)]
    # On the same requests the challenger ranks better, as on the holdout.
    auc = {
        version: DailyKPI.objects.filter(
            run__model_version__version=version,
            run__model_version__use_case__slug=SLUG,
            kpi__metric="roc_auc",
            value__isnull=False,
        ).values_list("value", flat=True)
        for version in ("0.9.0", "1.0.0")
    }
    assert sum(auc["1.0.0"]) > sum(auc["0.9.0"])


def test_ingestion_counted_the_traffic_clean_with_no_refused_row(demo):
    for version in _deployed().values():
        runs = {run.day: run for run in DailyRun.objects.filter(model_version=version)}
        tallies = DailyTally.objects.filter(model_version=version, day__in=runs)
        assert tallies.count() == DAYS
        for tally in tallies:
            assert tally.rows_checked == runs[tally.day].n_predictions
            assert tally.rows_violating == 0
    received = DailyTally.objects.filter(use_case__slug=SLUG, model_version=None)
    assert sum(received.values_list("rows_refused", flat=True)) == 0


def test_the_monitoring_tab_and_the_salary_drill_down_show_it(demo, users, client):
    client.force_login(users["olivia"])
    tab = client.get(reverse("monitoring:tab", kwargs={"slug": SLUG}) + "?version=0.9.0")
    assert tab.status_code == 200
    html = tab.content.decode()
    alerts = html.split('id="alerts"')[1].split("</section>")[0]
    assert "Drift · salary" in alerts and "Open" in alerts
    url = reverse("monitoring:drift_feature", kwargs={"slug": SLUG, "feature": SALARY})
    drill = client.get(url + "?version=0.9.0")
    assert drill.status_code == 200
    assert "salary" in drill.content.decode()
