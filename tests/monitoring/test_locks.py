"""Locks on PostgreSQL: storing a day locks its run's row only, so ingestion goes on meanwhile;
a member acknowledging an alert while the job updates the version's alerts never deadlocks."""

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from monitoring.models import Alert
from monitoring.services import alerts, jobs, weeks
from monitoring.services.kpis import DayKPIs
from monitoring.services.quality import DayQuality
from tests.monitoring.conftest import DAY, log_day

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(work) -> list:
    """Run `work` on its own connection (lock_timeout 3 s); what it returned or raised."""
    outcome: list = []

    def target():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '3s'")
            outcome.append(work())
        except Exception as error:  # returned to the test
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return [thread, outcome]


def test_predictions_are_logged_while_a_day_is_stored(deployed, monkeypatch):
    token = jobs.claim_run(deployed.pk, DAY)
    run = deployed.daily_runs.get(day=DAY)
    during: list = []
    evaluate = alerts.evaluate_alerts

    def evaluate_while_logging(stored_run):
        # The store's transaction holds its locks: a prediction for the use case arrives.
        thread, outcome = in_thread(lambda: len(log_day(deployed, 3, prefix="live")))
        thread.join()
        during.extend(outcome)
        return evaluate(stored_run)

    monkeypatch.setattr(jobs.alerts, "evaluate_alerts", evaluate_while_logging)
    stored = jobs.store_day(
        run.pk,
        token,
        kpis=DayKPIs(n_predictions=0, n_with_outcome=0, values=[]),
        quality=DayQuality(),
        drifts=[],
    )
    assert stored
    assert during == [5]  # not a lock timeout


def test_storing_a_day_or_a_week_locks_no_use_case_row(deployed):
    token = jobs.claim_run(deployed.pk, DAY)
    run = deployed.daily_runs.get(day=DAY)
    empty = DayKPIs(n_predictions=0, n_with_outcome=0, values=[])
    with CaptureQueriesContext(connection) as queries:
        jobs.store_day(run.pk, token, kpis=empty, quality=DayQuality(), drifts=[])
        weeks._store(deployed, weeks.monday_of(DAY), empty, started=run.started_at)
    locking = [q["sql"] for q in queries if "FOR " in q["sql"] and "UPDATE" in q["sql"]]
    assert locking
    assert not [sql for sql in locking if "usecases_usecase" in sql]


def test_acknowledging_while_the_job_opens_an_alert_does_not_deadlock(deployed, personas):
    day = DAY
    alert = Alert.objects.create(
        use_case=deployed.use_case,
        model_version=deployed,
        kind=Alert.Kind.DRIFT,
        subject="price",
        day=day,
        last_seen_day=day,
    )
    holding, proceed = threading.Event(), threading.Event()
    crossing = alerts.Reading(Alert.Kind.DRIFT, "plan", "plan", 0.5, 0.2, True)

    def job():
        with transaction.atomic():
            Alert.objects.select_for_update().get(pk=alert.pk)  # as apply_readings does
            holding.set()
            proceed.wait(5)
            return len(alerts.apply_readings(deployed, day, [crossing]))

    thread, outcome = in_thread(job)
    holding.wait(5)
    acknowledged: list = []

    def member():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")
            acknowledged.append(alerts.acknowledge_alert(alert, by=personas["owner"]).status)
        except Exception as error:  # returned to the test
            acknowledged.append(error)
        finally:
            connection.close()

    other = threading.Thread(target=member)
    other.start()
    other.join(1)  # the member now holds the use case and waits for the alert
    proceed.set()
    thread.join()
    other.join()
    assert outcome == [1]
    assert acknowledged == [Alert.Status.ACKNOWLEDGED]
