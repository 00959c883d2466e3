"""A round trip through a real Celery worker process and the configured broker.

The broker is whatever CELERY_BROKER_URL says (Redis in CI, the embedded filesystem broker
locally); the worker is `celery -A portal worker`, started by the `worker` fixture
(tests/conftest.py) on a queue of its own so no other worker steals the messages, against the
test database.
"""

import datetime
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from django.utils import timezone

from monitoring.models import PREDICTION_FEATURE, DailyDrift, DailyKPI, DailyQuality, DailyRun
from monitoring.services.log_reads import SCORE
from monitoring.tasks import run_day_task
from predictions.models import Prediction
from registry.models import Evaluation, EvaluationDataset, ModelVersion
from registry.services import registering
from registry.tasks import run_evaluation_task
from tests.factories import (
    KPIFactory,
    MemberFactory,
    RuleFactory,
    UseCaseFactory,
    evaluation_dataset,
    make_version,
    prediction_set,
    stored_table,
)
from usecases.models import AuditEvent, UseCaseMember
from usecases.tasks import send_welcome_task

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def mails_in(outbox: Path) -> list[str]:
    """The messages written so far. The file backend names files by second and backend
    object, so two messages can share a file: split on the headers, not on files."""
    text = "".join(path.read_text() for path in sorted(outbox.glob("*.log")))
    return [part for part in text.split("Content-Type: text/plain") if "To: " in part]


def wait_for_mails(outbox: Path, count: int, timeout: float = 90) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(mails := mails_in(outbox)) >= count:
            return mails
        time.sleep(0.3)
    pytest.fail(f"the worker delivered {len(mails_in(outbox))} of {count} e-mails")


def test_a_real_worker_sends_the_welcome_mail_once_even_when_the_message_is_delivered_twice(
    worker,
):
    queue, outbox = worker.queue, worker.outbox
    use_case = UseCaseFactory(title="Shelf replenishment")
    first = MemberFactory(use_case=use_case, user__email="first@example.com")
    second = MemberFactory(use_case=use_case, user__email="second@example.com")

    send_welcome_task.apply_async(args=[first.pk], queue=queue)
    send_welcome_task.apply_async(args=[first.pk], queue=queue)  # a duplicate delivery
    send_welcome_task.apply_async(args=[second.pk], queue=queue)

    # One worker slot and prefetch 1: the queue is consumed in order, so once the second
    # member's mail is out, the duplicate has been handled too.
    wait_for_mails(outbox, 2)
    time.sleep(1)
    mails = mails_in(outbox)
    assert len(mails) == 2
    assert sum("To: first@example.com" in mail for mail in mails) == 1
    assert any("To: second@example.com" in mail and "Shelf replenishment" in mail for mail in mails)
    assert UseCaseMember.objects.filter(notified_at__isnull=False).count() == 2


