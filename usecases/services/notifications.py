"""Notifications to people; each send is claimed on its row, so a redelivery sends nothing.

A send that fails for good (a header the mail library refuses, a permanent SMTP answer, no
address, or a transient error still there on the task's last attempt) is recorded on the
membership (`notify_failed_at`, `notify_error`) and shown to the use case's owners.
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from usecases import tasks
from usecases.models import UseCaseMember
from usecases.services import audit
from usecases.services.errors import MembershipError
from usecases.services.usecases import lock

logger = logging.getLogger(__name__)

ERROR_LENGTH = UseCaseMember._meta.get_field("notify_error").max_length


def is_transient(error: Exception) -> bool:
    """Worth retrying: a connection problem or a temporary (4xx) answer of the mail server.
    A 5xx answer, a refused header (BadHeaderError) or a bug will fail the same way again."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code < 500
    return isinstance(error, OSError)  # SMTPException, refused or dropped connections, timeouts


def _describe(error: Exception) -> str:
    """The failure in words an owner can act on."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refusals = [
            f"{address} ({code} {_text(message)})"
            for address, (code, message) in error.recipients.items()
        ]
        return "the mail server refused " + ", ".join(refusals)
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the mail server answered {error.smtp_code} {_text(error.smtp_error)}"
    return str(error) or type(error).__name__


def _text(message: bytes | str) -> str:
    return message.decode(errors="replace") if isinstance(message, bytes) else message


def _record_failure(member_id: int, reason: str) -> None:
    """The claim is given back and the failure kept: the row says it was not sent, and why."""
    UseCaseMember.objects.filter(pk=member_id).update(
        notified_at=None, notify_failed_at=timezone.now(), notify_error=reason[:ERROR_LENGTH]
    )
    logger.warning("member %s: welcome e-mail not sent: %s", member_id, reason)


def send_welcome(member_id: int, *, base_url: str = "", is_last_attempt: bool = False) -> bool:
    """E-mail a new member their role; True if this call sent it (at most once per membership).

    A transient error gives the claim back and is raised for the task to retry, unless this
    is its last attempt; any other failure is recorded on the membership and not raised.
    """
    with transaction.atomic():
        claimed = UseCaseMember.objects.filter(
            pk=member_id, notified_at__isnull=True, notify_failed_at__isnull=True
        ).update(notified_at=timezone.now())
    if not claimed:
        logger.info("member %s: welcome already sent, failed or membership gone", member_id)
        return False
    member = UseCaseMember.objects.select_related("user", "use_case").get(pk=member_id)
    if not member.user.email:
        _record_failure(member_id, f"{member.user.get_username()} has no e-mail address.")
        return False
    use_case = member.use_case
    try:
        send_mail(
            subject=f"[Quorum] You are now {member.get_role_display().lower()} on {use_case}",
            message=(
                f"Hello {member.user.get_full_name() or member.user.get_username()},\n\n"
                f"You have been given the role {member.get_role_display()} on the use case "
                f"“{use_case.title}”.\n\n{base_url}{use_case.get_absolute_url()}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[member.user.email],
        )
    except Exception as error:
        if is_transient(error) and not is_last_attempt:
            # Give the claim back so the task's retry can send it.
            UseCaseMember.objects.filter(pk=member_id).update(notified_at=None)
            raise
        logger.info("member %s: welcome failed for good", member_id, exc_info=True)
        _record_failure(member_id, _describe(error))
        return False
    logger.info("member %s: welcome sent", member_id)
    return True


@transaction.atomic
def resend_welcome(member: UseCaseMember, *, by) -> None:
    """Clear the recorded failure of `member`'s welcome e-mail and send it again, once."""
    lock(member.use_case)  # the use case first
    cleared = UseCaseMember.objects.filter(pk=member.pk, notify_failed_at__isnull=False).update(
        notify_failed_at=None, notify_error=""
    )
    if not cleared:
        raise MembershipError("This member's welcome e-mail has not failed.")
    audit.record(
        actor=by,
        verb="member.welcome_resent",
        target=member,
        use_case=member.use_case,
        before={"notify_error": member.notify_error},
    )
    tasks.send_welcome_task.delay_on_commit(member.pk)
