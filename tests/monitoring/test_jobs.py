"""The daily job: one result set per version and day whatever the deliveries (claims,
re-runs that replace the day, a failure mid-write that leaves the previous day whole, the
attempts cap), drift persisted as FeatureDrift gives it, the nightly schedule and late
outcomes queueing days."""

import datetime

import pytest
from django.utils import timezone

from monitoring.drift import FeatureDrift
from monitoring.models import PREDICTION_FEATURE, DailyDrift, DailyKPI, DailyQuality, DailyRun
from monitoring.services import jobs
from predictions.services import ingest
from registry.models import ModelVersion
from tests.factories import make_version
from tests.monitoring.conftest import DAY, log_day

pytestmark = pytest.mark.django_db
Status = DailyRun.Status


def results(version) -> tuple[int, int, int, int]:
    runs = DailyRun.objects.filter(model_version=version, day=DAY)
    return (
        runs.count(),
        DailyKPI.objects.filter(run__in=runs).count(),
        DailyDrift.objects.filter(run__in=runs).count(),
        DailyQuality.objects.filter(run__in=runs).count(),
    )


DRIFTS = [
    FeatureDrift(
        feature="price",
        kind="numeric",
        n_reference=100,
        n_live=80,
        psi=0.31,
        missing_share_reference=0.0,
        missing_share_live=0.05,
        ks_statistic=0.4,
        ks_p_value=0.001,
        labels=("[1, 5)", "[5, 9]"),
        reference_counts=(50, 50),
        live_counts=(20, 56),
    ),
    FeatureDrift(
        feature=PREDICTION_FEATURE,
        kind="categorical",
        n_reference=100,
        n_live=80,
        psi=0.01,
        missing_share_reference=0.0,
        missing_share_live=0.0,
        chi2_statistic=0.5,
        chi2_p_value=0.7,
        unseen_count=2,
        unseen_share=0.025,
        labels=("0", "1", "(unseen)"),
        reference_counts=(60, 40, 0),
        live_counts=(46, 32, 2),
    ),
]


@pytest.fixture
def with_drift(monkeypatch):
    monkeypatch.setattr(jobs, "day_drifts", lambda version, day: list(DRIFTS))


def test_a_run_stores_the_days_figures_and_succeeds(deployed, enqueued, with_drift):
    log_day(deployed, 120)
    assert jobs.run_day(deployed.pk, DAY) is True
    run = DailyRun.objects.get(model_version=deployed, day=DAY)
    assert (run.status, run.attempts, run.n_predictions) == (Status.SUCCEEDED, 1, 120)
    assert results(deployed) == (1, 3, 2, 0)
    price = run.drifts.get(feature="price")
    assert (price.psi, price.ks_p_value, price.missing_share) == (0.31, 0.001, 0.05)
    assert price.histograms["live_counts"] == [20, 56]
    prediction = run.drifts.get(feature=PREDICTION_FEATURE)
    assert (prediction.kind, prediction.unseen_share) == ("categorical", 0.025)


def test_running_a_day_again_replaces_its_results(deployed, enqueued, with_drift):
    log_day(deployed, 120)
    jobs.run_day(deployed.pk, DAY)
    first = set(DailyKPI.objects.values_list("pk", flat=True))
    log_day(deployed, 60, prefix="more")  # more predictions of the day arrive
    assert jobs.request_days(deployed, [DAY]) == 1
    assert jobs.run_day(deployed.pk, DAY) is True
    assert results(deployed) == (1, 3, 2, 0)
    assert not first & set(DailyKPI.objects.values_list("pk", flat=True))
    assert DailyRun.objects.get().n_predictions == 180
    assert jobs.run_day(deployed.pk, DAY) is False  # a duplicate delivery: nothing to do
    assert results(deployed) == (1, 3, 2, 0)


def test_two_claims_of_one_day_one_wins(deployed):
    assert jobs.claim_run(deployed.pk, DAY) is not None
    assert jobs.claim_run(deployed.pk, DAY) is None
    assert DailyRun.objects.get().attempts == 1


def test_a_delivery_finding_a_live_run_retries_later(deployed):
    jobs.claim_run(deployed.pk, DAY)
    with pytest.raises(jobs.RunBusy) as busy:
        jobs.run_day(deployed.pk, DAY)
    assert busy.value.retry_in > 60


def test_a_stale_running_claim_is_taken_over(deployed):
    first = jobs.claim_run(deployed.pk, DAY)
    stale = timezone.now() - jobs.STALE - datetime.timedelta(seconds=1)
    DailyRun.objects.update(heartbeat_at=stale)
    second = jobs.claim_run(deployed.pk, DAY)
    assert second not in (None, first)
    run = DailyRun.objects.get()
    assert (run.status, run.attempts, run.claimed_by) == (Status.RUNNING, 2, second)


def test_a_run_that_lost_its_claim_writes_nothing(deployed):
    first = jobs.claim_run(deployed.pk, DAY)
    DailyRun.objects.update(heartbeat_at=timezone.now() - jobs.STALE * 2)
    jobs.claim_run(deployed.pk, DAY)
    run = DailyRun.objects.get()
    assert (
        jobs.store_day(run.pk, first, kpis=_no_kpis(), quality=_no_quality(), drifts=DRIFTS)
        is False
    )
    assert results(deployed) == (1, 0, 0, 0)


