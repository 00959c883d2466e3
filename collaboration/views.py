"""Pages and htmx fragments of the collaboration app: a target's comment thread (GET it,
POST a comment, edit and delete inline; the pages of lower apps include it with one hx-get
line), the members a mention may name, and the activity feeds.

Every view fetches the use case through `get_use_case_for()` (outsiders 404) and writes
through collaboration/services/comments.py; an htmx request gets the fragment back, a plain
one (no JavaScript) a whole page or a redirect to it.
"""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from collaboration import selectors, targets
from collaboration.forms import CommentForm, EditForm, MentionQuery
from collaboration.models import Comment
from collaboration.services import comments
from portal.web import GET_POST, HtmxRequest, call_service, page_of, posted
from usecases.activity import sentences
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for, is_admin, is_manager, page_context

FEED_PAGE = 25


def _found(use_case: UseCase, key: str, *, or_gone: bool = False) -> targets.Found:
    """The target `key` names, or 404. With `or_gone`, a deleted target whose comments
    remain is their stand-in (targets.gone): links to them keep working."""
    parsed = targets.parse_key(key)
    found = targets.find(use_case, *parsed) if parsed else None
    if found is None and parsed and or_gone:
        kind, target_id = parsed
        left = Comment.objects.filter(use_case=use_case, target_kind=kind, target_id=target_id)
        if left.exists():
            found = targets.gone(use_case, kind, target_id)
    if found is None:
        raise Http404("Nothing to discuss by that name on this use case.")
    return found


def _render_thread(
    request, use_case, found, form, *, editing: Comment | None = None, edit_form=None
) -> HttpResponse:
    """The thread with `form` bound to what was posted: on the reply form of the comment it
    answers if it was a reply, else on the form below; `editing` shows its `edit_form` in
    place (an edit the service refused, with the reason)."""
    top = selectors.thread(use_case, found.kind, found.id, user=request.user)
    reply_to, refused_reply = _reply_to(form, top), None
    if reply_to is not None:
        refused_reply, form = form, CommentForm()
    context = page_context(
        request,
        use_case,
        found=found,
        thread_url=targets.thread_url(use_case, found),
        comments=top,
        form=form,
        reply_to=reply_to,
        refused_reply=refused_reply,
        editing=editing,
        edit_form=edit_form,
    )
    template = "collaboration/thread.html"
    if request.htmx:
        template += "#comment-thread"
    return render(request, template, context)


def _reply_to(form: CommentForm, top: list[Comment]) -> int | None:
    """The top-level comment a refused reply answered (its form shows the errors), or None."""
    if not form.is_bound or not form.errors:
        return None
    parent = str(form.data.get("parent") or "")
    if not re.fullmatch(r"[0-9]{1,18}", parent):
        return None
    for comment in top:
        if int(parent) == comment.pk or int(parent) in {r.pk for r in comment.thread_replies}:
            return comment.pk
    return None


@GET_POST
def thread(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    found = _found(use_case, request.GET.get("on", ""), or_gone=request.method == "GET")
    form = CommentForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        comment = call_service(
            form, comments.post_comment, use_case, by=request.user, target=found.key, **data
        )
        if comment is not None:
            if not request.htmx:
                return redirect(f"{targets.thread_url(use_case, found)}#comment-{comment.pk}")
            form = CommentForm()
    return _render_thread(request, use_case, found, form)


def _comment(use_case: UseCase, pk: int) -> Comment:
    comment = get_object_or_404(Comment.objects.select_related("author"), use_case=use_case, pk=pk)
    comment.use_case = use_case  # fetched through the permission check already
    return comment


@GET_POST
def comment_edit(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    comment = _comment(use_case, pk)
    if comment.author_id != request.user.pk:
        raise PermissionDenied("Only its author may edit a comment.")
    found = targets.of_comment(comment)
    here = f"{targets.thread_url(use_case, found)}#comment-{comment.pk}"
    if request.method == "GET" and not comments.may_edit(request.user, comment):
        return redirect(here) if not request.htmx else _not_editable(request, comment, found)
    form = EditForm(posted(request), initial={"body": comment.body})
    if request.method == "POST":
        edited = form.is_valid() and call_service(
            form, comments.edit_comment, comment, by=request.user, **form.cleaned_data
        )
        if edited and not request.htmx:
            return redirect(here)
        if request.htmx:  # the form's target is the thread: it comes back whole
            if edited:
                return _render_thread(request, use_case, found, CommentForm())
            return _render_thread(
                request, use_case, found, CommentForm(), editing=comment, edit_form=form
            )
    context = page_context(
        request,
        use_case,
        comment=comment,
        form=form,
        found=found,
        thread_url=targets.thread_url(use_case, found),
    )
    template = "collaboration/comment_edit.html"
    if request.htmx:
        template += "#comment-edit"
    return render(request, template, context)


def _not_editable(request, comment: Comment, found: targets.Found) -> HttpResponse:
    """Deleted, or its window closed since the page showed the Edit link: the comment as it
    stands (in place of the form the link asked for), with why it cannot be edited."""
    minutes = int(comments.EDIT_WINDOW.total_seconds() // 60)
    refused = f"The {minutes} minutes to edit this comment are over."
    if comment.is_deleted:
        refused = "This comment was deleted."
    comment.can_delete = not comment.is_deleted  # its author's
    context = {"comment": comment, "use_case": comment.use_case, "found": found}
    return render(request, "collaboration/_comment.html", {**context, "edit_refused": refused})


@require_POST
def comment_delete(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    comment = _comment(use_case, pk)
    found = targets.of_comment(comment)
    try:
        comments.delete_comment(comment, by=request.user)
    except comments.CommentForbidden as error:
        raise PermissionDenied(error.message) from None
    if not request.htmx:
        return redirect(f"{targets.thread_url(use_case, found)}#comment-{comment.pk}")
    return _render_thread(request, use_case, found, CommentForm())


@require_GET
def mention_options(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    query = MentionQuery(request.GET)
    members = []  # a NUL or an overlong prefix names nobody
    if query.is_valid():
        members = selectors.mention_options(use_case, query.cleaned_data["q"])
    return render(request, "collaboration/_mention_options.html", {"members": members})


@require_GET
def use_case_activity(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    page = page_of(request, selectors.activity_events(request.user, use_case=use_case), FEED_PAGE)
    context = page_context(request, use_case, page=page, entries=sentences(page.object_list))
    return render(request, "collaboration/use_case_activity.html", context)


@require_GET
def my_activity(request: HtmxRequest) -> HttpResponse:
    # Managers and admins see every use case: they may follow the whole portfolio.
    may_see_all = is_manager(request.user) or is_admin(request.user)
    everything = may_see_all and request.GET.get("scope") == "all"
    events = selectors.activity_events(request.user, everything=everything)
    page = page_of(request, events, FEED_PAGE)
    context = {
        "page": page,
        "entries": sentences(page.object_list),
        "may_see_all": may_see_all,
        "everything": everything,
        "query": "scope=all" if everything else "",
    }
    return render(request, "collaboration/my_activity.html", context)
