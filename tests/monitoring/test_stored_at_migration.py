"""monitoring 0008: days stored before `stored_at` existed get it, so the days API keeps them;
a day never stored (queued, or failed at its first run) gets none."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from monitoring.models import DailyRun

AT = datetime.datetime(2026, 3, 11, 3, tzinfo=datetime.UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_runs_holding_figures_get_their_stored_time():
    old = migrate([("monitoring", "0006_reference_window")])
    user = old.get_model("auth", "User").objects.create(username="olga")
    use_case = old.get_model("usecases", "UseCase").objects.create(
        slug="churn", title="Churn", owner=user, task_type="binary"
    )
    version = old.get_model("registry", "ModelVersion").objects.create(
        use_case=use_case, version="1.0.0", registered_by=user
    )
    runs = old.get_model("monitoring", "DailyRun").objects
    day = datetime.date(2026, 3, 10)
    make = lambda n, **fields: runs.create(  # noqa: E731
        model_version=version, day=day + datetime.timedelta(days=n), **fields
    )
    make(0, status="succeeded", started_at=AT, finished_at=AT)
    rerun = make(1, status="running", started_at=AT)  # a re-run claimed: finish cleared
    old.get_model("monitoring", "DailyDrift").objects.create(run=rerun, feature="x", kind="numeric")
    make(2, status="failed", started_at=AT, finished_at=AT)  # failed at its first run
    make(3)  # queued, never run
    migrate([("monitoring", "0008_fill_stored_at")])
    stored = dict(DailyRun.objects.values_list("day__day", "stored_at"))
    assert stored == {10: AT, 11: AT, 12: None, 13: None}
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
