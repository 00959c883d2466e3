"""Notifications to people; each send is claimed on its row, so a redelivery sends nothing."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from usecases.models import UseCaseMember

logger = logging.getLogger(__name__)


def send_welcome(member_id: int, *, base_url: str = "") -> bool:
    """E-mail a new member their role; True if this call sent it (at most once per membership)."""
    with transaction.atomic():
        claimed = UseCaseMember.objects.filter(pk=member_id, notified_at__isnull=True).update(
            notified_at=timezone.now()
        )
    if not claimed:
        logger.info("member %s: welcome already sent or membership gone", member_id)
        return False
    member = UseCaseMember.objects.select_related("user", "use_case").get(pk=member_id)
    if not member.user.email:
        logger.info("member %s: user has no e-mail address", member_id)
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
    except Exception:
        # Give the claim back so the task's retry can send it.
        UseCaseMember.objects.filter(pk=member_id).update(notified_at=None)
        raise
    logger.info("member %s: welcome sent", member_id)
    return True
