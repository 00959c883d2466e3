"""Pages and htmx fragments of the collaboration app: a target's comment thread (GET it,
POST a comment, edit and delete inline; the pages of lower apps include it with one hx-get
line), the members a mention may name, and the activity feeds.

Every view fetches the use case through `get_use_case_for()` (outsiders 404) and writes
through collaboration/services/comments.py; an htmx request gets the fragment back, a plain
one (no JavaScript) a whole page or a redirect to it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from collaboration import selectors, targets
from collaboration.forms import CommentForm, EditForm
from collaboration.models import Comment
from collaboration.services import comments
from portal.web import GET_POST, HtmxRequest, call_service, page_of, posted
from usecases.activity import sentences
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for, is_admin, is_manager, page_context

FEED_PAGE = 25


def _found(use_case: UseCase, key: str) -> targets.Found:
    parsed = targets.parse_key(key)
    found = targets.find(use_case, *parsed) if parsed else None
    if found is None:
        raise Http404("Nothing to discuss by that name on this use case.")
    return found


def thread_url(use_case: UseCase, found: targets.Found) -> str:
    return f"{reverse('collaboration:thread', args=[use_case.slug])}?on={found.key}"


def _render_thread(request, use_case, found, form, *, status: int = 200) -> HttpResponse:
    context = page_context(
        request,
        use_case,
        found=found,
        thread_url=thread_url(use_case, found),
        comments=selectors.thread(use_case, found.kind, found.id, user=request.user),
        form=form,
        max_minutes=int(comments.EDIT_WINDOW.total_seconds() // 60),
    )
    template = "collaboration/thread.html"
    if request.htmx:
        template += "#comment-thread"
    return render(request, template, context, status=status)


@GET_POST
def thread(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    found = _found(use_case, request.GET.get("on", ""))
    form = CommentForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        comment = call_service(
            form, comments.post_comment, use_case, by=request.user, target=found.key, **data
        )
        if comment is not None:
            if not request.htmx:
                return redirect(f"{thread_url(use_case, found)}#comment-{comment.pk}")
            form = CommentForm()
    return _render_thread(request, use_case, found, form)


def _comment(use_case: UseCase, pk: int) -> Comment:
    return get_object_or_404(Comment.objects.select_related("author"), use_case=use_case, pk=pk)


@GET_POST
def comment_edit(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    comment = _comment(use_case, pk)
    if comment.author_id != request.user.pk:
        raise PermissionDenied("Only its author may edit a comment.")
    found = _found(use_case, comment.target_key)
    form = EditForm(posted(request), initial={"body": comment.body})
    if request.method == "POST" and form.is_valid():
        edited = call_service(
            form, comments.edit_comment, comment, by=request.user, **form.cleaned_data
        )
        if edited is not None:
            if not request.htmx:
                return redirect(f"{thread_url(use_case, found)}#comment-{comment.pk}")
            return _render_thread(request, use_case, found, CommentForm())
    context = page_context(
        request,
        use_case,
        comment=comment,
        form=form,
        found=found,
        thread_url=thread_url(use_case, found),
    )
    template = "collaboration/comment_edit.html"
    if request.htmx:
        template += "#comment-edit"
    return render(request, template, context)


@require_POST
def comment_delete(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    comment = _comment(use_case, pk)
    found = _found(use_case, comment.target_key)
    try:
        comments.delete_comment(comment, by=request.user)
    except comments.CommentForbidden as error:
        raise PermissionDenied(error.message) from None
    if not request.htmx:
        return redirect(f"{thread_url(use_case, found)}#comment-{comment.pk}")
    return _render_thread(request, use_case, found, CommentForm())


@require_GET
def mention_options(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    members = selectors.mention_options(use_case, request.GET.get("q", "")[:150])
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
