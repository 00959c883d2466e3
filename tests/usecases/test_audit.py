import pytest
from django.core.management import call_command
from django.db import connection, transaction

from usecases.models import AuditEvent
from usecases.services import audit, definitions, usecases


@pytest.fixture
def history(personas):
    owner = personas["owner"]
    use_case = usecases.create_use_case(by=owner, title="Churn", task_type="binary")
    definitions.create_kpi(
        use_case, by=owner, name="Recall", metric="recall", target=0.8, gate_threshold=0.7
    )
    usecases.change_phase(use_case, by=owner, phase="scoping", note="Framing agreed")
    return use_case


def test_every_change_appends_a_linked_event(history):
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.verb for e in events] == ["usecase.created", "kpi.created", "usecase.phase_changed"]
    assert events[0].previous_hash == audit.GENESIS
    assert [e.previous_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert events[2].before == {"phase": "idea"}
    assert events[2].after == {"phase": "scoping", "note": "Framing agreed"}
    assert audit.verify_chain() == (3, [])


def test_verify_audit_fails_when_an_event_is_edited_in_the_database(history, capsys):
    call_command("verify_audit")
    assert "intact" in capsys.readouterr().out
    event = AuditEvent.objects.get(verb="kpi.created")
    with connection.cursor() as cursor:  # a tamperer bypasses the ORM's append-only guard
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET after = %s WHERE id = %s",
            ['{"name": "Recall", "target": 0.1}', event.pk],
        )
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")
    assert exit_info.value.code == 1
    assert f"event {event.pk}" in capsys.readouterr().err


def test_verify_audit_fails_when_an_event_is_deleted(history, capsys):
    event = AuditEvent.objects.get(verb="kpi.created")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [event.pk])
    with pytest.raises(SystemExit):
        call_command("verify_audit")
    assert "deleted or altered" in capsys.readouterr().err


def test_audit_events_refuse_update_and_delete_through_the_orm(history):
    event = AuditEvent.objects.first()
    event.verb = "usecase.hidden"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


# Batched appends (audit.batched(), audit.atomic)


def test_a_batch_appends_its_events_in_order_at_its_end(history, personas):
    use_case, owner = history, personas["owner"]
    before = AuditEvent.objects.count()
    with transaction.atomic(), audit.batched():
        first = audit.record(actor=owner, verb="test.first", target=use_case)
        with audit.batched():  # nested: appended with the outer block
            second = audit.record(actor=owner, verb="test.second", target=use_case)
        assert first.pk is None and second.pk is None
        assert AuditEvent.objects.count() == before
    assert first.pk is not None and second.pk == first.pk + 1
    assert second.previous_hash == first.hash
    newest = list(AuditEvent.objects.order_by("-id").values_list("verb", flat=True)[:2])
    assert newest == ["test.second", "test.first"]
    assert audit.verify_chain() == (before + 2, [])


def test_a_batch_that_raises_appends_nothing_and_the_next_one_still_links(history, personas):
    use_case, owner = history, personas["owner"]
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic(), audit.batched():
        audit.record(actor=owner, verb="test.lost", target=use_case)
        raise RuntimeError("the step failed")
    assert AuditEvent.objects.count() == before
    with transaction.atomic():
        audit.record(actor=owner, verb="test.kept", target=use_case)  # no batch: at once
    assert audit.verify_chain() == (before + 1, [])


@pytest.mark.django_db(transaction=True)
def test_a_batch_needs_the_callers_transaction():
    with pytest.raises(RuntimeError, match="inside the service's transaction"), audit.batched():
        pass


def test_a_nested_batch_that_fails_drops_its_own_events_only(history, personas):
    use_case, owner = history, personas["owner"]
    before = AuditEvent.objects.count()
    with transaction.atomic(), audit.batched():
        audit.record(actor=owner, verb="test.kept", target=use_case)
        try:
            with transaction.atomic(), audit.batched():  # a nested service that fails
                audit.record(actor=owner, verb="test.rolled_back", target=use_case)
                raise RuntimeError("the inner step failed")
        except RuntimeError:
            pass
    verbs = list(AuditEvent.objects.order_by("id").values_list("verb", flat=True)[before:])
    assert verbs == ["test.kept"]
    assert audit.verify_chain()[1] == []
