"""KPI.updated_at: when a KPI last changed, so that the promotions app can tell an evaluation
that finished before the use case's latest KPI change (stale) from a fresh one."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from usecases.models import KPI, AuditEvent
from usecases.services import definitions

LONG_AGO = datetime.datetime(2025, 3, 1, 9, 30, tzinfo=datetime.UTC)


def test_a_kpi_gets_its_update_time_when_created_and_again_when_changed(kpi, personas):
    assert kpi.updated_at is not None and kpi.updated_at >= kpi.created_at
    KPI.objects.filter(pk=kpi.pk).update(updated_at=LONG_AGO)
    before = timezone.now()
    definitions.update_kpi(kpi, by=personas["owner"], target=kpi.target)
    assert KPI.objects.get(pk=kpi.pk).updated_at == LONG_AGO  # nothing changed, nothing saved
    changed = definitions.update_kpi(kpi, by=personas["owner"], name="Forecast error (MAE)")
    assert changed.updated_at >= before
    assert KPI.objects.get(pk=kpi.pk).updated_at == changed.updated_at
    assert changed.created_at < changed.updated_at


def test_the_update_time_is_not_part_of_the_audited_fields(kpi, personas):
    definitions.update_kpi(kpi, by=personas["owner"], name="Renamed")
    event = AuditEvent.objects.get(verb="kpi.updated")
    assert "updated_at" not in event.after and "updated_at" not in (event.before or {})


@pytest.mark.django_db(transaction=True)
def test_existing_kpis_get_their_creation_time_as_update_time_on_migration():
    before = [("usecases", "0007_text_fields_refuse_control_characters")]
    after = [("usecases", "0009_kpi_updated_at_from_created_at")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    owner = old.get_model("auth", "User").objects.create(username="olga")
    use_case = old.get_model("usecases", "UseCase").objects.create(
        slug="churn", title="Churn", owner=owner, task_type="binary"
    )
    kpi = old.get_model("usecases", "KPI").objects.create(
        use_case=use_case,
        name="AUC",
        metric="roc_auc",
        direction="higher",
        target=0.8,
        gate_threshold=0.7,
    )
    old.get_model("usecases", "KPI").objects.filter(pk=kpi.pk).update(created_at=LONG_AGO)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    migrated = KPI.objects.get(pk=kpi.pk)
    assert migrated.updated_at == migrated.created_at == LONG_AGO
