import threading

import pytest
from django.db import connection

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
