"""KPIs per week (monitoring/services/weeks.py): computed over the week's rows, not averaged
from the days; due once the week is over and its days have run; recomputed when a day
re-runs; queued by a day's run."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from monitoring import tasks
from monitoring.models import DailyKPI, DailyRun, WeeklyKPI
from monitoring.services import jobs, weeks
from tests.conftest import login
from tests.monitoring.conftest import DAY, log_day

pytestmark = pytest.mark.django_db

MONDAY = weeks.monday_of(DAY)  # DAY is a Tuesday
TODAY = MONDAY + datetime.timedelta(days=9)


@pytest.fixture
def queued_weeks(monkeypatch) -> list[tuple]:
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.run_week_task, "delay_on_commit", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def two_days(deployed, enqueued, queued_weeks, monkeypatch):
    """Two days of the week logged and run (drift left out: no reference here)."""
    monkeypatch.setattr(jobs, "day_drifts", lambda version, day: [])
    monkeypatch.setattr(jobs, "utc_today", lambda: TODAY)
    rows = log_day(deployed, 300, seed=3) + log_day(
        deployed, 500, day=DAY + datetime.timedelta(days=1), seed=4, prefix="w"
    )
    for day in (DAY, DAY + datetime.timedelta(days=1)):
        assert jobs.run_day(deployed.pk, day) is True
    return rows


def test_weeks_start_on_monday_and_are_over_once_sunday_has_passed():
    assert weeks.monday_of(DAY) == datetime.date(2026, 3, 9)
    sunday = MONDAY + datetime.timedelta(days=6)
    assert not weeks.is_over(MONDAY, sunday)
    assert weeks.is_over(MONDAY, sunday + datetime.timedelta(days=1))
    with pytest.raises(ValueError):
        weeks.run_week(1, DAY)


def test_a_week_is_computed_over_its_rows_not_averaged_from_its_days(deployed, two_days):
    assert weeks.run_week(deployed.pk, MONDAY) is True
    start, end = weeks.week_bounds(MONDAY)
    known = [r for r in two_days if r.outcome is not None and start <= r.predicted_at < end]
    auc = WeeklyKPI.objects.get(model_version=deployed, week=MONDAY, kpi__metric="roc_auc")
    truth = np.array([r.outcome for r in known])
    expected = roc_auc_score(truth, np.array([r.score for r in known]))
    assert auc.value == pytest.approx(expected, abs=1e-12)
    assert auc.n == len(known) and auc.low < auc.value < auc.high
    daily = list(DailyKPI.objects.filter(kpi=auc.kpi).values_list("value", flat=True))
    assert len(daily) == 2 and auc.value != pytest.approx(sum(daily) / 2, abs=1e-9)
    assert WeeklyKPI.objects.count() == 3  # every KPI of the use case


def test_a_week_is_due_once_its_days_have_run_and_again_only_after_one_reruns(deployed, two_days):
    assert weeks.run_week(deployed.pk, MONDAY) is True
    assert weeks.run_week(deployed.pk, MONDAY) is False  # up to date: a duplicate delivery
    first = set(WeeklyKPI.objects.values_list("pk", flat=True))
    jobs.request_days(deployed, [DAY])  # a backfill queues a day again
    assert weeks.run_week(deployed.pk, MONDAY) is False  # not while a day is queued
    assert jobs.run_day(deployed.pk, DAY) is True
    assert weeks.run_week(deployed.pk, MONDAY) is True
    assert not first & set(WeeklyKPI.objects.values_list("pk", flat=True))
    assert WeeklyKPI.objects.count() == 3


def test_a_week_without_a_succeeded_day_is_not_computed(deployed, enqueued):
    assert weeks.run_week(deployed.pk, MONDAY) is False
    jobs.request_days(deployed, [DAY])
    DailyRun.objects.update(status=DailyRun.Status.FAILED)
    assert weeks.run_week(deployed.pk, MONDAY) is False
    assert not WeeklyKPI.objects.exists()


def test_a_day_that_ends_queues_its_week_only_once_the_week_is_over(
    deployed, enqueued, queued_weeks, monkeypatch
):
    monkeypatch.setattr(jobs, "day_drifts", lambda version, day: [])
    log_day(deployed, 50)
    monkeypatch.setattr(jobs, "utc_today", lambda: MONDAY + datetime.timedelta(days=6))
    jobs.run_day(deployed.pk, DAY)
    assert queued_weeks == []  # Sunday is today: the week is not over
    monkeypatch.setattr(jobs, "utc_today", lambda: TODAY)
    jobs.request_days(deployed, [DAY])
    jobs.run_day(deployed.pk, DAY)
    assert queued_weeks == [(deployed.pk, MONDAY.isoformat())]


def test_the_tab_shows_the_weeks_kpis_per_week(client, personas, deployed, two_days):
    weeks.run_week(deployed.pk, MONDAY)
    login(client, personas, "viewer")
    url = f"/usecases/churn/monitoring/?version=1.0.0&start={DAY}&end={DAY}"
    daily = client.get(url)
    assert not daily.context["weekly"] and 'aria-current="page">Per day' in daily.content.decode()
    response = client.get(url + "&grain=week")
    assert response.context["weekly"]
    auc = WeeklyKPI.objects.get(kpi__metric="roc_auc")
    chart = next(c for c in response.context["charts"]["kpis"] if c["title"] == auc.kpi.name)
    line = chart["figure"]["data"][2]
    assert line["name"] == "Weekly value" and line["y"] == [auc.value]
    assert line["x"] == [MONDAY.isoformat()]  # the week of a period starting on a Tuesday


def test_the_api_lists_each_kpi_per_week(api, deployed, two_days):
    weeks.run_week(deployed.pk, MONDAY)
    url = "/api/v1/usecases/churn/monitoring/weeks/"
    body = api("viewer").get(f"{url}?version=1.0.0&start={DAY}&end={DAY}").json()
    assert body["count"] == 3
    auc = next(row for row in body["results"] if row["metric"] == "roc_auc")
    stored = WeeklyKPI.objects.get(kpi__metric="roc_auc")
    assert (auc["week"], auc["value"], auc["n"]) == (MONDAY.isoformat(), stored.value, stored.n)
    after = MONDAY + datetime.timedelta(days=7)
    assert api("viewer").get(f"{url}?start={after}").json()["count"] == 0


def test_dates_at_the_calendars_ends_are_no_server_error(api, client, personas, deployed):
    url = "/api/v1/usecases/churn/monitoring/weeks/"
    for query in ("start=0001-01-01", "end=0001-01-01", "start=9999-12-31"):
        assert api("viewer").get(f"{url}?{query}").status_code == 200, query
    login(client, personas, "viewer")
    for query in ("end=0001-01-01", "start=0001-01-01&grain=week", "end=9999-12-31&grain=week"):
        assert client.get(f"/usecases/churn/monitoring/?{query}").status_code == 200, query
