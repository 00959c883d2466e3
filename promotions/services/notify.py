"""Notifications of promotions (DESIGN.md: approvers are told when a request needs them, the
requester when it is decided), through the notification centre (notifications.services.
notify): in the app, and by e-mail, digest or webhook as each person chose.

The rows are written when the step has committed (events.py); each is keyed
"promotion-request:<id>", so an event handled twice tells nobody twice, and a decided
request's asks are found again to be settled.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import Kind, Notification
from notifications.services.notify import notify
from promotions.models import Decision, PromotionRequest
from promotions.services import policy
from usecases.models import MANAGER_GROUP

logger = logging.getLogger(__name__)

User = get_user_model()
Capacity = Decision.Capacity


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


def key_of(request: PromotionRequest) -> str:
    """The notifications' key of a request: what they are about."""
    return f"promotion-request:{request.pk}"


def _create(request: PromotionRequest, recipient, kind: str, text: str) -> Notification | None:
    """The notification, its deliveries queued; None if this person was told already."""
    return notify(
        recipient,
        kind=kind,
        text=text,
        url=request.get_absolute_url(),
        use_case=request.use_case,
        key=key_of(request),
    )


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
    asked = Notification.objects.filter(key=key_of(request), kind=Kind.APPROVAL_NEEDED).unread()
    if request.is_pending:
        asked = asked.exclude(recipient__in=[user.pk for user in approvers_needed(request)])
    return asked.update(read_at=timezone.now())
