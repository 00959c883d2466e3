import threading

import pytest
from django.db import connection, transaction

from tests.factories import UseCaseFactory
from usecases.models import AuditEvent
from usecases.services import audit, usecases

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_writers_keep_one_unbroken_audit_chain(personas):
    owner = personas["owner"]
    cases = [UseCaseFactory(owner=owner) for _ in range(8)]
    errors: list[Exception] = []
    start = threading.Barrier(len(cases))

    def write(use_case):
        try:
            start.wait()
            for phase in ("scoping", "data", "poc", "pilot", "production"):
                usecases.change_phase(use_case, by=owner, phase=phase, note="Next step")
        except Exception as error:  # surfaced in the main thread below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(use_case,)) for use_case in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert AuditEvent.objects.filter(verb="usecase.phase_changed").count() == 8 * 5
    assert audit.verify_chain() == (8 * 5, [])


def test_a_batch_takes_the_chains_lock_only_at_its_end(personas):
    """While a batched step has recorded an event and goes on working, another use case's
    step appends and commits; the batch then links after it."""
    owner = personas["owner"]
    mine, other = UseCaseFactory(owner=owner), UseCaseFactory(owner=owner)
    recorded, other_done = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def batched_step():
        try:
            with transaction.atomic(), audit.batched():
                audit.record(actor=owner, verb="test.batched", target=mine)
                recorded.set()
                # Without the batch this thread would hold the lock and the other would wait.
                assert other_done.wait(timeout=20), "the other step waited for this one"
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=batched_step)
    thread.start()
    assert recorded.wait(timeout=20)
    usecases.change_phase(other, by=owner, phase="scoping", note="Meanwhile")
    other_done.set()
    thread.join()
    assert errors == []
    verbs = list(AuditEvent.objects.order_by("-id").values_list("verb", flat=True)[:2])
    assert verbs == ["test.batched", "usecase.phase_changed"]
    assert audit.verify_chain()[1] == []
