"""Reads of the notification centre: only ever the reader's own notifications, and only
those they may still read (of no use case, or of one they still see)."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import Kind, Notification


def centre_rows(user, *, unread_only: bool = False, kind: str = "") -> QuerySet[Notification]:
    """`user`'s readable notifications, newest first, filtered as the centre asks."""
    rows = Notification.objects.readable_by(user).select_related("use_case")
    if unread_only:
        rows = rows.unread()
    if kind in Kind.values:
        rows = rows.filter(kind=kind)
    return rows


def unread_count(user) -> int:
    """The bell's number: `user`'s unread readable notifications (the partial index on
    unread rows per recipient serves it)."""
    return Notification.objects.readable_by(user).unread().count()
