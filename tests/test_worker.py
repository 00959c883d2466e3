"""A round trip through a real Celery worker process and the configured broker.

The broker is whatever CELERY_BROKER_URL says (Redis in CI, the embedded filesystem broker
locally); the worker is `celery -A portal worker`, started by the `worker` fixture
(tests/conftest.py) on a queue of its own so no other worker steals the messages, against the
test database.
"""

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from registry.models import Evaluation
from registry.services import registering
from registry.tasks import run_evaluation_task
from tests.factories import MemberFactory, UseCaseFactory, evaluation_dataset, prediction_set
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
