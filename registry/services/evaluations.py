"""Evaluations: queue one, and run it in a Celery worker, at least once and safely.

Delivery is at least once (acks_late + reject_on_worker_lost): a worker killed mid-run gets
its message back and a new worker runs it again. The effect is exactly once because
- a run starts by claiming the row with a conditional UPDATE: QUEUED, or RUNNING whose
  previous claimant is provably dead (same task redelivered and its process gone on this
  host) or silent for STALE; the claim stores a token that every later write checks;
- results, gates, status and the audit event are written in one transaction, again only
  while the token is ours; so a second delivery never writes twice;
- results are never overwritten: running a finished evaluation again creates a new row and
  marks the old one superseded (`start_evaluation`);
- `attempts` caps redeliveries: the broker keeps no count (STACK-NOTES §1.4).
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from portal.errors import DomainError
from registry import metrics, tasks, uploads
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet, StoredTable
from tables import io as table_io
from usecases.services import audit
from usecases.services.usecases import lock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
STALE = datetime.timedelta(minutes=2)  # no heartbeat for this long: the runner is gone
N_RESAMPLES = 1000
NO_SEGMENT = "(no segment)"
SEED = 20261123  # fixed: the same data gives the same intervals


class EvaluationError(DomainError):
    pass


class EvaluationBusy(Exception):
    """Another live run holds the evaluation; try again once its heartbeat could be stale."""

    def __init__(self, evaluation_id: int, retry_in: float) -> None:
        super().__init__(f"evaluation {evaluation_id} is running elsewhere")
        self.retry_in = retry_in


@transaction.atomic
def start_evaluation(
    model_version: ModelVersion, *, by: User, dataset: EvaluationDataset
) -> Evaluation:
    """Queue the evaluation of `model_version` on `dataset`. A finished current evaluation is
    kept, marked superseded by a new one; an abandoned one is queued again; a live one is
    refused. Two starts at once make one new evaluation: both lock the use case row first."""
    use_case = lock(model_version.use_case)
    if dataset.use_case_id != use_case.pk:
        raise EvaluationError("The dataset belongs to another use case.")
    if not PredictionSet.objects.filter(model_version=model_version, dataset=dataset).exists():
        raise EvaluationError(
            f"Upload version {model_version.version}'s predictions for “{dataset.name}” first."
        )
    current = (
        Evaluation.objects.select_for_update()
        .current()
        .filter(model_version=model_version, dataset=dataset)
        .first()
    )
    if current is not None and current.is_running:
        if not _abandoned(current):
            raise EvaluationError("This evaluation is already queued or running.")
        evaluation = _requeue(current, by=by)
    else:
        evaluation = _create_superseding(current, model_version, dataset, by=by)
    after = {"version": model_version.version, "dataset": dataset.name}
    if current is not None and current.pk != evaluation.pk:
        after["supersedes"] = current.pk
    audit.record(
        actor=by, verb="evaluation.queued", target=evaluation, use_case=use_case, after=after
    )
    tasks.run_evaluation_task.delay_on_commit(evaluation.pk)
    return evaluation


def _requeue(evaluation: Evaluation, *, by: User) -> Evaluation:
    """The same row queued afresh (it never finished, so there are no results to keep)."""
    evaluation.status = Evaluation.Status.QUEUED
    evaluation.progress = 0
    evaluation.error = ""
    evaluation.attempts = 0
    evaluation.requested_by = by
    evaluation.queued_at = timezone.now()
    evaluation.started_at = evaluation.finished_at = evaluation.heartbeat_at = None
    evaluation.claimed_by = ""
    evaluation.save()
    return evaluation


def _create_superseding(
    previous: Evaluation | None,
    model_version: ModelVersion,
    dataset: EvaluationDataset,
    *,
    by: User,
) -> Evaluation:
    """A new queued evaluation; `previous` (finished, locked by the caller) is marked
    superseded by it first, since only one current evaluation per pair may exist."""
    now = timezone.now()
    if previous is not None:
        Evaluation.objects.filter(pk=previous.pk).update(superseded_at=now)
    evaluation = Evaluation.objects.create(
        use_case=model_version.use_case,  # loaded by the caller's lock()
        model_version=model_version,
        dataset=dataset,
        requested_by=by,
        queued_at=now,
    )
    if previous is not None:
        Evaluation.objects.filter(pk=previous.pk).update(superseded_by=evaluation)
    return evaluation


def _abandoned(evaluation: Evaluation) -> bool:
    """Queued or running without a sign of life for STALE: no worker took it, or the one
    running it is gone. Queueing it again is then safe (the claim stops duplicates)."""
    last = evaluation.heartbeat_at or evaluation.queued_at or evaluation.created_at
    return last is None or last < timezone.now() - STALE


def _claim_token(task_id: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{task_id}"


def _claimant_is_dead(claimed_by: str, task_id: str) -> bool:
    """The same task, claimed on this host by a process that no longer exists: the broker
    redelivered it because that worker died (not a parallel run)."""
    host, _, rest = claimed_by.partition(":")
    pid, _, claimed_task = rest.partition(":")
    if host != socket.gethostname() or claimed_task != task_id or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_evaluation(evaluation_id: int, *, task_id: str = "") -> str | None:
    """Claim the evaluation for this process; the claim token, or None if it is not ours."""
    now, running = timezone.now(), Evaluation.Status.RUNNING
    current = Evaluation.objects.filter(pk=evaluation_id).values("status", "claimed_by").first()
    if current is None:
        return None
    claimable = Q(status=Evaluation.Status.QUEUED) | Q(status=running, heartbeat_at__lt=now - STALE)
    if current["status"] == running and _claimant_is_dead(current["claimed_by"], task_id):
        claimable |= Q(status=running, claimed_by=current["claimed_by"])
    token = _claim_token(task_id)
    rows = Evaluation.objects.filter(claimable, pk=evaluation_id, attempts__lt=MAX_ATTEMPTS)
    won = rows.update(
        status=running,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=now,
        claimed_by=token,
        progress=0,
    )
    if won:
        return token
    # The cap is reached and the last run is gone too (stale or dead): give up. A live run at
    # the cap is left alone; it may still succeed.
    if Evaluation.objects.filter(
        claimable, pk=evaluation_id, status=running, attempts__gte=MAX_ATTEMPTS
    ).exists():
        _fail(
            evaluation_id,
            None,
            f"Gave up after {MAX_ATTEMPTS} attempts: the worker running "
            "it stopped each time (out of memory or killed?).",
        )
    return None


def _mine(evaluation_id: int, token: str):
    return Evaluation.objects.filter(
        pk=evaluation_id, status=Evaluation.Status.RUNNING, claimed_by=token
    )


def _fail(evaluation_id: int, token: str | None, message: str) -> None:
    rows = Evaluation.objects.filter(pk=evaluation_id, status=Evaluation.Status.RUNNING)
    if token is not None:
        rows = rows.filter(claimed_by=token)
    rows.update(status=Evaluation.Status.FAILED, error=message[:2000], finished_at=timezone.now())


def _arrays(table: StoredTable, columns: list[str]):
    return table_io.load_table(bytes(table.parquet), columns=columns)


def _load(evaluation: Evaluation, prediction_set: PredictionSet) -> dict:
    """The label, segment, prediction and score columns as numpy arrays."""
    dataset = evaluation.dataset
    columns = ["label", "segment"] if dataset.has_segment else ["label"]
    data = _arrays(StoredTable.objects.only("parquet").get(pk=dataset.table_id), columns)
    predicted = _arrays(StoredTable.objects.only("parquet").get(pk=prediction_set.table_id), None)
    arrays = {"y_true": data.column("label").to_numpy(zero_copy_only=False)}
    if dataset.has_segment:  # a blank segment cell is a segment of its own
        segment = pc.fill_null(data.column("segment").cast(pa.string()), NO_SEGMENT)
        arrays["segments"] = segment.to_numpy(zero_copy_only=False)
    arrays.update(_predictions(predicted))
    return arrays


def _predictions(table) -> dict:
    out = {}
    if "prediction" in table.column_names and table.column("prediction").null_count < len(table):
        out["y_pred"] = table.column("prediction").to_numpy(zero_copy_only=False)
    if "score" in table.column_names and table.column("score").null_count < len(table):
        out["score"] = table.column("score").to_numpy(zero_copy_only=False).astype(float)
    probabilities = [n for n in table.column_names if n.startswith(uploads.PROBA_PREFIX)]
    if probabilities:  # multiclass: one proba_<class> column per class
        out["proba"] = np.column_stack(
            [table.column(n).to_numpy(zero_copy_only=False) for n in probabilities]
        ).astype(float)
        out["classes"] = [n.removeprefix(uploads.PROBA_PREFIX) for n in probabilities]
        out.pop("score", None)  # the predicted class's confidence adds nothing to proba
    return out


def _value_model(use_case) -> dict | None:
    value_model = getattr(use_case, "value_model", None)
    if value_model is None:
        return None
    fields = (
        "value_true_positive",
        "value_true_negative",
        "cost_false_positive",
        "cost_false_negative",
        "cost_per_unit_under",
        "cost_per_unit_over",
    )
    return {
        name: float(getattr(value_model, name))
        for name in fields
        if getattr(value_model, name) is not None
    }


def _champion(evaluation: Evaluation) -> tuple[ModelVersion | None, dict | None]:
    """The use case's production version, if it is another one with predictions here."""
    champion = (
        ModelVersion.objects.filter(
            use_case_id=evaluation.use_case_id, stage=ModelVersion.Stage.PRODUCTION
        )
        .exclude(pk=evaluation.model_version_id)
        .first()
    )
    if champion is None:
        return None, None
    prediction_set = PredictionSet.objects.filter(
        model_version=champion, dataset=evaluation.dataset
    ).first()
    if prediction_set is None:
        return None, None
    return champion, _predictions(_arrays(prediction_set.table, None))


