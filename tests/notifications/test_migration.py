"""promotions 0004/0005: the promotions' notifications move to the notification centre with
their ids, times, read and e-mail state; a request becomes the key "promotion-request:<id>".
Reversing puts them back."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from notifications.models import Notification

BEFORE = [("promotions", "0003_gate_evidence_restrict"), ("notifications", None)]
NOW = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_the_promotions_notifications_move_to_the_centre_and_back():
    old = migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="olga")
    use_case = old.get_model("usecases", "UseCase").objects.create(
        slug="churn", title="Churn", owner=user, task_type="binary"
    )
    version = old.get_model("registry", "ModelVersion").objects.create(
        use_case=use_case, version="1", registered_by=user
    )
    request = old.get_model("promotions", "PromotionRequest").objects.create(
        use_case=use_case,
        model_version=version,
        from_stage="registered",
        target_stage="shadow",
        rationale="Better.",
        requested_by=user,
    )
    notes = old.get_model("promotions", "Notification").objects
    asked = notes.create(
        recipient=user,
        use_case=use_case,
        request=request,
        kind="approval_needed",
        text="Your approval is needed",
        url="/promotions/1/",
        read_at=NOW,
        emailed_at=NOW,
    )
    notes.filter(pk=asked.pk).update(created_at=NOW)  # auto_now_add: set after
    failed = notes.create(
        recipient=user,
        kind="request_decided",
        text="Decided",
        url="/",
        email_failed_at=NOW,
        email_error="no address",
    )

    migrate(latest())
    moved = Notification.objects.get(pk=asked.pk)
    assert (moved.key, moved.kind, moved.text) == (
        f"promotion-request:{request.pk}",
        "approval_needed",
        "Your approval is needed",
    )
    assert moved.use_case.slug == "churn" and moved.recipient.username == "olga"
    assert moved.created_at == NOW and moved.read_at == NOW and moved.emailed_at == NOW
    other = Notification.objects.get(pk=failed.pk)
    assert other.key == "" and other.use_case is None and other.email_error == "no address"
    # The id sequence moved on: a new notification does not collide with a copied one.
    fresh = Notification.objects.create(
        recipient=moved.recipient, kind="mention", text="Hi", url="/"
    )
    assert fresh.pk > failed.pk

    old = migrate(BEFORE)
    back = old.get_model("promotions", "Notification").objects
    assert back.count() == 2  # the mention had no place there
    restored = back.get(pk=asked.pk)
    assert restored.request_id == request.pk and restored.created_at == NOW
    assert back.get(pk=failed.pk).request_id is None
    migrate(latest())
