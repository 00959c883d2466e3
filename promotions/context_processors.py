"""What every page's top bar shows: the user's unread notifications (the notification
centre's) and the promotion requests waiting for their approval. Both are counted only if a
template reads them (the template engine calls them), at most once per render."""

from __future__ import annotations

import functools

from django.http import HttpRequest

from notifications import selectors as notifications_selectors
from promotions import selectors


def notifications(request: HttpRequest) -> dict:
    """{"unread_notifications", "waiting_approvals"}: callables counting for the user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @functools.cache
    def unread_notifications() -> int:
        return notifications_selectors.unread_count(user)

    @functools.cache
    def waiting_approvals() -> int:
        return len(selectors.waiting_for_user(user))

    return {"unread_notifications": unread_notifications, "waiting_approvals": waiting_approvals}