def child_pids(parent: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    return [int(pid) for pid in result.stdout.split()]


def test_a_worker_killed_mid_evaluation_leads_to_one_rerun_and_exactly_one_result(worker, personas):
    queue = worker.queue
    rng = np.random.default_rng(3)
    # A binary evaluation of 1,000,000 rows and 20 segments computes for about 2 s: the kill
    # below lands in the middle of it (the test fails on attempts if it came too late).
    n = 1_000_000
    y = rng.random(n) < 0.3
    use_case = UseCaseFactory(feature_schema=[], task_type="binary")
    scientist = personas["data_scientist"]
    dataset = evaluation_dataset(
        use_case, scientist, y.astype(int), (np.arange(n) % 20).astype(str)
    )
    version = registering.register_version(use_case, by=scientist, version="1.0")
    prediction_set(version, dataset, scientist, score=np.clip(0.3 * y + rng.random(n), 0, 1))
    evaluation = Evaluation.objects.create(
        use_case=use_case, model_version=version, dataset=dataset, requested_by=scientist
    )

    run_evaluation_task.apply_async(args=[evaluation.pk], queue=queue)
    deadline = time.monotonic() + 120
    while Evaluation.objects.get(pk=evaluation.pk).progress < 20:  # data loaded, computing
        assert time.monotonic() < deadline, "the worker never started the evaluation"
        time.sleep(0.02)
    (child,) = child_pids(worker.process.pid)
    os.kill(child, 9)  # SIGKILL: no cleanup, no acknowledgement

    while Evaluation.objects.get(pk=evaluation.pk).status in ("queued", "running"):
        assert time.monotonic() < deadline + 120, "the evaluation never finished after the kill"
        time.sleep(0.2)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.attempts == 2  # the killed run and the redelivered one
    assert evaluation.run_count == 1  # results written once
    assert Evaluation.objects.filter(model_version=version).count() == 1
    assert AuditEvent.objects.filter(verb="evaluation.succeeded").count() == 1


# The daily monitoring job killed mid-run. The worker runs with a 20-second stale time instead
# of 15 minutes (MONITORING_STALE_SECONDS). The killed child's message is requeued once the
# worker declares it lost: at once on Redis, after worker_lost_wait (10 s) with the embedded
# filesystem broker. Either way that delivery must still find the killed run's heartbeat
# fresh, wait for it to go stale (RunBusy: a retry), then take the day over. No phase of a run
# lasts near 20 s here (a second or two each), and with one worker slot nothing else could
# take a live run over anyway.
STALE_SECONDS = 20
DAY = datetime.date(2026, 3, 10)
FEATURES = [
    {"name": "age", "type": "number"},
    {"name": "visits", "type": "integer"},
    {"name": "plan", "type": "category"},
    {"name": "active", "type": "boolean"},
]
PLANS = np.array(["basic", "plus", "pro"])


def feature_columns(rng, n: int) -> dict[str, np.ndarray]:
    return {
        "age": rng.normal(40, 10, n).round(1),
        "visits": rng.poisson(3, n),
        "plan": rng.choice(PLANS, n, p=[0.5, 0.3, 0.2]),
        "active": rng.random(n) < 0.7,
    }


def deployed_version_with_a_day(owner, n: int) -> ModelVersion:
    """A production binary version with 3 KPIs, 1 data-quality rule, a reference (a holdout
    of 2,000 rows, its predictions and a succeeded evaluation) and `n` predictions on DAY,
    all with an outcome and the 4 features, written with bulk_create."""
    use_case = UseCaseFactory(owner=owner, task_type="binary", feature_schema=FEATURES)
    for metric, segment, direction, target, gate in (
        ("roc_auc", "", "higher", 0.9, 0.85),
        ("precision", "business", "higher", 0.8, 0.7),
        ("log_loss", "", "lower", 0.3, 0.4),
    ):
        KPIFactory(
            use_case=use_case,
            metric=metric,
            segment=segment,
            direction=direction,
            target=target,
            gate_threshold=gate,
        )
    RuleFactory(use_case=use_case, field="age", params={"min": 0, "max": 120})
    version = make_version(use_case, "1.0.0", owner)
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    rng = np.random.default_rng(14)

    reference = feature_columns(rng, 2000)
    table = pa.table(
        {"id": [f"r{i}" for i in range(2000)], **reference, "label": rng.integers(0, 2, 2000)}
    )
    dataset = EvaluationDataset.objects.create(
        use_case=use_case,
        name="holdout",
        file_format="parquet",
        row_count=2000,
        columns=table.column_names,
        table=stored_table(table),
        uploaded_by=owner,
    )
    scores = rng.random(2000).round(4)
    prediction_set(version, dataset, owner, prediction=(scores >= 0.5).astype(int), score=scores)
    Evaluation.objects.create(
        use_case=use_case,
        model_version=version,
        dataset=dataset,
        requested_by=owner,
        status=Evaluation.Status.SUCCEEDED,
        progress=100,
        threshold=0.5,
        finished_at=timezone.now(),
    )

    live = feature_columns(rng, n)
    label = rng.random(n) < 0.4
    score = np.clip(0.3 * label + 0.7 * rng.random(n), 0, 1).round(4)
    start = datetime.datetime.combine(DAY, datetime.time(), tzinfo=datetime.UTC)
    seconds = rng.integers(0, 86_400, n)
    rows = (
        Prediction(
            use_case_id=use_case.pk,
            model_version_id=version.pk,
            request_id=f"q{i}",
            predicted_at=start + datetime.timedelta(seconds=int(seconds[i])),
            features={
                "age": float(live["age"][i]),
                "visits": int(live["visits"][i]),
                "plan": str(live["plan"][i]),
                "active": bool(live["active"][i]),
            },
            prediction=int(score[i] >= 0.5),
            score=float(score[i]),
            segment="business" if i % 3 == 0 else "retail",
            random_key=float(i) / n,
            outcome=int(label[i]),
            error=float(abs(score[i] - label[i])),
        )
        for i in range(n)
    )
    Prediction.objects.bulk_create(rows, batch_size=5000)
    return version


def wait_until_gone(pid: int, timeout: float = 10) -> None:
    """Until the process has exited (gone, or a zombie its parent has not reaped yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    pytest.fail(f"process {pid} still runs after SIGKILL")


@pytest.mark.worker(env={"MONITORING_STALE_SECONDS": str(STALE_SECONDS)})
def test_a_worker_killed_mid_monitoring_run_leads_to_one_retry_and_one_set_of_results(
    worker, personas
):
    n = 40_000  # KPIs with bootstrap intervals and drift: about 2 s of work
    version = deployed_version_with_a_day(personas["owner"], n)
    runs = DailyRun.objects.filter(model_version=version, day=DAY)
    Status = DailyRun.Status

    run_day_task.apply_async(args=[version.pk, DAY.isoformat()], queue=worker.queue)
    deadline = time.monotonic() + 120
    while not runs.filter(status=Status.RUNNING).exists():  # claimed, computing
        assert time.monotonic() < deadline, "the worker never started the run"
        time.sleep(0.02)
    (child,) = child_pids(worker.process.pid)
    os.kill(child, signal.SIGKILL)  # no cleanup, no acknowledgement
    wait_until_gone(child)
    # The kill landed mid-run: the first attempt holds the day and wrote nothing.
    killed = runs.get()
    assert (killed.status, killed.attempts) == (Status.RUNNING, 1)
    assert not DailyKPI.objects.filter(run=killed).exists()

    # reject_on_worker_lost requeues the message once the worker declares its child lost; that
    # delivery finds the day running with a fresh heartbeat, retries once it could be stale,
    # then takes it over.
    while runs.get().status in (Status.QUEUED, Status.RUNNING):
        assert time.monotonic() < deadline + 60, "the run never finished after the kill"
        time.sleep(0.2)
    run = runs.get()
    assert run.status == Status.SUCCEEDED, run.error
    assert run.attempts == 2  # the killed attempt and the retry's
    assert run.started_at >= killed.heartbeat_at + datetime.timedelta(seconds=STALE_SECONDS)
    assert run.n_predictions == run.n_with_outcome == n
    # The redelivery found the run live and waited for the stale time (RunBusy → retry).
    assert re.search(r"monitoring\.run_day\[\S+\] retry: Retry in", worker.log.read_text())

    # One set of results for the (version, day): one row per KPI, feature and rule.
    use_case = version.use_case
    assert DailyRun.objects.filter(model_version=version).count() == 1
    kpis = DailyKPI.objects.filter(run__model_version=version)
    assert sorted(kpis.values_list("kpi_id", flat=True)) == sorted(
        use_case.kpis.values_list("pk", flat=True)
    )
    assert all(kpi.value is not None for kpi in kpis)
    features = sorted(
        DailyDrift.objects.filter(run__model_version=version).values_list("feature", flat=True)
    )
    assert features == sorted([f["name"] for f in FEATURES] + [PREDICTION_FEATURE, SCORE])
    assert DailyQuality.objects.filter(run__model_version=version).count() == 1
