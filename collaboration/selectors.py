"""Reads of the collaboration app: a thread of comments, the members a mention may name, and
the activity feeds (usecases.activity turns audit events into sentences)."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q

from collaboration.models import Comment
from collaboration.services.comments import may_delete, may_edit
from usecases.activity import Entry, sentences
from usecases.models import AuditEvent, UseCase, UseCaseMember

User = get_user_model()
MENTION_OPTIONS = 8


def thread(use_case: UseCase, kind: str, target_id: int, *, user) -> list[Comment]:
    """The target's top-level comments, oldest first, each with `thread_replies` (oldest
    first) and the `user`'s rights on it (`can_edit`, `can_delete`): one query."""
    comments = list(
        Comment.objects.filter(use_case=use_case, target_kind=kind, target_id=target_id)
        .select_related("author", "deleted_by")
        .order_by("id")
    )
    top: list[Comment] = []
    by_id: dict[int, Comment] = {}
    for comment in comments:
        comment.can_edit = may_edit(user, comment)
        comment.can_delete = not comment.is_deleted and may_delete(user, comment, use_case)
        comment.thread_replies = []
        by_id[comment.pk] = comment
    for comment in comments:
        parent = by_id.get(comment.parent_id) if comment.parent_id else None
        if parent is not None:
            parent.thread_replies.append(comment)
        else:
            top.append(comment)
    return top


def mention_options(use_case: UseCase, prefix: str) -> list:
    """Active members of the use case whose username or name starts with `prefix`, by
    username; only members, so no other account's existence shows."""
    prefix = prefix.strip()
    if not prefix:
        return []
    matches = (
        Q(username__istartswith=prefix)
        | Q(first_name__istartswith=prefix)
        | Q(last_name__istartswith=prefix)
    )
    members = UseCaseMember.objects.filter(use_case=use_case, user=OuterRef("pk"))
    return list(
        User.objects.filter(matches, Exists(members), is_active=True).order_by("username")[
            :MENTION_OPTIONS
        ]
    )


def activity(
    user,
    *,
    use_case: UseCase | None = None,
    since: datetime.datetime | None = None,
    limit: int = 50,
) -> list[Entry]:
    """The newest `limit` audit events in sentences: of `use_case` (which the caller has
    checked `user` may view), or else of the use cases `user` is a member of; since `since`
    when given. A constant number of queries."""
    return sentences(activity_events(user, use_case=use_case, since=since)[:limit])


def activity_events(user, *, use_case: UseCase | None = None, since=None, everything=False):
    """The events an activity feed lists, newest first (a QuerySet, for paging): of
    `use_case`, else of every use case `user` sees when `everything` (a manager's portfolio),
    else of those they are a member of."""
    events = AuditEvent.objects.order_by("-id")
    if use_case is not None:
        events = events.filter(use_case_id_ref=use_case.pk)
    elif everything:
        events = events.filter(use_case_id_ref__in=UseCase.objects.visible_to(user).values("pk"))
    else:
        mine = UseCaseMember.objects.filter(user=user).values("use_case_id")
        visible = UseCase.objects.visible_to(user).filter(pk__in=mine).values("pk")
        events = events.filter(use_case_id_ref__in=visible)
    if since is not None:
        events = events.filter(created_at__gte=since)
    return events
