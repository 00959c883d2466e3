"""Evaluations: queueing, claiming, running, failing and re-running (no Celery here: the
service is called as the worker calls it; tests/test_worker.py covers the real worker)."""

import datetime
import io

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from sklearn import metrics as skm

from portal.errors import DomainError
from registry.models import Evaluation, ModelVersion, PredictionSet
from registry.services import evaluations, registering
from tests.factories import KPIFactory, UseCaseFactory, evaluation_dataset, prediction_set
from usecases.models import AuditEvent


@pytest.fixture
def regression(use_case, personas):
    """A regression use case with a 2,000-row holdout over 4 stores and one version."""
    rng = np.random.default_rng(1)
    y = rng.gamma(4, 5, 2000)
    stores = np.array(["S01", "S02", "S03", "S04"])[rng.integers(0, 4, 2000)]
    scientist = personas["data_scientist"]
    dataset = evaluation_dataset(use_case, scientist, y, stores.tolist())
    version = registering.register_version(use_case, by=scientist, version="1.0")
    prediction_set(version, dataset, scientist, prediction=y + rng.normal(0, 2, 2000))
    KPIFactory(use_case=use_case, name="MAE", metric="mae", target=1.5, gate_threshold=2.5)
    return {"dataset": dataset, "version": version, "y": y, "by": scientist}


def queued(regression, django_capture_on_commit_callbacks) -> Evaluation:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        evaluation = evaluations.start_evaluation(
            regression["version"], by=regression["by"], dataset=regression["dataset"]
        )
    assert len(callbacks) == 1  # the task is sent once the row is committed
    return evaluation


