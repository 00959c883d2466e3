"""Delivering one notification by e-mail or to its recipient's chat webhook, each at most
once: a worker claims the row with a conditional UPDATE, so a redelivered task sends
nothing; a failure for good is kept on the row (when and why).

Nothing is sent of a use case the recipient no longer sees (they left it since): the
notification is hidden from them, and the row records why it was not sent.
"""

from __future__ import annotations

import json
import logging

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from notifications.models import Kind, Notification
from notifications.services import preferences
from portal import outbound
from usecases.services.notifications import is_transient

logger = logging.getLogger(__name__)

ERROR_LENGTH = Notification._meta.get_field("email_error").max_length
HIDDEN = "Not sent: the recipient no longer sees this use case."
INACTIVE = "Not sent: the recipient's account is inactive."
CUT_OFF = "Not sent: the receiver kept the call open past the task's time limit."
USER_AGENT = "Quorum-Notifications/1"
SNIPPET_BYTES = 300  # of a refusal's answer, kept as the error; no more is read

SUBJECTS = {
    Kind.APPROVAL_NEEDED: "Your approval is needed on {use_case}",
    Kind.REQUEST_DECIDED: "Your promotion request on {use_case} is decided",
    Kind.MENTION: "You were mentioned on {use_case}",
    Kind.COMMENT: "New comment on {use_case}",
    Kind.ALERT: "Alert on {use_case}",
    Kind.REVIEW_ASSIGNED: "A review waits for you on {use_case}",
}


class WebhookUnavailable(OSError):
    """The receiver answered with a status worth retrying (OSError: the task retries it)."""


def name_of(user) -> str:
    return user.get_full_name() or user.get_username()


def subject_of(notification: Notification) -> str:
    if notification.use_case is None:
        return f"[Quorum] {notification.get_kind_display()}"
    return "[Quorum] " + SUBJECTS[notification.kind].format(use_case=notification.use_case)


def _readable(notification: Notification) -> str:
    """Why the notification may not be sent now ("" if it may)."""
    recipient = notification.recipient
    if not recipient.is_active:
        return INACTIVE
    if not Notification.objects.readable_by(recipient).filter(pk=notification.pk).exists():
        return HIDDEN
    return ""


def _fetch(notification_id: int) -> Notification:
    return Notification.objects.select_related("recipient", "use_case").get(pk=notification_id)


# E-mail


def _email_failed(notification_id: int, reason: str) -> None:
    """The claim is given back and the failure kept: the row says it was not sent, and why."""
    Notification.objects.filter(pk=notification_id).update(
        emailed_at=None, email_failed_at=timezone.now(), email_error=reason[:ERROR_LENGTH]
    )
    logger.warning("notification %s: e-mail not sent: %s", notification_id, reason)


def send_email(notification_id: int, *, base_url: str = "", is_last_attempt: bool = False) -> bool:
    """E-mail a notification to its recipient; True if this call sent it (at most once).

    A transient error gives the claim back and is raised for the task to retry, unless this
    is its last attempt; any other failure is recorded on the notification and not raised.
    """
    claimed = Notification.objects.filter(
        pk=notification_id, emailed_at__isnull=True, email_failed_at__isnull=True
    ).update(emailed_at=timezone.now())
    if not claimed:
        logger.info("notification %s: e-mail already sent, failed or gone", notification_id)
        return False
    notification = _fetch(notification_id)
    recipient = notification.recipient
    refusal = _readable(notification) or (
        "" if recipient.email else f"{recipient.get_username()} has no e-mail address."
    )
    if refusal:
        _email_failed(notification_id, refusal)
        return False
    try:
        send_mail(
            subject=subject_of(notification),
            message=f"Hello {name_of(recipient)},\n\n{notification.text}\n\n"
            f"{base_url}{notification.url}\n\n"
            f"Choose what you are told, and how: {base_url}/notifications/preferences/\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[recipient.email],
        )
    except Exception as error:
        if is_transient(error) and not is_last_attempt:
            Notification.objects.filter(pk=notification_id).update(emailed_at=None)
            raise
        logger.info("notification %s: e-mail failed for good", notification_id, exc_info=True)
        _email_failed(notification_id, str(error) or type(error).__name__)
        return False
    logger.info("notification %s: e-mail sent", notification_id)
    return True


# Chat webhook


def _webhook_failed(notification_id: int, reason: str) -> None:
    Notification.objects.filter(pk=notification_id).update(
        webhook_sent_at=None, webhook_failed_at=timezone.now(), webhook_error=reason[:ERROR_LENGTH]
    )
    logger.warning("notification %s: webhook not sent: %s", notification_id, reason)


def slack_escaped(text: str) -> str:
    """`text` as Slack's message formatting reads it literally: &, < and > escaped (Slack's
    documented escaping), so a title such as "<!channel>" pings nobody and links nowhere."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _post(url: str, text: str) -> None:
    """POST {"text": text} to a checked URL, connected to the address checked
    (portal/outbound.py); raises OSError for what may pass, ValueError for what will not
    (a refused URL or address, an answer that will not change, a failed TLS handshake)."""
    problem = outbound.url_problem(url, allow_http=settings.DEBUG)
    if problem:
        raise ValueError(problem)
    body = json.dumps({"text": slack_escaped(text)}).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    timeout = getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 5.0)
    answer = outbound.post(url, body, headers, timeout=timeout, read_bytes=SNIPPET_BYTES)
    if answer.ok:
        return
    if answer.transient and not answer.tls:
        raise WebhookUnavailable(answer.error)
    raise ValueError(answer.error)


def post_webhook(
    notification_id: int, *, base_url: str = "", is_last_attempt: bool = False
) -> bool:
    """POST a notification to its recipient's chat webhook; True if this call sent it.

    A DNS failure, a timeout, a dropped connection or a 429/5xx answer gives the claim back
    and is raised for the task to retry, unless this is the last attempt; anything else (a
    private address, another answer, a failed TLS handshake, no URL any more, the task's
    soft time limit reached mid-call) is recorded and not raised.
    """
    claimed = Notification.objects.filter(
        pk=notification_id, webhook_sent_at__isnull=True, webhook_failed_at__isnull=True
    ).update(webhook_sent_at=timezone.now())
    if not claimed:
        logger.info("notification %s: webhook already sent, failed or gone", notification_id)
        return False
    notification = _fetch(notification_id)
    url = preferences.webhook_url_of(notification.recipient)
    refusal = _readable(notification) or ("" if url else "Not sent: no webhook URL any more.")
    if refusal:
        _webhook_failed(notification_id, refusal)
        return False
    try:
        _post(url, f"{notification.text}\n{base_url}{notification.url}")
    except SoftTimeLimitExceeded:  # the task's time is up; the receiver may have it or not
        _webhook_failed(notification_id, CUT_OFF)
        return False
    except OSError as error:
        if not is_last_attempt:
            Notification.objects.filter(pk=notification_id).update(webhook_sent_at=None)
            raise
        _webhook_failed(notification_id, str(error) or type(error).__name__)
        return False
    except ValueError as error:
        _webhook_failed(notification_id, str(error))
        return False
    logger.info("notification %s: webhook sent", notification_id)
    return True
