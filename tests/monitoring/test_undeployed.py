"""A version leaving deployment (archived by a promotion or a rollback) has its active alerts
closed, audited as the job closes them; the use case's refused-rows alert stays while another
version is deployed to carry it on."""

import pytest

from monitoring.models import Alert
from portfolio.selectors import open_alerts
from promotions.services import execution, requests
from registry.models import ModelVersion
from tests.promotions import evidence
from usecases.models import AuditEvent

pytestmark = pytest.mark.django_db
Kind, Status, Stage = Alert.Kind, Alert.Status, ModelVersion.Stage


def alert(version, kind=Kind.DRIFT, subject="price") -> Alert:
    day = version.created_at.date()
    return Alert.objects.create(
        use_case=version.use_case,
        model_version=version,
        kind=kind,
        subject=subject,
        day=day,
        last_seen_day=day,
    )


def promote(use_case, personas, version, target):
    request = requests.open_request(
        use_case,
        by=personas["data_scientist"],
        version=version,
        target_stage=target,
        rationale="Better on the holdout.",
    )
    return requests.approve(request, by=personas["expert"])


def test_a_promotion_archiving_the_production_version_closes_its_alerts(
    use_case, personas, django_capture_on_commit_callbacks
):
    old = evidence.ready_version(use_case, personas, "1.0.0", stage=Stage.PRODUCTION)
    drift, refused = alert(old), alert(old, Kind.REFUSED, "")
    new = evidence.ready_version(use_case, personas, "2.0.0", stage=Stage.CANARY)
    kept = alert(new)
    with django_capture_on_commit_callbacks(execute=True):
        promote(use_case, personas, new, Stage.PRODUCTION)
    old.refresh_from_db()
    assert old.stage == Stage.ARCHIVED
    statuses = {a.pk: a.status for a in Alert.objects.all()}
    assert statuses == {drift.pk: Status.CLOSED, refused.pk: Status.OPEN, kept.pk: Status.OPEN}
    closed = AuditEvent.objects.get(verb="alert.closed")
    assert (closed.target_id, closed.actor_id) == (str(drift.pk), None)
    assert open_alerts([use_case.pk]) == {use_case.pk: 2}


def test_a_rollback_closes_the_alerts_of_the_version_it_archives(
    use_case, personas, django_capture_on_commit_callbacks
):
    old = evidence.ready_version(use_case, personas, "1.0.0", stage=Stage.CANARY)
    promote(use_case, personas, old, Stage.PRODUCTION)
    new = evidence.ready_version(use_case, personas, "2.0.0", stage=Stage.CANARY)
    promote(use_case, personas, new, Stage.PRODUCTION)
    drift = alert(new)
    with django_capture_on_commit_callbacks(execute=True):
        execution.rollback(use_case, by=personas["owner"], reason="2.0.0 doubles errors.")
    drift.refresh_from_db()
    assert drift.status == Status.CLOSED and drift.closed_at is not None
    assert AuditEvent.objects.filter(verb="alert.closed").count() == 1