def test_starting_an_evaluation_queues_it_and_schedules_the_task_after_commit(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    assert evaluation.status == Evaluation.Status.QUEUED
    assert AuditEvent.objects.filter(verb="evaluation.queued").count() == 1


def test_an_evaluation_needs_the_versions_predictions_on_that_dataset(regression, personas):
    other = registering.register_version(
        regression["version"].use_case, by=personas["owner"], version="2.0"
    )
    with pytest.raises(DomainError, match="Upload version 2.0's predictions"):
        evaluations.start_evaluation(other, by=personas["owner"], dataset=regression["dataset"])


def test_a_queued_evaluation_cannot_be_started_twice(
    regression, django_capture_on_commit_callbacks
):
    queued(regression, django_capture_on_commit_callbacks)
    with pytest.raises(DomainError, match="already queued or running"):
        evaluations.start_evaluation(
            regression["version"], by=regression["by"], dataset=regression["dataset"]
        )


def test_running_stores_metrics_that_match_numpy_and_the_kpi_gate(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    assert evaluations.run_evaluation(evaluation.pk, task_id="t1") is True
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.progress, evaluation.run_count) == ("succeeded", 100, 1)
    prediction = (
        pq.read_table(io.BytesIO(bytes(PredictionSet.objects.get().table.parquet)))
        .column("prediction")
        .to_numpy()
    )
    mae = np.mean(np.abs(prediction - regression["y"]))
    overall = evaluation.results["overall"]["mae"]
    assert overall["value"] == pytest.approx(mae)
    assert overall["low"] <= mae <= overall["high"]
    assert set(evaluation.results["segments"]) == {"S01", "S02", "S03", "S04"}
    (gate,) = evaluation.gates
    assert gate["name"] == "MAE" and gate["passed"] is bool(mae <= 2.5)
    assert evaluation.passed_gates is gate["passed"]
    assert AuditEvent.objects.filter(verb="evaluation.succeeded").count() == 1


def test_running_again_creates_a_new_evaluation_and_keeps_the_old_results(
    regression, django_capture_on_commit_callbacks
):
    first = queued(regression, django_capture_on_commit_callbacks)
    evaluations.run_evaluation(first.pk)
    Evaluation.objects.filter(pk=first.pk).update(results={"kept": True})  # to tell them apart
    second = queued(regression, django_capture_on_commit_callbacks)
    assert second.pk != first.pk and second.status == "queued"
    evaluations.run_evaluation(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.results, first.superseded_by) == (
        "succeeded",
        {"kept": True},
        second,
    )
    assert first.superseded_at is not None and first.superseded_at >= first.finished_at
    assert (second.status, second.superseded_at, second.run_count) == ("succeeded", None, 1)
    assert list(Evaluation.objects.current()) == [second]
    queued_events = AuditEvent.objects.filter(verb="evaluation.queued").order_by("pk")
    assert [event.after.get("supersedes") for event in queued_events] == [None, first.pk]


def test_a_failed_evaluation_run_again_is_superseded_too(
    regression, django_capture_on_commit_callbacks
):
    first = queued(regression, django_capture_on_commit_callbacks)
    Evaluation.objects.filter(pk=first.pk).update(status="failed", error="boom")
    second = queued(regression, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert (first.status, first.error, first.superseded_by_id) == ("failed", "boom", second.pk)


def test_the_database_allows_one_current_evaluation_per_version_and_dataset(
    regression, django_capture_on_commit_callbacks
):
    first = queued(regression, django_capture_on_commit_callbacks)
    duplicate = {
        "use_case": first.use_case,
        "model_version": first.model_version,
        "dataset": first.dataset,
        "requested_by": first.requested_by,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Evaluation.objects.create(**duplicate)
    with pytest.raises(IntegrityError), transaction.atomic():  # a live run is never superseded
        Evaluation.objects.filter(pk=first.pk).update(superseded_at=timezone.now())
    Evaluation.objects.filter(pk=first.pk).update(status="failed", superseded_at=timezone.now())
    Evaluation.objects.create(**duplicate)  # the old one is superseded: allowed
    assert Evaluation.objects.current().count() == 1


def test_a_duplicate_delivery_of_a_finished_evaluation_does_nothing(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    evaluations.run_evaluation(evaluation.pk, task_id="t1")
    assert evaluations.run_evaluation(evaluation.pk, task_id="t1") is False
    assert Evaluation.objects.get().run_count == 1


def test_a_live_claim_is_not_taken_over_but_a_silent_one_is(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    assert evaluations.claim_evaluation(evaluation.pk, task_id="t1")
    assert evaluations.claim_evaluation(evaluation.pk, task_id="t2") is None
    Evaluation.objects.filter(pk=evaluation.pk).update(
        heartbeat_at=timezone.now() - evaluations.STALE - datetime.timedelta(seconds=1)
    )
    assert evaluations.claim_evaluation(evaluation.pk, task_id="t2")
    assert Evaluation.objects.get().attempts == 2


def test_a_redelivered_task_whose_process_died_is_claimed_again_at_once(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    dead = f"{evaluations.socket.gethostname()}:999999999:t1"  # no such process
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status="running", claimed_by=dead, heartbeat_at=timezone.now(), attempts=1
    )
    assert evaluations.claim_evaluation(evaluation.pk, task_id="other-task") is None
    assert evaluations.claim_evaluation(evaluation.pk, task_id="t1")


def test_an_evaluation_whose_worker_keeps_dying_fails_after_the_attempt_cap(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    dead = f"{evaluations.socket.gethostname()}:999999999:t1"
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status="running", claimed_by=dead, attempts=evaluations.MAX_ATTEMPTS
    )
    assert evaluations.run_evaluation(evaluation.pk, task_id="t1") is False
    evaluation.refresh_from_db()
    assert evaluation.status == "failed" and "Gave up after 3 attempts" in evaluation.error


def test_a_failing_run_marks_the_evaluation_failed_with_the_message(
    use_case, personas, django_capture_on_commit_callbacks
):
    scientist = personas["data_scientist"]
    dataset = evaluation_dataset(use_case, scientist, [1.0, 2.0, 3.0])
    version = registering.register_version(use_case, by=scientist, version="bad")
    prediction_set(version, dataset, scientist, prediction=[1.0, float("nan"), 2.0])
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    with pytest.raises(ValueError):
        evaluations.run_evaluation(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert evaluation.error  # the metric engine's own words, shown on the page


def test_the_production_version_is_compared_on_the_same_rows(
    regression, django_capture_on_commit_callbacks
):
    champion = regression["version"]
    ModelVersion.objects.filter(pk=champion.pk).update(stage="production")
    challenger = registering.register_version(champion.use_case, by=regression["by"], version="2.0")
    prediction_set(
        challenger, regression["dataset"], regression["by"], prediction=regression["y"] + 0.5
    )
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluations.start_evaluation(
            challenger, by=regression["by"], dataset=regression["dataset"]
        )
    evaluations.run_evaluation(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.champion == champion
    assert evaluation.results["comparison"]["mae"]["difference"] < 0  # the challenger is better


def test_evaluations_of_other_use_cases_stay_invisible(regression, personas):
    UseCaseFactory()
    assert list(Evaluation.objects.visible_to(personas["outsider"])) == []


def test_multiclass_probabilities_are_read_per_class_and_the_champion_aligned_by_name(
    personas, django_capture_on_commit_callbacks
):
    rng = np.random.default_rng(8)
    classes = np.array(["bakery", "dairy", "produce"])
    truth = rng.integers(0, 3, 1500)
    use_case = UseCaseFactory(task_type="multiclass", feature_schema=[])
    scientist = personas["data_scientist"]
    dataset = evaluation_dataset(use_case, scientist, classes[truth].tolist())

    def probabilities(strength):
        proba = rng.dirichlet(np.ones(3), 1500)
        proba[np.arange(1500), truth] += strength
        return proba / proba.sum(axis=1, keepdims=True)

    champion_proba, challenger_proba = probabilities(0.3), probabilities(1.0)
    champion = registering.register_version(use_case, by=scientist, version="1.0")
    ModelVersion.objects.filter(pk=champion.pk).update(stage="production")
    # The champion's file lists its class columns in another order than the challenger's.
    prediction_set(
        champion,
        dataset,
        scientist,
        prediction=classes[champion_proba.argmax(axis=1)].tolist(),
        **{f"proba_{classes[j]}": champion_proba[:, j] for j in (2, 0, 1)},
    )
    challenger = registering.register_version(use_case, by=scientist, version="2.0")
    prediction_set(
        challenger,
        dataset,
        scientist,
        prediction=classes[challenger_proba.argmax(axis=1)].tolist(),
        **{f"proba_{name}": challenger_proba[:, j] for j, name in enumerate(classes)},
    )
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluations.start_evaluation(challenger, by=scientist, dataset=dataset)
    evaluations.run_evaluation(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    overall = evaluation.results["overall"]
    actual = classes[truth]
    assert overall["log_loss"]["value"] == pytest.approx(
        skm.log_loss(actual, challenger_proba, labels=classes)
    )
    assert overall["f1"]["value"] == pytest.approx(
        skm.f1_score(actual, classes[challenger_proba.argmax(axis=1)], average="macro")
    )
    log_loss = evaluation.results["comparison"]["log_loss"]
    assert log_loss["champion"] == pytest.approx(
        skm.log_loss(actual, champion_proba, labels=classes)
    )


def test_a_kpi_whose_metric_is_undefined_is_not_measured_rather_than_failed(use_case):
    KPIFactory(use_case=use_case, name="MAE", metric="mae", target=1.5, gate_threshold=2.5)
    KPIFactory(use_case=use_case, name="RMSE", metric="rmse", target=1.5, gate_threshold=2.5)
    results = {
        "overall": {
            "mae": {"value": None, "low": None, "high": None},
            "rmse": {"value": 2.0, "low": 1.9, "high": 2.1},
        }
    }
    mae, rmse = evaluations.kpi_gates(use_case, results)
    assert (mae["passed"], mae["reason"]) == (None, "not measured on this data")
    assert rmse["passed"] is True


def test_a_delivery_that_meets_a_live_run_elsewhere_is_retried_not_dropped(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status="running", claimed_by="worker-a:4242:t1", heartbeat_at=timezone.now(), attempts=1
    )
    with pytest.raises(evaluations.EvaluationBusy) as busy:
        evaluations.run_evaluation(evaluation.pk, task_id="t1")
    assert 1 < busy.value.retry_in <= evaluations.STALE.total_seconds() + 1
    # Once that run has been silent for STALE, the retried delivery takes over and finishes.
    Evaluation.objects.filter(pk=evaluation.pk).update(
        heartbeat_at=timezone.now() - evaluations.STALE - datetime.timedelta(seconds=1)
    )
    assert evaluations.run_evaluation(evaluation.pk, task_id="t1") is True
    assert Evaluation.objects.get().status == "succeeded"


def test_a_live_run_at_the_attempt_cap_is_not_failed_by_a_duplicate_delivery(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    token = evaluations.claim_evaluation(evaluation.pk, task_id="t1")
    Evaluation.objects.filter(pk=evaluation.pk).update(attempts=evaluations.MAX_ATTEMPTS)
    assert evaluations.claim_evaluation(evaluation.pk, task_id="t-duplicate") is None
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.claimed_by) == ("running", token)


def test_an_abandoned_evaluation_can_be_queued_again_but_a_live_one_cannot(
    regression, django_capture_on_commit_callbacks
):
    evaluation = queued(regression, django_capture_on_commit_callbacks)
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status="running", claimed_by="worker-a:4242:t1", heartbeat_at=timezone.now()
    )
    with pytest.raises(DomainError, match="already queued or running"):
        queued(regression, django_capture_on_commit_callbacks)
    Evaluation.objects.filter(pk=evaluation.pk).update(
        heartbeat_at=timezone.now() - evaluations.STALE - datetime.timedelta(seconds=1)
    )
    assert queued(regression, django_capture_on_commit_callbacks).status == "queued"


def test_rows_without_a_segment_form_a_segment_of_their_own(
    use_case, personas, django_capture_on_commit_callbacks
):
    scientist = personas["data_scientist"]
    y = np.arange(40, dtype=float)
    dataset = evaluation_dataset(use_case, scientist, y, ["north"] * 20 + ["south"] * 19 + [None])
    version = registering.register_version(use_case, by=scientist, version="1.0")
    prediction_set(version, dataset, scientist, prediction=y + 1)
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    evaluations.run_evaluation(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.results["segments"]["(no segment)"]["rows"] == 1