def test_attempts_are_capped_and_a_stale_last_attempt_is_given_up(deployed):
    stale = timezone.now() - jobs.STALE * 2
    DailyRun.objects.create(
        model_version=deployed, day=DAY, status=Status.RUNNING, attempts=3, heartbeat_at=stale
    )
    assert jobs.claim_run(deployed.pk, DAY) is None
    run = DailyRun.objects.get()
    assert (run.status, run.attempts) == (Status.FAILED, 3)
    assert "3 attempts" in run.error
    assert jobs.run_day(deployed.pk, DAY) is False


def test_a_run_failing_mid_write_leaves_the_previous_day_and_the_retry_one_result(
    deployed, enqueued, with_drift, monkeypatch
):
    log_day(deployed, 120)
    jobs.run_day(deployed.pk, DAY)
    before = list(DailyKPI.objects.order_by("pk").values_list("pk", "value"))
    jobs.request_days(deployed, [DAY])

    def killed(run, drift):  # after the old rows are deleted and the KPIs written
        raise RuntimeError("worker lost")

    with monkeypatch.context() as patch:
        patch.setattr(jobs, "_drift_row", killed)
        with pytest.raises(RuntimeError):
            jobs.run_day(deployed.pk, DAY)
    run = DailyRun.objects.get()
    assert (run.status, run.attempts) == (Status.FAILED, 1)
    assert "worker lost" in run.error
    assert list(DailyKPI.objects.order_by("pk").values_list("pk", "value")) == before
    assert results(deployed) == (1, 3, 2, 0)
    assert jobs.run_day(deployed.pk, DAY) is True  # the retry
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.SUCCEEDED, 2)
    assert results(deployed) == (1, 3, 2, 0)


def test_a_request_during_a_run_makes_it_run_again(deployed, enqueued):
    log_day(deployed, 30)
    token = jobs.claim_run(deployed.pk, DAY)
    jobs.request_days(deployed, [DAY])  # e.g. late outcomes while it runs
    run = DailyRun.objects.get()
    jobs.store_day(run.pk, token, kpis=_no_kpis(), quality=_no_quality(), drifts=[])
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.QUEUED, 0)
    assert enqueued.count((deployed.pk, DAY.isoformat())) == 2
    assert jobs.run_day(deployed.pk, DAY) is True
    assert DailyRun.objects.get().status == Status.SUCCEEDED


def test_without_the_drift_data_module_the_job_skips_drift(deployed, monkeypatch):
    import sys

    import monitoring.services

    monkeypatch.delattr(monitoring.services, "drift_data", raising=False)
    monkeypatch.setitem(sys.modules, "monitoring.services.drift_data", None)
    assert jobs.day_drifts(deployed, DAY) == []


def test_a_version_without_a_reference_gets_kpis_without_drift(deployed, enqueued):
    log_day(deployed, 30)
    assert jobs.run_day(deployed.pk, DAY) is True
    assert results(deployed) == (1, 3, 0, 0)


def test_nightly_queues_yesterday_of_deployed_versions_only(churn, personas, enqueued):
    by = personas["owner"]
    stages = ["production", "canary", "shadow", "registered", "archived"]
    versions = {}
    for n, stage in enumerate(stages):
        version = make_version(churn, f"{n}.0", by)
        ModelVersion.objects.filter(pk=version.pk).update(stage=stage)
        versions[stage] = version.pk
    assert jobs.schedule_nightly(today=DAY) == 3
    yesterday = (DAY - datetime.timedelta(days=1)).isoformat()
    assert sorted(enqueued) == sorted(
        (versions[stage], yesterday) for stage in ("production", "canary", "shadow")
    )
    assert DailyRun.objects.filter(status=Status.QUEUED).count() == 3


def test_future_days_are_refused(deployed, enqueued):
    with pytest.raises(jobs.MonitoringError):
        jobs.request_days(deployed, [jobs.utc_today() + datetime.timedelta(days=1)])
    assert not enqueued


def test_late_outcomes_queue_their_past_days_again_once_per_batch(
    deployed, enqueued, django_capture_on_commit_callbacks
):
    log_day(deployed, 40, with_outcome=0.0)
    jobs.run_day(deployed.pk, DAY)
    other_day = DAY + datetime.timedelta(days=1)
    log_day(deployed, 10, day=other_day, with_outcome=0.0, prefix="o")  # never monitored
    rows = [{"request_id": f"q{i}", "outcome": i % 2} for i in range(20)]
    rows += [{"request_id": f"o{i}", "outcome": 1} for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest.attach_outcomes(deployed.use_case, by=None, rows=rows)
    assert result.updated_predictions == 25
    assert enqueued == [(deployed.pk, DAY.isoformat())]
    run = DailyRun.objects.get()
    assert run.status == Status.QUEUED
    jobs.run_day(deployed.pk, DAY)
    # the 20 new outcomes, and the other day's row logged at DAY 23:59:59 with its outcome
    assert DailyRun.objects.get().n_with_outcome == 21


def _no_kpis():
    return jobs.kpi_service.DayKPIs()


def _no_quality():
    return jobs.quality_service.DayQuality()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_of_one_day_on_postgresql_one_wins(deployed):
    import threading

    from django.db import connection

    threads_count = 8
    tokens: list[object] = [None] * threads_count
    start = threading.Barrier(threads_count)

    def claim(i):
        try:
            start.wait()
            tokens[i] = jobs.claim_run(deployed.pk, DAY)  # creates the row too: none exists
        except Exception as error:  # returned to the test
            tokens[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [t for t in tokens if isinstance(t, Exception)]
    assert len([t for t in tokens if t is not None]) == 1
    run = DailyRun.objects.get()
    assert (run.status, run.attempts) == (Status.RUNNING, 1)
