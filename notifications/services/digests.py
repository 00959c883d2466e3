"""The daily digest: one e-mail per person listing the notifications they chose to read once
a day, made once per person and day (Digest's constraint) and sent once (its claim).

Each run gathers what is not yet digested (normally the last day; up to WINDOW if runs were
missed) and marks it digested, the hidden ones too (notifications of a use case the person
no longer sees are gathered and never listed).
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from notifications import tasks
from notifications.models import Digest, Notification
from notifications.services.delivery import name_of
from usecases.services.notifications import is_transient

logger = logging.getLogger(__name__)

WINDOW = datetime.timedelta(days=7)  # older ones are left out of any digest
ERROR_LENGTH = Digest._meta.get_field("error").max_length
LISTED = 100  # notifications written out in one e-mail; the rest are counted


def _pending():
    since = timezone.now() - WINDOW
    return Notification.objects.filter(in_digest=True, digest__isnull=True, created_at__gte=since)


def queue_digests(now: datetime.datetime | None = None) -> list[int]:
    """Queue today's digest of every active person with something to digest; their ids."""
    day = timezone.localdate(now)
    users = (
        _pending()
        .filter(recipient__is_active=True)
        .values_list("recipient_id", flat=True)
        .distinct()
        .order_by("recipient_id")
    )
    ids = list(users)
    for user_id in ids:
        tasks.send_digest_task.delay_on_commit(user_id, day.isoformat())
    logger.info("digests of %s queued for %s", len(ids), day)
    return ids


def gather(user_id: int, day: datetime.date) -> Digest:
    """`user_id`'s digest of `day`: made by the first call, which marks the pending
    notifications as its own; later calls find it unchanged."""
    with transaction.atomic():
        digest, created = Digest.objects.get_or_create(recipient_id=user_id, day=day)
        if created:
            _pending().filter(recipient_id=user_id).update(digest=digest)
    return digest


def _failed(digest_id: int, reason: str) -> None:
    Digest.objects.filter(pk=digest_id).update(
        sent_at=None, failed_at=timezone.now(), error=reason[:ERROR_LENGTH]
    )
    logger.warning("digest %s: not sent: %s", digest_id, reason)


def _body(user, rows: list[Notification], base_url: str) -> str:
    lines = [f"Hello {name_of(user)},", "", "What happened in Quorum since your last digest:", ""]
    for row in rows[:LISTED]:
        where = f"{row.use_case.title}: " if row.use_case else ""
        lines += [f"- {where}{row.text}", f"  {base_url}{row.url}"]
    if len(rows) > LISTED:
        lines.append(f"… and {len(rows) - LISTED} more: {base_url}/notifications/")
    lines += ["", f"Choose what you are told, and how: {base_url}/notifications/preferences/"]
    return "\n".join(lines) + "\n"


def send_digest(
    user_id: int, day: datetime.date, *, base_url: str = "", is_last_attempt: bool = False
) -> bool:
    """E-mail `user_id`'s digest of `day`; True if this call sent it (once per person and day).

    Only notifications the person may still read are listed; none left: nothing is sent. A
    transient error gives the claim back and is raised for the task to retry, unless this is
    its last attempt; any other failure is recorded on the digest.
    """
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    digest = gather(user_id, day)
    claimed = Digest.objects.filter(
        pk=digest.pk, sent_at__isnull=True, failed_at__isnull=True
    ).update(sent_at=timezone.now())
    if not claimed:
        logger.info("digest %s: already sent or failed", digest.pk)
        return False
    rows = list(
        Notification.objects.readable_by(user)
        .filter(digest=digest)
        .select_related("use_case")
        .order_by("created_at", "pk")
    )
    if not rows:
        Digest.objects.filter(pk=digest.pk).update(error="Nothing to send.")
        return False
    if not user.email:
        _failed(digest.pk, f"{user.get_username()} has no e-mail address.")
        return False
    try:
        send_mail(
            subject=f"[Quorum] Your daily digest: {len(rows)} notification"
            + ("s" if len(rows) != 1 else ""),
            message=_body(user, rows, base_url),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
        )
    except Exception as error:
        if is_transient(error) and not is_last_attempt:
            Digest.objects.filter(pk=digest.pk).update(sent_at=None)
            raise
        _failed(digest.pk, str(error) or type(error).__name__)
        return False
    logger.info("digest %s: sent with %s notifications", digest.pk, len(rows))
    return True
