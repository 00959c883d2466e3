"""Alerts: a threshold crossed opens one alert, notified once; the next run and a re-run of
the same day update it rather than duplicate it; a later day that recovers closes it; people
acknowledge and resolve (audited); a silent version gets a silence alert; rows refused at
ingestion open one alert per use case, read on the version leading the deployment."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.drift import FeatureDrift
from monitoring.models import Alert, MonitoringPolicy
from monitoring.services import alerts, jobs
from monitoring.services.kpis import DayKPIs, KPIValue
from monitoring.services.quality import DayQuality, RuleFigure
from notifications.models import Notification
from registry.models import ModelVersion
from tests.factories import RuleFactory, make_version
from tests.monitoring.conftest import DAY, log_day
from usecases.models import AuditEvent

pytestmark = pytest.mark.django_db
Kind, Status = Alert.Kind, Alert.Status


def next_day(days: int) -> datetime.date:
    return DAY + datetime.timedelta(days=days)


def store(
    version,
    day=DAY,
    *,
    auc=0.9,
    psi=0.05,
    p_value=0.5,
    violating=0,
    rule=None,
    received=0,
    refused=0,
):
    """Store a day's figures through the job's own claim and store_day (alerts evaluated in
    its transaction), as run_day would after computing them; `received` and `refused` are
    the use case's rows at ingestion that day (the same for every version's run)."""
    kpi = version.use_case.kpis.get(metric="roc_auc")
    token = jobs.claim_run(version.pk, day)
    assert token is not None
    run = version.daily_runs.get(day=day)
    figures = DayKPIs(
        n_predictions=1000,
        n_with_outcome=800,
        values=[KPIValue(kpi, auc, auc - 0.02, auc + 0.02, 800)],
    )
    quality = DayQuality(
        rows_checked=1000,
        rows_violating=violating,
        rows_received=received,
        rows_refused=refused,
        rules=[RuleFigure(rule, 1000, violating)] if rule else [],
    )
    drift = FeatureDrift(
        feature="price",
        kind="numeric",
        n_reference=1000,
        n_live=1000,
        psi=psi,
        missing_share_reference=0.0,
        missing_share_live=0.0,
        ks_statistic=0.1,
        ks_p_value=p_value,
        labels=("[1, 5)", "[5, 9]"),
        reference_counts=(500, 500),
        live_counts=(500, 500),
    )
    assert jobs.store_day(run.pk, token, kpis=figures, quality=quality, drifts=[drift])


@pytest.fixture
def run_day_again(deployed):
    """Queue a stored day again (as request_days does) so that it can be claimed."""

    def again(day=DAY, **figures):
        jobs._queue_days(deployed.pk, [day])
        store(deployed, day, **figures)

    return again


@pytest.fixture(autouse=True)
def _no_tasks(enqueued):
    """The job's own tasks are recorded, not sent."""


def alerts_of(version, kind=None):
    rows = Alert.objects.filter(model_version=version)
    return list(rows.filter(kind=kind) if kind else rows)


def alert_notifications():
    return Notification.objects.filter(kind=Notification.Kind.ALERT)


def test_a_policy_is_created_with_the_defaults_on_first_use(churn):
    policy = alerts.policy_for(churn)
    assert (policy.psi_threshold, policy.p_value_level, policy.max_violation_rate) == (
        0.2,
        0.01,
        0.05,
    )
    assert (policy.silence_hours, policy.is_kpi_alerting, policy.is_p_value_alerting) == (
        24,
        True,
        False,
    )
    assert alerts.policy_for(churn) == policy and MonitoringPolicy.objects.count() == 1


def test_a_day_within_every_threshold_opens_no_alert(deployed):
    store(deployed)
    assert alerts_of(deployed) == []


