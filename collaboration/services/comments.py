"""Writing comments: post, edit (the author, for a few minutes), delete (the author, the use
case's owner or an admin; a "deleted" marker stays in the thread). Each is audited, and a
post notifies the members it mentions and the thread's earlier participants."""

from __future__ import annotations

import datetime
import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from collaboration import targets
from collaboration.markdown import names_in
from collaboration.models import MAX_BODY, Comment
from notifications.models import Notification
from notifications.services.notify import notify
from portal.errors import DomainError, InvalidInput
from usecases.models import UseCase
from usecases.permissions import Action, can
from usecases.services import audit

logger = logging.getLogger(__name__)
User = get_user_model()

EDIT_WINDOW = datetime.timedelta(minutes=10)


class CommentError(DomainError):
    """A comment change the rules refuse (editing after the window, someone else's text)."""


class CommentForbidden(CommentError):
    status_code = 403
    default_code = "permission_denied"


def may_comment(user, use_case: UseCase) -> bool:
    """Whoever may view the use case may comment on it: its members (viewers included),
    Managers (they approve high-risk promotions, so they take part in the discussion) and
    Admins."""
    return can(user, Action.VIEW, use_case)


def may_delete(user, comment: Comment, use_case: UseCase) -> bool:
    """The author, or whoever may delete the use case itself (its owners, Admins)."""
    return comment.author_id == user.pk or can(user, Action.DELETE, use_case)


def may_edit(user, comment: Comment, now: datetime.datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        comment.author_id == user.pk
        and not comment.is_deleted
        and now - comment.created_at <= EDIT_WINDOW
    )


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise InvalidInput("Write something first.", field="body", code="required")
    if len(body) > MAX_BODY:
        raise InvalidInput(
            f"A comment holds at most {MAX_BODY:,} characters ({len(body):,} given).",
            field="body",
            code="max_length",
        )
    return body


def _members_named(use_case: UseCase, names: list[str]) -> list:
    """The active members of `use_case` among `names` (in their order)."""
    if not names:
        return []
    users = {
        user.get_username(): user
        for user in User.objects.filter(
            is_active=True,
            memberships__use_case=use_case,
            **{f"{User.USERNAME_FIELD}__in": names},
        )
    }
    return [users[name] for name in names if name in users]


@transaction.atomic
def post_comment(
    use_case: UseCase,
    *,
    by,
    target: str,
    body: str,
    parent: Comment | int | None = None,
) -> Comment:
    """Add a comment on `target` ("kind:id", of this use case); a reply to a reply joins
    its top-level comment (threads are one level deep)."""
    if not may_comment(by, use_case):
        raise CommentForbidden("You may not comment on this use case.")
    body = _clean_body(body)
    parsed = targets.parse_key(target)
    found = targets.find(use_case, *parsed) if parsed else None
    if found is None:
        raise InvalidInput(
            "There is nothing to comment on by that name.", field="target", code="not_found"
        )
    parent_comment = _parent(use_case, found, parent)
    mentioned = _members_named(use_case, names_in(body))
    comment = Comment.objects.create(
        use_case=use_case,
        target_kind=found.kind,
        target_id=found.id,
        author=by,
        body=body,
        mentioned=[user.get_username() for user in mentioned],
        parent=parent_comment,
    )
    audit.record(
        actor=by,
        verb="comment.posted",
        target=comment,
        use_case=use_case,
        after={"on": found.label, "thread": found.key, "reply": parent_comment is not None},
    )
    _notify(comment, found, by=by, mentioned=mentioned, new=True)
    logger.info("comment %s posted on %s by %s", comment.pk, found.key, by.pk)
    return comment


def _parent(use_case: UseCase, found: targets.Found, parent) -> Comment | None:
    if parent in (None, ""):
        return None
    parent_id = parent.pk if isinstance(parent, Comment) else parent
    comment = Comment.objects.filter(
        use_case=use_case, target_kind=found.kind, target_id=found.id, pk=parent_id
    ).first()
    if comment is None:
        raise InvalidInput(
            "The comment you reply to is not in this thread.", field="parent", code="not_found"
        )
    return comment.parent or comment


