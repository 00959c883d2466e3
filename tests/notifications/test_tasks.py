"""The deliveries, as the worker runs them: e-mails retried on transient SMTP errors and
recorded when they fail for good, the daily digest once per person and day; nothing sent of
a use case the recipient has left (chat webhooks: test_webhooks.py). Only the SMTP
connection is mocked."""

from __future__ import annotations

import datetime
import smtplib

from django.conf import settings
from django.core import mail
from django.utils import timezone

from notifications.models import Digest, Notification
from notifications.services import delivery, digests
from notifications.tasks import send_digest_task, send_email_task
from tests.notifications.factories import make
from usecases.models import UseCaseMember

TODAY = datetime.date(2026, 11, 30)


class FlakySMTP:
    """send_mail's stand-in: raises `errors` in turn, then sends through the test outbox."""

    def __init__(self, monkeypatch, *errors):
        self.errors, self.calls = list(errors), 0
        real = delivery.send_mail

        def send_mail(**kwargs):
            self.calls += 1
            if self.errors:
                raise self.errors.pop(0)
            return real(**kwargs)

        monkeypatch.setattr(delivery, "send_mail", send_mail)
        monkeypatch.setattr(digests, "send_mail", send_mail)


def test_an_email_is_retried_after_transient_smtp_errors_and_sent_once(personas, monkeypatch):
    note = make(personas["expert"], kind="mention")
    smtp = FlakySMTP(
        monkeypatch,
        smtplib.SMTPServerDisconnected("dropped"),
        smtplib.SMTPResponseException(451, b"try later"),
    )
    send_email_task.apply(args=[note.pk])
    assert smtp.calls == 3 and len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[Quorum] Mention"
    assert "Erik mentioned you" in mail.outbox[0].body
    note.refresh_from_db()
    assert note.emailed_at is not None and note.email_failed_at is None
    send_email_task.apply(args=[note.pk])  # a redelivery
    assert len(mail.outbox) == 1


def test_an_email_failing_on_every_attempt_is_recorded(personas, monkeypatch):
    note = make(personas["expert"])
    smtp = FlakySMTP(monkeypatch, *[ConnectionRefusedError("refused")] * 10)
    send_email_task.apply(args=[note.pk])
    assert smtp.calls == send_email_task.max_retries + 1
    note.refresh_from_db()
    assert note.emailed_at is None and note.email_failed_at is not None
    assert note.email_error == "refused" and mail.outbox == []


def test_a_permanent_smtp_refusal_is_recorded_without_retrying(personas, monkeypatch):
    note = make(personas["expert"])
    refused = smtplib.SMTPRecipientsRefused({"erik@example.com": (550, b"no such user")})
    smtp = FlakySMTP(monkeypatch, refused)
    send_email_task.apply(args=[note.pk])
    assert smtp.calls == 1
    note.refresh_from_db()
    assert note.email_failed_at is not None and "no such user" in note.email_error


def test_nothing_is_emailed_of_a_use_case_the_recipient_has_left(personas, use_case):
    note = make(personas["expert"], use_case, kind="comment", text="A secret comment")
    UseCaseMember.objects.filter(use_case=use_case, user=personas["expert"]).delete()
    send_email_task.apply(args=[note.pk])
    assert mail.outbox == []
    note.refresh_from_db()
    assert note.email_error == delivery.HIDDEN


# The daily digest


def digest_note(user, use_case=None, hours_ago=2, **fields):
    note = make(user, use_case, kind="comment", in_digest=True, **fields)
    created = timezone.now() - datetime.timedelta(hours=hours_ago)
    Notification.objects.filter(pk=note.pk).update(created_at=created)
    return note


def test_the_digest_lists_the_days_notifications_once_per_day(personas, use_case):
    expert = personas["expert"]
    first = digest_note(expert, use_case, text="Dana commented on the KPI")
    digest_note(expert, text="Victor replied")
    make(expert, text="An immediate one")  # not a digest notification
    digest_note(expert, hours_ago=24 * 8, text="Too old")

    send_digest_task.apply(args=[expert.pk, TODAY.isoformat()])
    [email] = mail.outbox
    assert email.to == [expert.email]
    assert email.subject == "[Quorum] Your daily digest: 2 notifications"
    assert "Demand forecast: Dana commented on the KPI" in email.body
    assert "Victor replied" in email.body
    assert "immediate" not in email.body and "Too old" not in email.body
    first.refresh_from_db()
    assert first.digest.day == TODAY

    digest_note(expert, text="Later the same day")
    send_digest_task.apply(args=[expert.pk, TODAY.isoformat()])
    assert len(mail.outbox) == 1  # once per person and day
    tomorrow = (TODAY + datetime.timedelta(days=1)).isoformat()
    send_digest_task.apply(args=[expert.pk, tomorrow])
    assert len(mail.outbox) == 2 and "Later the same day" in mail.outbox[1].body
    assert "Victor" not in mail.outbox[1].body


def test_the_digest_leaves_out_a_use_case_the_recipient_has_left(personas, use_case):
    expert = personas["expert"]
    digest_note(expert, use_case, text="A secret comment")
    UseCaseMember.objects.filter(use_case=use_case, user=expert).delete()
    send_digest_task.apply(args=[expert.pk, TODAY.isoformat()])
    assert mail.outbox == []
    assert Digest.objects.get().error == "Nothing to send."


def test_a_digest_failing_for_good_is_recorded(personas, monkeypatch):
    digest_note(personas["expert"])
    FlakySMTP(monkeypatch, smtplib.SMTPResponseException(554, b"rejected"))
    send_digest_task.apply(args=[personas["expert"].pk, TODAY.isoformat()])
    digest = Digest.objects.get()
    assert digest.failed_at is not None and "rejected" in digest.error


def test_the_daily_run_queues_one_digest_per_person_with_something_to_digest(
    personas, queued, django_capture_on_commit_callbacks
):
    digest_note(personas["expert"])
    digest_note(personas["expert"])
    digest_note(personas["viewer"])
    make(personas["owner"])  # nothing for the digest
    inactive = personas["outsider"]
    digest_note(inactive)
    inactive.is_active = False
    inactive.save()
    now = datetime.datetime(2026, 11, 30, 7, tzinfo=datetime.UTC)
    with django_capture_on_commit_callbacks(execute=True):
        digests.queue_digests(now)
    day = "2026-11-30"
    assert sorted(queued.of("notifications.send_digest")) == sorted(
        [(personas["expert"].pk, day), (personas["viewer"].pk, day)]
    )


def test_beat_runs_the_digest_daily_and_every_task_has_the_notifications_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-daily-digest"]
    assert entry["task"] == "notifications.send_digests"
    assert entry["schedule"].hour == {7} and entry["schedule"].minute == {0}
    assert settings.CELERY_BEAT_SCHEDULER.startswith("django_celery_beat")
    for name in ("send_email", "post_webhook", "send_digest", "send_digests"):
        assert settings.CELERY_TASK_ROUTES[f"notifications.{name}"] == {"queue": "notifications"}