def _aligned_probabilities(champion: dict, classes: list[str] | None) -> dict:
    """The champion's outputs with its class probabilities in the challenger's column order
    (without them when the two name different classes: accuracy and F1 still compare)."""
    champion_classes = champion.pop("classes", None)
    if "proba" in champion:
        if classes is None or sorted(classes) != sorted(champion_classes):
            champion.pop("proba")
        else:
            order = [champion_classes.index(name) for name in classes]
            champion["proba"] = champion["proba"][:, order]
    return champion


def kpi_gates(use_case, result: dict) -> list[dict]:
    """Each KPI's gate on the evaluation's results (a segment KPI reads its segment)."""
    gates = []
    for kpi in use_case.kpis.order_by("name"):
        source = result["overall"]
        if kpi.segment:
            source = result.get("segments", {}).get(kpi.segment, {}).get("metrics")
        entry = (source or {}).get(kpi.metric)
        if entry is None or entry.get("value") is None:  # absent, or undefined on this data
            gates.append(
                {
                    "kpi": kpi.pk,
                    "name": kpi.name,
                    "metric": kpi.metric,
                    "segment": kpi.segment,
                    "passed": None,
                    "is_gating": kpi.is_gating,
                    "reason": "not measured on this data",
                }
            )
            continue
        value, interval = entry["value"], (entry.get("low"), entry.get("high"))
        passed = metrics.gate_passes(
            direction=kpi.direction,
            threshold=kpi.gate_threshold,
            value=value,
            interval=interval if None not in interval else None,
            mode=kpi.gate_mode,
            metric=kpi.metric,
        )
        gates.append(
            {
                "kpi": kpi.pk,
                "name": kpi.name,
                "metric": kpi.metric,
                "segment": kpi.segment,
                "value": value,
                "low": interval[0],
                "high": interval[1],
                "target": kpi.target,
                "threshold": kpi.gate_threshold,
                "direction": kpi.direction,
                "mode": kpi.gate_mode,
                "is_gating": kpi.is_gating,
                "passed": bool(passed),
            }
        )
    return gates


