"""A welcome e-mail that cannot be sent is retried while the failure may pass, then recorded
on the membership and shown to the use case's owners; never lost in a worker's log."""

import smtplib

import pytest
from django.core import mail
from django.core.mail import BadHeaderError
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.urls import reverse

from tests.conftest import login
from tests.factories import UserFactory
from usecases.models import AuditEvent, UseCaseMember
from usecases.services import notifications, usecases
from usecases.tasks import send_welcome_task


class FlakyBackend(LocmemBackend):
    """The SMTP server of these tests: raises the queued errors in turn, then delivers."""

    errors: list[Exception] = []
    attempts = 0

    def send_messages(self, messages):
        type(self).attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return super().send_messages(messages)


@pytest.fixture
def smtp(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.errors, FlakyBackend.attempts = [], 0
    return FlakyBackend


@pytest.fixture
def member(use_case, personas):
    return UseCaseMember.objects.get(user=personas["expert"])


def test_a_refused_header_is_recorded_at_once_without_retrying(smtp, member):
    smtp.errors = [BadHeaderError("Header values can't contain newlines")]
    send_welcome_task.apply(args=[member.pk])
    member.refresh_from_db()
    assert smtp.attempts == 1  # retrying cannot help
    assert member.notify_failed_at is not None
    assert "newlines" in member.notify_error
    assert member.notified_at is None
    assert mail.outbox == []


def test_a_transient_smtp_error_is_retried_and_then_sent_once(smtp, member):
    smtp.errors = [smtplib.SMTPServerDisconnected("gone"), ConnectionRefusedError("refused")]
    send_welcome_task.apply(args=[member.pk])
    member.refresh_from_db()
    assert smtp.attempts == 3
    assert len(mail.outbox) == 1
    assert member.notified_at is not None
    assert member.notify_failed_at is None and member.notify_error == ""


def test_a_lasting_outage_is_recorded_after_the_last_retry(smtp, member):
    smtp.errors = [smtplib.SMTPServerDisconnected("Connection unexpectedly closed")] * 20
    send_welcome_task.apply(args=[member.pk])
    member.refresh_from_db()
    assert smtp.attempts == 1 + send_welcome_task.max_retries
    assert member.notify_failed_at is not None
    assert "Connection unexpectedly closed" in member.notify_error
    assert mail.outbox == []


def test_a_permanent_smtp_refusal_is_recorded_without_retrying(smtp, member):
    refused = {member.user.email: (550, b"5.1.1 mailbox unavailable")}
    smtp.errors = [smtplib.SMTPRecipientsRefused(refused)]
    send_welcome_task.apply(args=[member.pk])
    member.refresh_from_db()
    assert smtp.attempts == 1
    assert "mailbox unavailable" in member.notify_error


def test_a_recorded_failure_is_not_sent_again_by_a_duplicate_delivery(smtp, member):
    smtp.errors = [BadHeaderError("newline")]
    assert notifications.send_welcome(member.pk) is False
    assert notifications.send_welcome(member.pk) is False
    assert smtp.attempts == 1


def test_a_member_without_an_e_mail_address_is_recorded_too(smtp, use_case, personas):
    newcomer = UserFactory(username="nomail", email="")
    member = usecases.add_member(use_case, by=personas["owner"], user=newcomer, role="viewer")
    assert notifications.send_welcome(member.pk) is False
    member.refresh_from_db()
    assert member.notify_error == "nomail has no e-mail address."


def test_owners_see_the_failure_on_the_members_page(client, smtp, member, personas):
    smtp.errors = [BadHeaderError("Header values can't contain newlines")]
    send_welcome_task.apply(args=[member.pk])
    client.force_login(personas["owner"])
    html = client.get(reverse("usecases:members", args=["demand-forecast"])).content.decode()
    assert "Welcome e-mail to erik could not be sent" in html
    assert "Header values can&#x27;t contain newlines" in html


def test_members_who_cannot_manage_do_not_see_the_failure(client, smtp, member, personas):
    smtp.errors = [BadHeaderError("Header values can't contain newlines")]
    send_welcome_task.apply(args=[member.pk])
    client.force_login(personas["viewer"])
    html = client.get(reverse("usecases:members", args=["demand-forecast"])).content.decode()
    assert "could not be sent" not in html


def test_an_owner_can_send_a_failed_welcome_again(
    client, smtp, member, personas, django_capture_on_commit_callbacks
):
    smtp.errors = [BadHeaderError("Header values can't contain newlines")]
    send_welcome_task.apply(args=[member.pk])
    client.force_login(personas["owner"])
    url = reverse("usecases:member_welcome", args=["demand-forecast", member.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, follow=True)
    assert "The welcome e-mail to erik is sent again" in response.content.decode()
    assert len(callbacks) == 1  # the task, queued once the change is committed
    member.refresh_from_db()
    assert member.notify_failed_at is None and member.notify_error == ""
    send_welcome_task.apply(args=[member.pk])  # what the worker does with it
    member.refresh_from_db()
    assert member.notified_at is not None
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(verb="member.welcome_resent").count() == 1


def test_a_welcome_that_did_not_fail_cannot_be_sent_again(client, member, personas):
    client.force_login(personas["owner"])
    url = reverse("usecases:member_welcome", args=["demand-forecast", member.pk])
    response = client.post(url)
    assert response.status_code == 200
    assert "has not failed" in response.content.decode()


RESEND = {"anonymous": 302, "outsider": 404, "owner": 302, "admin": 302} | {
    who: 403 for who in ("viewer", "data_scientist", "expert", "manager")
}


@pytest.mark.parametrize(("who", "status"), RESEND.items())
def test_only_those_who_manage_members_can_send_a_welcome_again(
    client, member, personas, who, status, django_capture_on_commit_callbacks
):
    UseCaseMember.objects.filter(pk=member.pk).update(notify_failed_at="2026-01-01T00:00Z")
    login(client, personas, who)
    url = reverse("usecases:member_welcome", args=["demand-forecast", member.pk])
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url)
    assert response.status_code == status
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))
    member.refresh_from_db()
    assert (member.notify_failed_at is None) == (who in ("owner", "admin"))
