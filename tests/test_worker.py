"""A round trip through a real Celery worker process and the configured broker.

The broker is whatever CELERY_BROKER_URL says (Redis in CI, the embedded filesystem broker
locally); the worker is `celery -A portal worker`, started here on a queue of its own so no
other worker steals the messages, against the test database.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests.factories import MemberFactory, UseCaseFactory
from usecases.models import UseCaseMember
from usecases.tasks import send_welcome_task

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    """A worker process consuming a fresh queue; its e-mails land as files in `outbox`."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EMAIL_URL": f"filemail:///{outbox}",  # four slashes: an absolute path
        "SECRET_KEY": "tests-only-not-secret",
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--queues",
            queue,
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{queue}@%h",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parent.parent,
    )
    yield queue, outbox
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    print((tmp_path / "worker.log").read_text()[-3000:])


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
    queue, outbox = worker
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
