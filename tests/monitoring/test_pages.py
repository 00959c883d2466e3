"""The Monitoring tab and its drift drill-down: who sees them, that the charts show the stored
figures, the empty states, and a number of queries that does not grow with days or features.
Runs are stored as the job stores them (jobs.claim_run + jobs.store_day)."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.drift import categorical_drift_from_values, numeric_drift_from_values
from monitoring.models import (
    PREDICTION_FEATURE,
    Alert,
    DailyDrift,
    DailyKPI,
    DailyQuality,
    DailyRun,
)
from monitoring.services.jobs import claim_run, store_day, utc_today
from monitoring.services.kpis import DayKPIs, KPIValue
from monitoring.services.quality import DayQuality, RuleFigure
from portal.plotting import plain
from registry.models import ModelVersion
from tests.conftest import PERSONAS, login
from tests.factories import MemberFactory, RuleFactory, make_version

START = datetime.date(2026, 3, 1)
PLANS = ("basic", "plus", "pro")


def days_from(start: datetime.date, count: int) -> list[datetime.date]:
    return [start + datetime.timedelta(days=i) for i in range(count)]


def monitor_days(
    version: ModelVersion,
    days: list[datetime.date],
    *,
    drift_from: int | None = None,
    features: int = 2,
    n: int = 1500,
    seed: int = 0,
) -> None:
    """Store one succeeded run per day as the job does: every KPI of the use case (decaying
    once drift starts), `features` numeric features plus a plan and the prediction, the
    use case's rules, and refusals. From day index `drift_from` on, the features shift."""
    rng = np.random.default_rng(seed)
    kpis = list(version.use_case.kpis.all())
    rules = list(version.use_case.data_quality_rules.all())
    reference = {f"feature_{k}": rng.normal(50, 10, n) for k in range(features)}
    plans = rng.choice(PLANS, n, p=[0.5, 0.3, 0.2])
    scores = rng.beta(2, 5, n)
    for i, day in enumerate(days):
        shift = drift_from is not None and i >= drift_from
        drifts = [
            numeric_drift_from_values(name, values, rng.normal(56 if shift else 50, 10, n))
            for name, values in reference.items()
        ]
        live_plans = rng.choice(PLANS, n, p=[0.3, 0.3, 0.4] if shift else [0.5, 0.3, 0.2])
        drifts.append(categorical_drift_from_values("plan", plans, live_plans))
        drifts.append(
            numeric_drift_from_values(PREDICTION_FEATURE, scores, rng.beta(2, 4 if shift else 5, n))
        )
        values = []
        for kpi in kpis:
            base = kpi.target + (0.06 if kpi.direction == "lower" else -0.06) * (2 if shift else 0)
            value = float(base + rng.normal(0, 0.01))
            values.append(KPIValue(kpi, value, value - 0.03, value + 0.03, n // 2))
        refused = int(rng.integers(0, 20))
        quality = DayQuality(
            rows_checked=n,
            rows_violating=i,
            rows_received=n + refused,
            rows_refused=refused,
            rules=[RuleFigure(rule, n, i + k) for k, rule in enumerate(rules)],
        )
        token = claim_run(version.pk, day)
        run = DailyRun.objects.get(model_version=version, day=day)
        store_day(run.pk, token, kpis=DayKPIs(n, n // 2, values), quality=quality, drifts=drifts)


@pytest.fixture
def production(churn, personas) -> ModelVersion:
    MemberFactory(use_case=churn, user=personas["expert"], role="expert")  # every persona
    version = make_version(churn, "1.0.0", personas["owner"])
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    version.refresh_from_db()
    return version


def tab_url(version: ModelVersion | None = None, start=START, days: int = 30) -> str:
    url = "/usecases/churn/monitoring/"
    end = start + datetime.timedelta(days=days - 1)
    query = f"start={start}&end={end}"
    if version is not None:
        query = f"version={version.version}&{query}"
    return f"{url}?{query}"


def chart_data(response, chart_id: str) -> dict:
    """The figure a page emitted with json_script for `chart_id`."""
    for chart in _charts(response.context):
        if chart and chart["id"] == chart_id:
            return chart["figure"]
    raise AssertionError(f"no chart {chart_id}")


def _charts(context) -> list[dict]:
    charts = context["charts"]
    return [*charts.get("kpis", []), *(v for k, v in charts.items() if k != "kpis")]


# Who sees the pages


@pytest.mark.parametrize("who", PERSONAS)
def test_every_member_and_global_role_sees_the_tab_and_outsiders_do_not(
    client, personas, production, who
):
    monitor_days(production, days_from(START, 2))
    drift = "/usecases/churn/monitoring/drift/plan/?version=1.0.0"
    for url in (tab_url(), drift):
        response = login(client, personas, who).get(url)
        expected = {"anonymous": 302, "outsider": 404}.get(who, 200)
        assert response.status_code == expected, url


def test_the_use_case_header_links_the_tab(client, personas, production):
    response = login(client, personas, "viewer").get(tab_url())
    assert b'href="/usecases/churn/monitoring/" aria-current="page">Monitoring</a>' in (
        response.content
    )


def test_a_version_that_is_not_monitored_is_not_found(client, personas, churn):
    make_version(churn, "0.9.0", personas["owner"])  # registered, no runs
    response = login(client, personas, "viewer").get("/usecases/churn/monitoring/?version=0.9.0")
    assert response.status_code == 404


# The picker and the period


def test_deployed_versions_come_first_then_the_others_with_runs(client, personas, churn):
    names = {}
    for name, stage in (
        ("0.8.0", ModelVersion.Stage.ARCHIVED),
        ("1.0.0", ModelVersion.Stage.SHADOW),
        ("1.1.0", ModelVersion.Stage.PRODUCTION),
        ("1.2.0", ModelVersion.Stage.CANARY),
        ("0.1.0", ModelVersion.Stage.REGISTERED),  # no runs: not offered
    ):
        version = make_version(churn, name, personas["owner"])
        ModelVersion.objects.filter(pk=version.pk).update(stage=stage)
        names[name] = version
    monitor_days(names["0.8.0"], days_from(START, 1))
    response = login(client, personas, "viewer").get("/usecases/churn/monitoring/")
    assert [v.version for v in response.context["versions"]] == [
        "1.1.0",
        "1.2.0",
        "1.0.0",
        "0.8.0",
    ]
    assert response.context["version"].version == "1.1.0"


def test_the_period_is_the_last_30_days_by_default_and_kept_in_the_form(
    client, personas, production
):
    response = login(client, personas, "viewer").get("/usecases/churn/monitoring/")
    period = response.context["period"]
    assert period.end == utc_today() - datetime.timedelta(days=1)  # the last nightly run
    assert len(period.days) == 30
    response = client.get(tab_url(production, days=5))
    assert len(response.context["period"].days) == 5
    assert b'name="start" value="2026-03-01"' in response.content
    assert b'name="end" value="2026-03-05"' in response.content
    swapped = client.get("/usecases/churn/monitoring/?start=2026-03-05&end=2026-03-01")
    assert swapped.context["period"].start == START
    nonsense = client.get("/usecases/churn/monitoring/?start=soon&end=2026-13-45")
    assert len(nonsense.context["period"].days) == 30


# The charts show the stored figures


def test_the_kpi_charts_hold_each_days_value_interval_gate_and_target(client, personas, production):
    monitor_days(production, days_from(START, 5))
    response = login(client, personas, "viewer").get(tab_url(production, days=5))
    for kpi in production.use_case.kpis.all():
        stored = list(DailyKPI.objects.filter(kpi=kpi).order_by("run__day"))
        high, low, value, gate, target = chart_data(response, f"chart-kpi-{kpi.pk}")["data"]
        assert value["y"] == [row.value for row in stored]
        assert low["y"] == [row.low for row in stored]
        assert high["y"] == [row.high for row in stored]
        assert value["x"] == [row.run.day.isoformat() for row in stored]
        assert gate["y"] == [kpi.gate_threshold] * 2
        assert target["y"] == [kpi.target] * 2


def test_the_heat_map_holds_each_features_psi_per_day_with_gaps(client, personas, production):
    days = days_from(START, 5)
    monitor_days(production, days[:2] + days[3:])  # no run on the third day
    response = login(client, personas, "viewer").get(tab_url(production, days=5))
    heatmap = chart_data(response, "chart-drift")["data"][0]
    assert heatmap["x"] == [day.isoformat() for day in days]
    assert heatmap["y"][0] == PREDICTION_FEATURE  # the prediction first
    for feature, row in zip(heatmap["y"], heatmap["z"], strict=True):
        stored = {d.run.day: d.psi for d in DailyDrift.objects.filter(feature=feature)}
        assert row == [stored.get(day) for day in days]
    assert heatmap["z"][0][2] is None
    hover = heatmap["text"][1][0]
    assert "PSI" in hover and "p-value" in hover and "Missing" in hover
    features = [entry["feature"] for entry in response.context["features"]]
    assert features == heatmap["y"]
    assert b"/usecases/churn/monitoring/drift/plan/?version=1.0.0&amp;day=2026-03-05" in (
        response.content
    )


def test_the_quality_chart_holds_each_rules_rate_and_the_refused_rate(
    client, personas, churn, production
):
    rule = RuleFactory(use_case=churn, field="price")
    monitor_days(production, days_from(START, 3))
    response = login(client, personas, "viewer").get(tab_url(production, days=3))
    rule_trace, refused_trace = chart_data(response, "chart-quality")["data"]
    stored = list(DailyQuality.objects.filter(rule=rule).order_by("run__day"))
    assert rule_trace["y"] == [q.rows_violating / q.rows_checked for q in stored]
    runs = list(DailyRun.objects.order_by("day"))
    assert refused_trace["y"] == [run.rows_refused / run.rows_received for run in runs]


def test_the_runs_table_lists_the_periods_runs(client, personas, production):
    monitor_days(production, days_from(START, 3))
    DailyRun.objects.filter(day=START).update(status=DailyRun.Status.FAILED, error="Boom")
    response = login(client, personas, "viewer").get(tab_url(production, days=3))
    assert [run.day for run in response.context["data"].runs] == days_from(START, 3)[::-1]
    assert b"Boom" in response.content and b"1,500" in response.content


def test_the_drill_down_shows_both_histograms_and_the_figures(client, personas, production):
    monitor_days(production, days_from(START, 3), drift_from=2)
    period = "start=2026-03-01&end=2026-03-03"
    url = f"/usecases/churn/monitoring/drift/feature_0/?version=1.0.0&day=2026-03-02&{period}"
    response = login(client, personas, "viewer").get(url)
    stored = DailyDrift.objects.get(feature="feature_0", run__day=datetime.date(2026, 3, 2))
    reference, live = chart_data(response, "chart-histograms")["data"]
    labels = [plain(label) for label in stored.histograms["labels"]]
    assert reference["x"] == live["x"] == labels
    assert reference["customdata"] == stored.histograms["reference_counts"]
    assert live["customdata"] == stored.histograms["live_counts"]
    assert sum(live["y"]) == pytest.approx(1)
    trend = chart_data(response, "chart-psi-trend")["data"][0]
    assert trend["y"] == [
        d.psi for d in DailyDrift.objects.filter(feature="feature_0").order_by("run__day")
    ]
    figures = {figure["id"]: figure for figure in response.context["figures"]}
    assert figures["psi"]["value"] == f"{stored.psi:.3f}"
    assert "ks" in figures and "unseen" not in figures
    categorical = client.get(f"/usecases/churn/monitoring/drift/plan/?version=1.0.0&{period}")
    figures = {figure["id"] for figure in categorical.context["figures"]}
    assert {"chi2", "unseen"} <= figures
    assert categorical.context["row"]["day"] == datetime.date(2026, 3, 3)  # the latest day


def test_the_alerts_section_lists_the_versions_active_and_recent_alerts(
    client, personas, churn, production
):
    alert = Alert
    common = {"use_case": churn, "model_version": production, "kind": "drift"}
    alert.objects.create(
        **common,
        subject="plan",
        subject_label="plan",
        value=0.31,
        threshold=0.2,
        day=datetime.date(2025, 1, 1),
        last_seen_day=datetime.date(2025, 1, 2),
    )  # open, long ago: still listed
    alert.objects.create(
        **common,
        subject="old",
        subject_label="old feature",
        status="closed",
        day=datetime.date(2025, 1, 1),
        last_seen_day=datetime.date(2025, 1, 2),
    )  # closed before the period: not listed
    response = login(client, personas, "viewer").get(tab_url(production))
    assert [a.subject for a in response.context["alerts"]] == ["plan"]
    assert b"Drift \xc2\xb7 plan" in response.content


# Empty states


def test_a_use_case_with_nothing_monitored_says_how_monitoring_starts(client, personas, churn):
    response = login(client, personas, "viewer").get("/usecases/churn/monitoring/")
    assert response.status_code == 200
    assert b"Nothing is monitored yet" in response.content
    assert b"computed every night" in response.content


def test_a_deployed_version_without_runs_shows_empty_sections(client, personas, production):
    response = login(client, personas, "viewer").get(tab_url(production))
    content = response.content.decode()
    assert 'id="runs-empty"' in content and "computed every night" in content
    assert "No drift figures in this period" in content
    assert "No data-quality figures in this period" in content
    assert content.count("No value in this period") == 3  # the churn use case's KPIs
    assert 'id="alerts-empty"' in content
    assert "data-chart" not in content


def test_a_feature_without_figures_in_the_period_says_so(client, personas, production):
    monitor_days(production, days_from(START, 1))
    response = login(client, personas, "viewer").get(
        "/usecases/churn/monitoring/drift/nope/?version=1.0.0&day=2026-03-01"
    )
    assert response.status_code == 200
    assert b'id="feature-empty"' in response.content


# Queries


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_tab_costs_the_same_queries_for_5_or_30_days(client, personas, production):
    monitor_days(production, days_from(START, 30), features=1)
    login(client, personas, "viewer")
    assert queries(client, tab_url(production, days=5)) == queries(
        client, tab_url(production, days=30)
    )


def test_the_pages_cost_the_same_queries_whatever_the_number_of_features(
    client, personas, churn, production
):
    other = make_version(churn, "2.0.0", personas["owner"])
    ModelVersion.objects.filter(pk=other.pk).update(stage=ModelVersion.Stage.CANARY)
    other.refresh_from_db()
    monitor_days(production, days_from(START, 3), features=1)
    monitor_days(other, days_from(START, 3), features=8)
    login(client, personas, "viewer")
    few, many = (tab_url(v, days=3) for v in (production, other))
    assert queries(client, few) == queries(client, many)
    drill = "/usecases/churn/monitoring/drift/plan/?version={}&day=2026-03-02"
    assert queries(client, drill.format("1.0.0")) == queries(client, drill.format("2.0.0"))
