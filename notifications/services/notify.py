"""Telling someone something: the one way every app notifies (promotions, collaboration,
monitoring). The row is the record, shown in the centre; the channels the recipient chose
for the kind (an e-mail now, the daily digest, their chat webhook) are scheduled when the
caller's transaction commits.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications import tasks
from notifications.models import EmailMode, Notification
from notifications.services import preferences
from usecases.models import UseCase

logger = logging.getLogger(__name__)

TEXT_LENGTH = Notification._meta.get_field("text").max_length
URL_LENGTH = Notification._meta.get_field("url").max_length


def notify(
    recipient, *, kind: str, text: str, url: str, use_case=None, key: str = ""
) -> Notification | None:
    """Tell `recipient` `text` (pointing at `url`, a path inside Quorum); None if they are
    inactive, may not see `use_case`, or were told of (kind, key) already.

    The row is always made when they may read it (already read if they turned the app off for
    this kind, so the bell does not count it); e-mail and webhook tasks are queued on commit.
    Safe inside a transaction: a duplicate is absorbed in a savepoint.
    """
    if not recipient.is_active:
        return None
    if use_case is not None and not (
        UseCase.objects.visible_to(recipient).filter(pk=use_case.pk).exists()
    ):
        logger.info("user %s does not see use case %s: not notified", recipient.pk, use_case.pk)
        return None
    channels = preferences.channels_for(recipient, kind)
    webhook = channels.webhook and bool(preferences.webhook_url_of(recipient))
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient=recipient,
                use_case=use_case,
                kind=kind,
                text=text[:TEXT_LENGTH],
                url=url[:URL_LENGTH],
                key=key,
                read_at=None if channels.in_app else timezone.now(),
                in_digest=channels.email == EmailMode.DIGEST,
            )
            if channels.email == EmailMode.IMMEDIATELY:
                tasks.send_email_task.delay_on_commit(notification.pk)
            if webhook:
                tasks.post_webhook_task.delay_on_commit(notification.pk)
    except IntegrityError:  # (recipient, kind, key) was told before
        return None
    return notification


def mark_read(notification: Notification) -> None:
    """Mark one notification read (opening it); already read: unchanged."""
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )


def mark_all_read(user) -> int:
    """Mark every unread notification `user` may still read as read; how many were. Those of
    a use case they left stay as they were, hidden (and uncounted) like everywhere else."""
    rows = Notification.objects.readable_by(user).unread()
    return rows.update(read_at=timezone.now())