def run_evaluation(evaluation_id: int, *, task_id: str = "") -> bool:
    """Claim, run and store the evaluation. False when there is nothing to do (finished, or
    given up); raises EvaluationBusy while another live run holds it (the task retries)."""
    token = claim_evaluation(evaluation_id, task_id=task_id)
    if token is None:
        row = Evaluation.objects.filter(pk=evaluation_id).values("status", "heartbeat_at").first()
        if row is not None and row["status"] == Evaluation.Status.RUNNING:
            # A live run elsewhere: this delivery must not be lost (that run may die without
            # its message coming back, e.g. on another host), so it retries later.
            stale_at = (row["heartbeat_at"] or timezone.now()) + STALE
            retry_in = max((stale_at - timezone.now()).total_seconds(), 1.0) + 1.0
            raise EvaluationBusy(evaluation_id, retry_in)
        logger.info("evaluation %s: not claimable here, nothing to do", evaluation_id)
        return False
    started = time.perf_counter()
    try:
        evaluation = Evaluation.objects.select_related(
            "use_case__value_model", "model_version", "dataset"
        ).get(pk=evaluation_id)
        use_case = evaluation.use_case
        prediction_set = PredictionSet.objects.get(
            model_version=evaluation.model_version, dataset=evaluation.dataset
        )
        arrays = _load(evaluation, prediction_set)
        champion, champion_arrays = _champion(evaluation)
        if champion_arrays is not None:
            champion_arrays = _aligned_probabilities(champion_arrays, arrays.get("classes"))
        threshold = use_case.decision_threshold if use_case.task_type == "binary" else None

        def progress(percent: int) -> None:
            _mine(evaluation_id, token).update(
                progress=min(max(int(percent), 0), 99), heartbeat_at=timezone.now()
            )

        result = metrics.evaluate(
            use_case.task_type,
            arrays.pop("y_true"),
            arrays.pop("y_pred", None),
            **arrays,
            threshold=threshold if threshold is not None else 0.5,
            value_model=_value_model(use_case),
            n_resamples=N_RESAMPLES,
            seed=SEED,
            champion=champion_arrays,
            progress=progress,
        ).to_dict()
    except Exception as error:
        logger.exception("evaluation %s failed", evaluation_id)
        message = (
            str(error)
            if isinstance(error, ValueError | DomainError)
            else (f"The evaluation failed: {type(error).__name__}: {error}")
        )
        _fail(evaluation_id, token, message)
        raise
    _store_results(evaluation, token, result, champion, threshold, started)
    return True


@transaction.atomic
def _store_results(
    evaluation: Evaluation, token: str, result: dict, champion, threshold, started: float
) -> None:
    use_case = lock(evaluation.use_case)
    gates = kpi_gates(use_case, result)
    gating = [gate["passed"] for gate in gates if gate["is_gating"]]
    written = _mine(evaluation.pk, token).update(
        status=Evaluation.Status.SUCCEEDED,
        progress=100,
        results=result,
        gates=gates,
        passed_gates=all(g is True for g in gating) if gating else None,
        champion=champion,
        threshold=threshold,
        finished_at=timezone.now(),
        worker_seconds=time.perf_counter() - started,
        run_count=F("run_count") + 1,
    )
    if not written:  # someone else re-claimed it meanwhile: their results will count
        logger.warning("evaluation %s: claim lost before storing; results discarded", evaluation.pk)
        return
    audit.record(
        actor=None,
        verb="evaluation.succeeded",
        target=evaluation,
        use_case=use_case,
        after={
            "version": evaluation.model_version.version,
            "dataset": evaluation.dataset.name,
            "passed_gates": all(g is True for g in gating) if gating else None,
        },
    )
