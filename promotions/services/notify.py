"""Notifications of promotions: in the app (the bell) and by e-mail, one of each per person
and event (DESIGN.md: approvers are told when a request needs them, the requester when it
is decided).

The rows are written when the step has committed (events.py); each e-mail is a Celery task
that claims its row first, so a redelivered task sends nothing, and a failure is kept on
the row, as the welcome e-mails do (usecases/services/notifications.py).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from promotions import tasks
from promotions.models import Decision, Notification, PromotionRequest
from promotions.services import policy
from usecases.models import MANAGER_GROUP
from usecases.services.notifications import is_transient

logger = logging.getLogger(__name__)

User = get_user_model()
Kind = Notification.Kind
Capacity = Decision.Capacity
TEXT_LENGTH = Notification._meta.get_field("text").max_length
ERROR_LENGTH = Notification._meta.get_field("email_error").max_length


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _what(request: PromotionRequest) -> str:
    """“version 2.0.0 of Demand forecast to canary (10 %)”"""
    target = request.get_target_stage_display().lower()
    traffic = f" ({request.traffic_percent} %)" if request.traffic_percent else ""
    return f"version {request.model_version.version} of “{request.use_case}” to {target}{traffic}"


def approvers_needed(request: PromotionRequest) -> dict:
    """{user: capacity} of the people whose approval counts now: the use case's experts and
    data scientists, and the Managers, for each capacity still missing an approval; never
    the requester nor who already decided. Admins, who may approve as managers too, are not
    told: they are not the approvers the policy names."""
    missing = policy.missing_approvals(request)
    decided = set(request.decisions.values_list("user_id", flat=True)) | {request.requested_by_id}
    found: dict = {}
    roles = [c for c in (Capacity.EXPERT, Capacity.DATA_SCIENTIST) if c in missing]
    members = request.use_case.members.filter(role__in=roles, user__is_active=True)
    for member in members.select_related("user").order_by("user__username"):
        if member.user_id not in decided:
            found.setdefault(member.user, member.role)
    if Capacity.MANAGER in missing:
        managers = User.objects.filter(groups__name=MANAGER_GROUP, is_active=True)
        for user in managers.order_by("username"):
            if user.pk not in decided:
                found.setdefault(user, Capacity.MANAGER)
    return found


def _create(request: PromotionRequest, recipient, kind: str, text: str) -> Notification | None:
    """The notification, with its e-mail queued; None if this person was told already."""
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient=recipient,
                use_case=request.use_case,
                request=request,
                kind=kind,
                text=text[:TEXT_LENGTH],
                url=request.get_absolute_url(),
            )
            tasks.send_notification_email_task.delay_on_commit(notification.pk)
    except IntegrityError:  # the event was handled before
        return None
    return notification


def _request(request_id: int) -> PromotionRequest | None:
    return (
        PromotionRequest.objects.select_related("use_case", "model_version", "requested_by")
        .filter(pk=request_id)
        .first()
    )


def notify_approvers(request_id: int) -> list[Notification]:
    """Tell each person whose approval the pending request needs now."""
    request = _request(request_id)
    if request is None or not request.is_pending:
        return []
    labels = dict(Capacity.choices)
    made = []
    for user, capacity in approvers_needed(request).items():
        text = (
            f"Your approval as {labels[capacity].lower()} is needed: {_what(request)}, "
            f"requested by {_name(request.requested_by)}."
        )
        notification = _create(request, user, Kind.APPROVAL_NEEDED, text)
        if notification is not None:
            made.append(notification)
    logger.info("request %s: %s approvers notified", request_id, len(made))
    return made


def _decided_text(request: PromotionRequest) -> str:
    Status = PromotionRequest.Status
    what = f"Your request #{request.pk}, {_what(request)},"
    if request.status == Status.EXECUTED:
        return f"{what} is executed."
    if request.status == Status.REJECTED:
        rejection = request.decisions.filter(verdict=Decision.Verdict.REJECT).select_related("user")
        by = rejection.last()
        who = f" by {_name(by.user)}" if by else ""
        return f"{what} was rejected{who}: {request.outcome_note}"
    return f"{what} was refused at execution: {request.outcome_note}"


def notify_requester(request_id: int) -> Notification | None:
    """Tell the requester how their request was decided. A withdrawal is their own act:
    nobody is told."""
    request = _request(request_id)
    if request is None or request.is_pending or request.status == PromotionRequest.Status.WITHDRAWN:
        return None
    if not request.requested_by.is_active:
        return None
    return _create(request, request.requested_by, Kind.REQUEST_DECIDED, _decided_text(request))


def settle(request_id: int) -> int:
    """Mark read the "approval needed" notifications of the request that ask nothing any
    more: all of them once it is decided, else those of people whose approval it no longer
    needs (they decided, or another approver filled their capacity); how many."""
    request = _request(request_id)
    if request is None:
        return 0
    asked = Notification.objects.filter(request=request, kind=Kind.APPROVAL_NEEDED).unread()
    if request.is_pending:
        asked = asked.exclude(recipient__in=[user.pk for user in approvers_needed(request)])
    return asked.update(read_at=timezone.now())


# E-mail


def _subject(notification: Notification) -> str:
    if notification.kind == Kind.APPROVAL_NEEDED:
        return f"[Quorum] Your approval is needed on {notification.use_case}"
    return f"[Quorum] Your promotion request on {notification.use_case} is decided"


def _record_failure(notification_id: int, reason: str) -> None:
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
    with transaction.atomic():
        claimed = Notification.objects.filter(
            pk=notification_id, emailed_at__isnull=True, email_failed_at__isnull=True
        ).update(emailed_at=timezone.now())
    if not claimed:
        logger.info("notification %s: e-mail already sent, failed or gone", notification_id)
        return False
    notification = Notification.objects.select_related("recipient", "use_case").get(
        pk=notification_id
    )
    recipient = notification.recipient
    if not recipient.email:
        _record_failure(notification_id, f"{recipient.get_username()} has no e-mail address.")
        return False
    try:
        send_mail(
            subject=_subject(notification),
            message=f"Hello {_name(recipient)},\n\n{notification.text}\n\n"
            f"{base_url}{notification.url}\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[recipient.email],
        )
    except Exception as error:
        if is_transient(error) and not is_last_attempt:
            Notification.objects.filter(pk=notification_id).update(emailed_at=None)
            raise
        logger.info("notification %s: e-mail failed for good", notification_id, exc_info=True)
        _record_failure(notification_id, str(error) or type(error).__name__)
        return False
    logger.info("notification %s: e-mail sent", notification_id)
    return True


# The bell


def mark_all_read(user) -> int:
    """Mark every unread notification of `user` read; how many were."""
    return Notification.objects.filter(recipient=user).unread().update(read_at=timezone.now())


def mark_read(notification: Notification) -> None:
    """Mark one notification read (opening it)."""
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