def test_a_kpi_under_its_gate_opens_one_alert_and_notifies_the_team_once(
    deployed, personas, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        store(deployed, auc=0.80)
    [alert] = alerts_of(deployed)
    assert (alert.kind, alert.status, alert.value, alert.threshold) == (
        Kind.KPI_BELOW_GATE,
        Status.OPEN,
        0.80,
        0.85,
    )
    assert alert.subject_label == "Ranking quality" and alert.day == alert.last_seen_day == DAY
    # Churn's owner and data scientist; not its viewer.
    told = {n.recipient.username for n in alert_notifications()}
    assert told == {personas["owner"].username, personas["data_scientist"].username}
    assert set(alert_notifications().values_list("key", "url")) == {
        (f"alert:{alert.pk}", "/usecases/churn/monitoring/")
    }
    assert AuditEvent.objects.filter(verb="alert.opened", actor__isnull=True).count() == 1
    assert alerts.notify_opened(alert.pk) == 0  # a second call tells no one again
    assert alert_notifications().count() == 2


def test_the_next_run_and_a_rerun_of_the_day_do_not_duplicate_the_alert(
    deployed, run_day_again, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        store(deployed, auc=0.80)
        run_day_again(auc=0.80)  # the same day again
        store(deployed, next_day(1), auc=0.78)  # the next day
        run_day_again(auc=0.80)
    [alert] = alerts_of(deployed)
    assert (alert.status, alert.day, alert.last_seen_day, alert.value) == (
        Status.OPEN,
        DAY,
        next_day(1),
        0.78,
    )
    assert alert_notifications().count() == 2  # owner and data scientist, once each
    assert AuditEvent.objects.filter(verb="alert.opened").count() == 1


def test_a_later_day_that_recovers_closes_the_alert_and_an_earlier_one_does_not(deployed):
    store(deployed, next_day(1), auc=0.80)
    store(deployed, DAY, auc=0.90)  # a backfill of an earlier, healthy day
    assert alerts_of(deployed)[0].status == Status.OPEN
    store(deployed, next_day(2), auc=0.90)
    [alert] = alerts_of(deployed)
    assert alert.status == Status.CLOSED and alert.closed_at is not None
    assert alert.value == 0.90 and alert.last_seen_day == next_day(1)
    assert AuditEvent.objects.filter(verb="alert.closed").count() == 1


def test_rerunning_a_day_covered_by_a_closed_alert_opens_nothing(deployed, run_day_again):
    store(deployed, DAY, auc=0.80)
    store(deployed, next_day(1), auc=0.90)
    run_day_again(DAY, auc=0.80)
    [alert] = alerts_of(deployed)
    assert alert.status == Status.CLOSED


def test_an_old_day_run_late_opens_no_alert_when_a_later_day_recovered(
    deployed, django_capture_on_commit_callbacks
):
    rule = RuleFactory(use_case=deployed.use_case)
    store(deployed, next_day(2), auc=0.90, psi=0.05, rule=rule, received=100)
    with django_capture_on_commit_callbacks(execute=True):  # late outcomes re-run an old day
        store(deployed, DAY, auc=0.80, psi=0.35, rule=rule, violating=500, received=100, refused=50)
    assert alerts_of(deployed) == []
    assert not alert_notifications().exists()


def test_an_old_day_run_late_opens_its_alert_when_the_later_day_still_crosses(deployed):
    store(deployed, next_day(1), auc=0.80)
    Alert.objects.update(status=Status.RESOLVED)
    store(deployed, DAY, auc=0.80)
    assert [a.status for a in alerts_of(deployed)] == [Status.OPEN, Status.RESOLVED]


def test_crossing_again_after_recovery_opens_a_new_alert(deployed):
    store(deployed, DAY, auc=0.80)
    store(deployed, next_day(1), auc=0.90)
    store(deployed, next_day(2), auc=0.80)
    assert sorted(a.status for a in alerts_of(deployed)) == [Status.CLOSED, Status.OPEN]


def test_an_acknowledged_alert_closes_too_when_the_value_recovers(deployed, personas):
    store(deployed, auc=0.80)
    alerts.acknowledge_alert(alerts_of(deployed)[0], by=personas["expert"], note="Looking")
    store(deployed, next_day(1), auc=0.90)
    [alert] = alerts_of(deployed)
    assert alert.status == Status.CLOSED and alert.acknowledged_by == personas["expert"]


def test_a_resolved_alert_is_done_and_a_later_crossing_opens_another(deployed, personas):
    store(deployed, auc=0.80)
    alerts.resolve_alert(alerts_of(deployed)[0], by=personas["owner"])
    store(deployed, next_day(1), auc=0.90)
    assert alerts_of(deployed)[0].status == Status.RESOLVED
    store(deployed, next_day(2), auc=0.80)
    assert sorted(a.status for a in alerts_of(deployed)) == [Status.OPEN, Status.RESOLVED]


def test_a_bound_mode_kpi_alerts_on_its_daily_value_not_on_its_intervals_worse_end(deployed):
    # Gate 0.85 in bound mode: promotion reads the lower end; a day's wide interval whose
    # lower end dips under the gate while the value stays over it is no decay.
    deployed.use_case.kpis.filter(metric="roc_auc").update(gate_mode="bound")
    store(deployed, auc=0.86)  # interval 0.84–0.88
    assert alerts_of(deployed) == []
    store(deployed, next_day(1), auc=0.84)
    [alert] = alerts_of(deployed)
    assert (alert.kind, alert.value) == (Kind.KPI_BELOW_GATE, 0.84)


def test_a_kpi_that_does_not_gate_or_a_policy_without_kpi_alerts_opens_nothing(deployed):
    deployed.use_case.kpis.update(is_gating=False)
    store(deployed, auc=0.5)
    deployed.use_case.kpis.update(is_gating=True)
    MonitoringPolicy.objects.filter(use_case=deployed.use_case).update(is_kpi_alerting=False)
    store(deployed, next_day(1), auc=0.5)
    assert alerts_of(deployed) == []


def test_drift_over_the_psi_threshold_opens_a_drift_alert(deployed):
    store(deployed, psi=0.35)
    [alert] = alerts_of(deployed)
    assert (alert.kind, alert.subject, alert.value, alert.threshold) == (
        Kind.DRIFT,
        "price",
        0.35,
        0.2,
    )


def test_p_values_alert_only_when_the_policy_turns_them_on(deployed):
    store(deployed, p_value=0.001)
    assert alerts_of(deployed) == []
    MonitoringPolicy.objects.filter(use_case=deployed.use_case).update(is_p_value_alerting=True)
    store(deployed, next_day(1), p_value=0.001)
    [alert] = alerts_of(deployed)
    assert (alert.kind, alert.value, alert.threshold) == (Kind.DRIFT, 0.001, 0.01)


def test_a_rule_violated_too_often_opens_a_quality_alert(deployed):
    rule = RuleFactory(use_case=deployed.use_case)
    store(deployed, rule=rule, violating=40)  # 4 %: within 5 %
    assert alerts_of(deployed) == []
    store(deployed, next_day(1), rule=rule, violating=80)
    [alert] = alerts_of(deployed)
    assert (alert.kind, alert.subject, alert.value) == (Kind.QUALITY, str(rule.pk), 0.08)


def refused_alerts():
    return list(Alert.objects.filter(kind=Kind.REFUSED))


def deploy(use_case, name, stage, by) -> ModelVersion:
    version = make_version(use_case, name, by)
    ModelVersion.objects.filter(pk=version.pk).update(stage=stage)
    version.refresh_from_db()
    return version


def test_rows_refused_over_the_share_open_one_alert_never_duplicated_closed_on_recovery(
    deployed, run_day_again, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        store(deployed, received=1000, refused=50)  # 5 %: not over the 5 % of the policy
        assert refused_alerts() == []
        store(deployed, next_day(1), received=1000, refused=80)
        store(deployed, next_day(2), received=1000, refused=120)  # the next run
        run_day_again(next_day(1), received=1000, refused=80)  # a re-run of a crossing day
    [alert] = refused_alerts()
    assert (alert.model_version, alert.subject, alert.status) == (deployed, "", Status.OPEN)
    assert (alert.day, alert.last_seen_day, alert.value, alert.threshold) == (
        next_day(1),
        next_day(2),
        0.12,
        0.05,
    )
    assert str(alert) == f"Rows refused at ingestion · {deployed}"
    assert alert_notifications().count() == 2  # owner and data scientist, once each
    assert AuditEvent.objects.filter(verb="alert.opened").count() == 1
    store(deployed, next_day(3))  # nothing received: nothing known, the alert stays
    assert refused_alerts()[0].status == Status.OPEN
    store(deployed, next_day(4), received=1000, refused=10)
    [alert] = refused_alerts()
    assert (alert.status, alert.value) == (Status.CLOSED, 0.01)
    assert AuditEvent.objects.filter(verb="alert.closed").count() == 1


def test_the_refused_share_follows_the_policy(deployed):
    MonitoringPolicy.objects.create(use_case=deployed.use_case, max_refused_rate=0.25)
    store(deployed, received=1000, refused=200)
    assert refused_alerts() == []
    store(deployed, next_day(1), received=1000, refused=300)
    assert [a.threshold for a in refused_alerts()] == [0.25]


def test_a_shadow_version_opens_no_second_refused_alert_on_the_same_use_case_day(
    deployed, personas
):
    shadow = deploy(deployed.use_case, "2.0.0", ModelVersion.Stage.SHADOW, personas["owner"])
    for day in (DAY, next_day(1)):
        for version in (shadow, deployed):  # both runs of the day, in either order
            store(version, day, received=1000, refused=200)
    [alert] = refused_alerts()
    assert (alert.model_version, alert.day, alert.last_seen_day) == (deployed, DAY, next_day(1))
    assert AuditEvent.objects.filter(verb="alert.opened").count() == 1
    store(shadow, next_day(2), received=1000, refused=0)  # the shadow's run reads nothing
    assert refused_alerts()[0].status == Status.OPEN
    store(deployed, next_day(2), received=1000, refused=0)
    assert refused_alerts()[0].status == Status.CLOSED


def test_the_database_keeps_one_active_refused_alert_per_use_case(deployed, personas):
    other = make_version(deployed.use_case, "9.0.0", personas["owner"])
    fields = {"use_case": deployed.use_case, "kind": Kind.REFUSED, "day": DAY}
    Alert.objects.create(model_version=deployed, last_seen_day=DAY, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(model_version=other, last_seen_day=DAY, **fields)


def test_without_production_the_canary_then_the_oldest_shadow_reads_refused_rows(churn, personas):
    owner = personas["owner"]
    first = deploy(churn, "1.0.0", ModelVersion.Stage.SHADOW, owner)
    second = deploy(churn, "2.0.0", ModelVersion.Stage.SHADOW, owner)
    assert alerts.refused_rows_reader(churn.pk) == first.pk
    canary = deploy(churn, "3.0.0", ModelVersion.Stage.CANARY, owner)
    assert alerts.refused_rows_reader(churn.pk) == canary.pk
    for version in (first, second, canary):
        store(version, received=100, refused=60)
    assert [a.model_version for a in refused_alerts()] == [canary]


def test_a_new_production_version_carries_on_the_use_cases_refused_alert(deployed, personas):
    store(deployed, received=1000, refused=200)
    ModelVersion.objects.filter(pk=deployed.pk).update(stage=ModelVersion.Stage.ARCHIVED)
    new = deploy(deployed.use_case, "2.0.0", ModelVersion.Stage.PRODUCTION, personas["owner"])
    store(new, next_day(1), received=1000, refused=300)
    [alert] = refused_alerts()
    assert (alert.model_version, alert.last_seen_day, alert.value) == (deployed, next_day(1), 0.3)
    store(new, next_day(2), received=1000, refused=0)
    [alert] = refused_alerts()
    assert alert.status == Status.CLOSED
    store(new, next_day(3), received=1000, refused=300)  # crossing again: a new one, on `new`
    assert sorted((a.model_version.version, a.status) for a in refused_alerts()) == [
        ("1.0.0", Status.CLOSED),
        ("2.0.0", Status.OPEN),
    ]


def test_the_use_cases_refused_alert_shows_on_the_tab_of_every_version(client, deployed, personas):
    from monitoring import selectors

    store(deployed, received=1000, refused=200)
    new = deploy(deployed.use_case, "2.0.0", ModelVersion.Stage.SHADOW, personas["owner"])
    period = selectors.Period(DAY, next_day(1))
    [alert] = selectors.version_alerts(new, period)
    assert (alert.kind, alert.model_version) == (Kind.REFUSED, deployed)
    client.force_login(personas["owner"])
    url = f"/usecases/{deployed.use_case.slug}/monitoring/?version=2.0.0&start={DAY}&end={DAY}"
    assert "Rows refused at ingestion" in client.get(url).content.decode()


def test_a_silent_version_gets_one_silence_alert_that_closes_once_it_logs_again(
    deployed, django_capture_on_commit_callbacks
):
    now = timezone.now()
    ModelVersion.objects.filter(pk=deployed.pk).update(
        stage_changed_at=now - datetime.timedelta(days=3)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.check_silence(now) == 1
        assert alerts.check_silence(now) == 0  # the next night: the same alert
    [alert] = alerts_of(deployed, Kind.SILENCE)
    assert alert.value == pytest.approx(72, abs=0.1) and alert.threshold == 24
    assert alert_notifications().count() == 2
    log_day(deployed, 20, day=now.date())
    alerts.check_silence(now + datetime.timedelta(days=1))
    alert.refresh_from_db()
    assert alert.status == Status.CLOSED


def test_the_nightly_task_checks_silence_as_well(deployed, django_capture_on_commit_callbacks):
    from monitoring.tasks import schedule_nightly_task

    ModelVersion.objects.filter(pk=deployed.pk).update(
        stage_changed_at=timezone.now() - datetime.timedelta(days=3)
    )
    with django_capture_on_commit_callbacks():  # the day's run is queued, not run here
        schedule_nightly_task()
    assert len(alerts_of(deployed, Kind.SILENCE)) == 1


def test_acknowledge_and_resolve_record_who_and_are_audited(deployed, personas):
    store(deployed, auc=0.80)
    alert = alerts_of(deployed)[0]
    alerts.acknowledge_alert(alert, by=personas["data_scientist"], note="Retraining")
    alerts.resolve_alert(alert, by=personas["owner"], note="New version out")
    alert.refresh_from_db()
    assert alert.status == Status.RESOLVED
    assert (alert.acknowledged_by, alert.resolved_by) == (
        personas["data_scientist"],
        personas["owner"],
    )
    assert alert.note == "dana: Retraining\nolivia: New version out"
    events = AuditEvent.objects.filter(verb__in=["alert.acknowledged", "alert.resolved"])
    assert sorted(events.values_list("verb", "actor_name")) == [
        ("alert.acknowledged", "dana"),
        ("alert.resolved", "olivia"),
    ]


def test_acknowledging_twice_or_resolving_a_closed_alert_is_refused(deployed, personas):
    store(deployed, auc=0.80)
    alert = alerts_of(deployed)[0]
    alerts.acknowledge_alert(alert, by=personas["owner"])
    with pytest.raises(alerts.AlertError):
        alerts.acknowledge_alert(alert, by=personas["owner"])
    store(deployed, next_day(1), auc=0.90)
    with pytest.raises(alerts.AlertError):
        alerts.resolve_alert(alert, by=personas["owner"])


def test_the_database_keeps_one_active_alert_per_subject(deployed):
    store(deployed, auc=0.80)
    alert = alerts_of(deployed)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            use_case=deployed.use_case,
            model_version=deployed,
            kind=alert.kind,
            subject=alert.subject,
            day=DAY,
            last_seen_day=DAY,
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_of_several_days_open_one_alert_on_postgresql(deployed):
    import threading

    from django.db import connection

    count = 6
    days = [next_day(i) for i in range(count)]
    tokens = {day: jobs.claim_run(deployed.pk, day) for day in days}
    kpi = deployed.use_case.kpis.get(metric="roc_auc")
    errors: list[Exception] = []
    start = threading.Barrier(count)

    def store_one(day):
        try:
            run = deployed.daily_runs.get(day=day)
            figures = DayKPIs(
                n_predictions=10, n_with_outcome=10, values=[KPIValue(kpi, 0.7, 0.6, 0.8, 10)]
            )
            start.wait()
            jobs.store_day(run.pk, tokens[day], kpis=figures, quality=DayQuality(), drifts=[])
        except Exception as error:  # returned to the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=store_one, args=(day,)) for day in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [alert] = alerts_of(deployed)
    assert (alert.status, alert.day, alert.last_seen_day) == (Status.OPEN, days[0], days[-1])
    assert AuditEvent.objects.filter(verb="alert.opened").count() == 1
