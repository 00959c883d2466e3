"""Against a real `mlflow server`: a data scientist registers a model's versions with MLflow's
own client; the owner links the use case; Quorum imports the versions (idempotently, marking
a deleted one); promotions in Quorum move MLflow's aliases, read back with MLflow's client;
and a sync whose MLflow is killed mid-way is retried by a real Celery worker until it
succeeds once MLflow is back."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from mlflow_sync import tasks
from mlflow_sync.models import AliasSync, ImportedVersion, MlflowLink
from mlflow_sync.services import importing, links, scheduling
from promotions.models import PromotionRequest
from promotions.services import requests as promotion_requests
from registry.models import ModelVersion
from tests.promotions.evidence import closed_campaign, evaluation, gating_kpi, reference, tally
from usecases.models import AuditEvent

pytestmark = [pytest.mark.mlflow, pytest.mark.usefixtures("allow_loopback")]


def register_model(server, versions: int = 3) -> str:
    """A registered model with `versions` versions, each from a run with a parameter and a
    metric logged twice (the last value is the final one)."""
    import mlflow

    client = server.client()
    name = f"churn-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    experiment = client.create_experiment(name)
    for n in range(1, versions + 1):
        run = client.create_run(experiment)
        client.log_param(run.info.run_id, "max_depth", str(3 + n))
        client.log_metric(run.info.run_id, "val_auc", 0.5, step=0)
        client.log_metric(run.info.run_id, "val_auc", 0.80 + n / 100, step=1)
        client.set_terminated(run.info.run_id)
        client.create_model_version(
            name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags={"n": n}
        )
    del mlflow
    return name


def linked(use_case, personas, server, name: str) -> MlflowLink:
    return links.save_link(use_case, by=personas["owner"], tracking_uri=server.uri, model_name=name)


def aliases_in_mlflow(server, name: str) -> dict[str, str]:
    return dict(server.client().get_registered_model(name).aliases)


def stage_tags(server, name: str) -> dict[str, str]:
    versions = server.client().search_model_versions(f"name='{name}'")
    return {v.version: v.tags.get("quorum.stage") for v in versions}


def promote(use_case, personas, version: ModelVersion, target: str) -> PromotionRequest:
    """A promotion through the services, with passing evidence, executed."""
    by = personas["data_scientist"]
    if not use_case.kpis.exists():
        gating_kpi(use_case)
    dataset = use_case.datasets.first() or reference(use_case, by)
    if not version.evaluations.exists():
        evaluation(version, dataset, by)
        tally(version, rows=100, violating=1)
        closed_campaign(version, personas["owner"], personas["expert"], correct=9, incorrect=1)
    request = promotion_requests.open_request(
        use_case, by=by, version=version, target_stage=target, rationale="Better."
    )
    for approver in ("expert", "owner"):
        if request.status == PromotionRequest.Status.EXECUTED:
            break
        request = promotion_requests.approve(request, by=personas[approver])
    assert request.status == PromotionRequest.Status.EXECUTED, request.outcome_note
    return request


def test_import_reads_versions_runs_and_aliases_and_a_second_import_changes_nothing(
    db, use_case, personas, mlflow_server
):
    name = register_model(mlflow_server)
    client = mlflow_server.client()
    client.set_registered_model_alias(name, "champion", "2")
    link = linked(use_case, personas, mlflow_server, name)
    assert link.checked_at is not None

    summary = importing.import_versions(link, by=personas["data_scientist"])

    assert (summary.created, summary.updated, summary.deleted) == (3, 0, 0)
    versions = {v.version: v for v in ModelVersion.objects.filter(use_case=use_case)}
    assert sorted(versions) == ["1", "2", "3"]
    two = versions["2"].mlflow
    run = client.get_run(two.run_id)
    assert versions["2"].mlflow_run_id == run.info.run_id
    assert versions["2"].artifact_uri == f"runs:/{run.info.run_id}/model"
    assert two.run_params == {"max_depth": "5"} == versions["2"].parameters
    assert two.run_metrics == {"val_auc": pytest.approx(0.82)}
    assert two.aliases == ["champion"] and two.tags == {"n": "2"}
    assert two.experiment_id == run.info.experiment_id and two.run_status == "FINISHED"

    events = AuditEvent.objects.count()
    stamps = list(ImportedVersion.objects.order_by("pk").values_list("changed_at", flat=True))
    again = importing.import_versions(link)
    assert (again.created, again.updated, again.unchanged, again.deleted) == (0, 0, 3, 0)
    assert AuditEvent.objects.count() == events
    assert list(ImportedVersion.objects.order_by("pk").values_list("changed_at", flat=True)) == (
        stamps
    )
    # Finished runs are not read again: the model, one search page.
    assert again.requests == 2


def test_a_version_deleted_in_mlflow_is_marked_and_kept(db, use_case, personas, mlflow_server):
    name = register_model(mlflow_server, versions=2)
    link = linked(use_case, personas, mlflow_server, name)
    importing.import_versions(link)
    mlflow_server.client().delete_model_version(name, "1")

    summary = importing.import_versions(link)

    assert summary.deleted == 1
    gone = ImportedVersion.objects.get(link=link, mlflow_version="1")
    assert gone.deleted_at is not None
    assert ModelVersion.objects.filter(use_case=use_case, version="1").exists()
    assert importing.import_versions(link).deleted == 0  # marked once


def test_the_link_is_checked_against_mlflow_when_saved(db, use_case, personas, mlflow_server):
    with pytest.raises(links.InvalidInput, match="no registered model"):
        linked(use_case, personas, mlflow_server, "no-such-model")
    assert not MlflowLink.objects.exists()


def test_promotions_in_quorum_move_the_aliases_in_mlflow(
    db, use_case, personas, mlflow_server, django_capture_on_commit_callbacks, monkeypatch
):
    name = register_model(mlflow_server)
    link = linked(use_case, personas, mlflow_server, name)
    importing.import_versions(link)
    queued = []
    monkeypatch.setattr(tasks.sync_aliases, "delay", queued.append)
    two, three = (ModelVersion.objects.get(use_case=use_case, version=v) for v in ("2", "3"))

    with django_capture_on_commit_callbacks(execute=True):
        promote(use_case, personas, two, "shadow")
    with django_capture_on_commit_callbacks(execute=True):
        promote(use_case, personas, two, "production")
    with django_capture_on_commit_callbacks(execute=True):
        promote(use_case, personas, three, "shadow")
    assert len(queued) == 3
    for sync_id in queued:
        assert scheduling.sync_attempt(sync_id, retries=0) is None

    assert aliases_in_mlflow(mlflow_server, name) == {"champion": "2", "shadow": "3"}
    assert stage_tags(mlflow_server, name) == {"1": "registered", "2": "production", "3": "shadow"}
    assert {s.state for s in AliasSync.objects.filter(link=link)} == {"succeeded"}
    # Re-importing reads Quorum's own tags and aliases as MLflow's: nothing else changes.
    importing.import_versions(link)
    assert importing.import_versions(link).updated == 0


@pytest.mark.worker(env={"MLFLOW_SYNC_BACKOFF_SECONDS": "2", "MLFLOW_ALLOWED_HOSTS": "127.0.0.1"})
@pytest.mark.django_db(transaction=True)
def test_a_sync_whose_mlflow_was_killed_is_retried_until_it_succeeds(
    use_case, personas, mlflow_server, worker
):
    name = register_model(mlflow_server, versions=1)
    link = linked(use_case, personas, mlflow_server, name)
    importing.import_versions(link)
    ModelVersion.objects.filter(use_case=use_case, version="1").update(stage="production")
    sync = AliasSync.objects.create(link=link)

    mlflow_server.stop()  # SIGKILL: MLflow is down when the sync runs
    tasks.sync_aliases.apply_async(args=[sync.pk], queue=worker.queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sync.refresh_from_db()
        if sync.attempts >= 2:
            break
        time.sleep(0.3)
    assert sync.state == AliasSync.State.RETRYING and sync.attempts >= 2, sync.error
    assert "connection" in sync.error.lower()
    mlflow_server.start()

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        sync.refresh_from_db()
        if sync.state != AliasSync.State.RETRYING:
            break
        time.sleep(0.5)
    assert sync.state == AliasSync.State.SUCCEEDED, sync.error
    assert sync.attempts >= 3 and sync.error == ""
    assert aliases_in_mlflow(mlflow_server, name) == {"champion": "1"}
    assert stage_tags(mlflow_server, name) == {"1": "production"}
    connection.close()


def test_the_version_page_shows_the_run_and_the_history_says_what_was_imported(
    db, client, use_case, personas, mlflow_server
):
    name = register_model(mlflow_server, versions=1)
    link = linked(use_case, personas, mlflow_server, name)
    importing.import_versions(link, by=personas["data_scientist"])
    imported = ImportedVersion.objects.get(link=link)
    client.force_login(personas["viewer"])

    url = reverse("registry:version_detail", args=[use_case.slug, "1"])
    page = client.get(url).content.decode()

    assert "From MLflow" in page and "val_auc" in page and "max_depth" in page
    run_url = f"{mlflow_server.uri}/#/experiments/{imported.experiment_id}/runs/{imported.run_id}"
    assert f'href="{run_url}"' in page
    history = client.get(f"/usecases/{use_case.slug}/history/").content.decode()
    assert "imported from MLflow: 1 new, 0 changed and 0 deleted versions" in history


def test_another_model_needs_an_unlink_once_versions_were_imported(
    db, use_case, personas, mlflow_server
):
    name = register_model(mlflow_server, versions=1)
    link = linked(use_case, personas, mlflow_server, name)
    importing.import_versions(link)
    other = register_model(mlflow_server, versions=1)
    with pytest.raises(links.InvalidInput, match="unlink first"):
        links.save_link(use_case, by=personas["owner"], model_name=other)
    links.save_link(use_case, by=personas["owner"], import_every_hours=24)  # the rest may change
    assert links.remove_link(use_case, by=personas["owner"])
    assert ModelVersion.objects.filter(use_case=use_case, version="1").exists()
    relinked = linked(use_case, personas, mlflow_server, other)
    summary = importing.import_versions(relinked)
    assert summary.created == 0 and summary.skipped == [
        "version 1: Version “1” is already registered for this use case."
    ]
    # Quorum's version 1 is in production but is not the other model's: its alias is left.
    ModelVersion.objects.filter(use_case=use_case, version="1").update(stage="production")
    mlflow_server.client().set_registered_model_alias(other, "champion", "1")
    sync = AliasSync.objects.create(link=relinked)
    assert scheduling.sync_attempt(sync.pk, retries=0) is None
    sync.refresh_from_db()
    assert sync.state == "succeeded"
    assert "alias champion left: its stage's version is not from MLflow" in sync.changes
    assert aliases_in_mlflow(mlflow_server, other) == {"champion": "1"}


def test_relinking_the_same_model_adopts_its_versions_by_run(db, use_case, personas, mlflow_server):
    name = register_model(mlflow_server, versions=2)
    link = linked(use_case, personas, mlflow_server, name)
    importing.import_versions(link)
    with pytest.raises(links.InvalidInput, match="unlink first"):
        links.save_link(use_case, by=personas["owner"], tracking_uri=f"{mlflow_server.uri}/")
    links.remove_link(use_case, by=personas["owner"])

    summary = importing.import_versions(linked(use_case, personas, mlflow_server, name))

    assert (summary.adopted, summary.created, summary.skipped) == (2, 0, [])
    assert ModelVersion.objects.filter(use_case=use_case, mlflow__isnull=False).count() == 2


def test_a_version_gone_from_mlflow_is_marked_by_the_sync_which_goes_on(
    db, use_case, personas, mlflow_server
):
    name = register_model(mlflow_server, versions=2)
    link = linked(use_case, personas, mlflow_server, name)
    importing.import_versions(link)
    ModelVersion.objects.filter(use_case=use_case, version="1").update(stage="production")
    ModelVersion.objects.filter(use_case=use_case, version="2").update(stage="shadow")
    mlflow_server.client().delete_model_version(name, "1")
    sync = AliasSync.objects.create(link=link)

    assert scheduling.sync_attempt(sync.pk, retries=0) is None

    sync.refresh_from_db()
    assert sync.state == "succeeded", sync.error
    assert ImportedVersion.objects.get(link=link, mlflow_version="1").deleted_at is not None
    assert aliases_in_mlflow(mlflow_server, name) == {"shadow": "2"}


def test_an_answer_quorum_cannot_store_fails_the_import_visibly(
    db, use_case, personas, mlflow_server, monkeypatch
):
    name = register_model(mlflow_server, versions=1)
    link = linked(use_case, personas, mlflow_server, name)
    monkeypatch.setattr(importing, "read_mlflow", lambda *a: 1 / 0)
    assert scheduling.import_now(link.pk, None) is None
    link.refresh_from_db()
    assert link.last_import_at is not None
    assert link.last_import_error.startswith("The import stopped: ZeroDivisionError")
    sync = AliasSync.objects.create(link=link)
    monkeypatch.setattr(
        scheduling.syncing, "run_sync", lambda *a: {}["x"]
    )  # a bug in the sync: recorded, never left queued
    assert scheduling.sync_attempt(sync.pk, retries=0) is None
    sync.refresh_from_db()
    assert sync.state == "failed" and "KeyError" in sync.error