@transaction.atomic
def edit_comment(comment: Comment, *, by, body: str) -> Comment:
    """Change the text of one's own comment, within EDIT_WINDOW of posting it."""
    comment = Comment.objects.select_for_update().select_related("use_case").get(pk=comment.pk)
    if comment.author_id != by.pk:
        raise CommentForbidden("Only its author may edit a comment.")
    if comment.is_deleted:
        raise CommentError("This comment was deleted.", field="body", code="deleted")
    if timezone.now() - comment.created_at > EDIT_WINDOW:
        minutes = int(EDIT_WINDOW.total_seconds() // 60)
        raise CommentError(
            f"A comment can be edited for {minutes} minutes after posting; "
            "post a new one to add to it.",
            field="body",
            code="edit_window_closed",
        )
    body = _clean_body(body)
    if body == comment.body:
        return comment
    use_case = comment.use_case
    found = targets.of_comment(comment)
    mentioned = _members_named(use_case, names_in(body))
    comment.body = body
    comment.mentioned = [user.get_username() for user in mentioned]
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "mentioned", "edited_at"])
    audit.record(
        actor=by,
        verb="comment.edited",
        target=comment,
        use_case=use_case,
        after={"on": found.label, "thread": comment.target_key},
    )
    if not found.gone:  # newly mentioned members hear of it; the others were told already
        _notify(comment, found, by=by, mentioned=mentioned, new=False)
    return comment


@transaction.atomic
def delete_comment(comment: Comment, *, by) -> Comment:
    """Empty the comment and mark it deleted; its replies stay, under the marker."""
    comment = Comment.objects.select_for_update().select_related("use_case").get(pk=comment.pk)
    use_case = comment.use_case
    if not may_delete(by, comment, use_case):
        raise CommentForbidden("Only its author or the use case's owner may delete a comment.")
    if comment.is_deleted:
        return comment
    found = targets.of_comment(comment)
    comment.body, comment.mentioned = "", []
    comment.deleted_at, comment.deleted_by = timezone.now(), by
    comment.save(update_fields=["body", "mentioned", "deleted_at", "deleted_by"])
    audit.record(
        actor=by,
        verb="comment.deleted",
        target=comment,
        use_case=use_case,
        after={"on": found.label, "thread": comment.target_key},
    )
    return comment


EXCERPT_LENGTH = 120  # characters of the comment quoted in its notification


def _excerpt(body: str) -> str:
    """The comment's first words on one line, as the notification quotes them."""
    text = " ".join(body.split())
    if len(text) <= EXCERPT_LENGTH:
        return text
    return text[: EXCERPT_LENGTH - 1].rsplit(" ", 1)[0] + "…"


def _notify(comment: Comment, found: targets.Found, *, by, mentioned: list, new: bool) -> None:
    """Mentioned members ("mention"), then, for a new comment, the thread's earlier
    participants ("comment"); never the author, nobody twice. The key
    makes a second call for the same comment and person a no-op."""
    use_case = comment.use_case
    # A review item's page shows its thread only when asked: its own thread page instead.
    page = found.url
    if found.kind == Comment.Target.REVIEW_ITEM:
        page = targets.thread_url(use_case, found)
    url = f"{page}#comment-{comment.pk}"
    author = by.get_full_name() or by.get_username()
    where = f"“{use_case.title}”"
    if found.kind != Comment.Target.USE_CASE:
        where = f"{found.label} of {where}"
    excerpt = _excerpt(comment.body)
    told = {by.pk}
    for user in mentioned:
        if user.pk in told:
            continue
        told.add(user.pk)
        notify(
            user,
            kind=Notification.Kind.MENTION,
            text=f"{author} mentioned you on {where}: “{excerpt}”",
            url=url,
            use_case=use_case,
            key=f"comment:{comment.pk}",
        )
    if not new:
        return
    earlier = set(
        Comment.objects.filter(
            use_case=use_case,
            target_kind=comment.target_kind,
            target_id=comment.target_id,
            deleted_at__isnull=True,
            author__isnull=False,
        )
        .exclude(pk=comment.pk)
        .values_list("author_id", flat=True)
    )
    # notify() skips whoever may no longer read the use case (removed from it since).
    for user in User.objects.filter(pk__in=earlier - told):
        notify(
            user,
            kind=Notification.Kind.COMMENT,
            text=f"{author} commented on {where}: “{excerpt}”",
            url=url,
            use_case=use_case,
            key=f"comment:{comment.pk}",
        )
