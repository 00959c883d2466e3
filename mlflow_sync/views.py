"""The MLflow page of a use case: the link (owner and admins change it), the last import
and the alias syncs, with buttons to import and sync now (owner, data scientists, admins).
Every member reads it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mlflow_sync.forms import LinkForm
from mlflow_sync.models import AliasSync, MlflowLink
from mlflow_sync.selectors import version_counts
from mlflow_sync.services import links, scheduling
from portal.web import GET_POST, HtmxRequest, call_service, posted
from usecases.permissions import Action, can, get_use_case_for, page_context

SHOWN_SYNCS = 10


@GET_POST
def link_page(request: HtmxRequest, slug: str) -> HttpResponse:
    needed = Action.SET_POLICY if request.method == "POST" else Action.VIEW
    use_case = get_use_case_for(request, slug, needed)
    link = MlflowLink.objects.filter(use_case=use_case).first()
    form = None
    if can(request.user, Action.SET_POLICY, use_case):
        form = LinkForm(posted(request), initial=LinkForm.initial_for(link))
        if form.is_valid():
            saved = call_service(
                form, links.save_link, use_case, by=request.user, **form.service_fields()
            )
            if saved is not None:
                messages.success(request, f"Linked to “{saved.model_name}”: MLflow answered.")
                return redirect("mlflow_sync:link", use_case.slug)
    syncs = list(AliasSync.objects.filter(link=link)[:SHOWN_SYNCS]) if link else []
    counts = version_counts(link) if link else {}
    context = page_context(
        request, use_case, link=link, form=form, syncs=syncs, counts=counts, tab="versions"
    )
    return render(request, "mlflow_sync/link.html", context)


def _queue(request: HtmxRequest, slug: str, queue, done: str) -> HttpResponse:
    """A button of the page that queues work on the link (owner, data scientists, admins)."""
    use_case = get_use_case_for(request, slug, Action.MANAGE_MODELS)
    link = MlflowLink.objects.filter(use_case=use_case).first()
    if link is None:
        messages.error(request, "Link the use case to MLflow first.")
    else:
        queue(link, request)
        messages.success(request, done)
    return redirect("mlflow_sync:link", use_case.slug)


@require_POST
def import_now(request: HtmxRequest, slug: str) -> HttpResponse:
    return _queue(
        request,
        slug,
        lambda link, request: scheduling.queue_import(link, request.user),
        "The import is queued: this page shows its outcome.",
    )


@require_POST
def sync_now(request: HtmxRequest, slug: str) -> HttpResponse:
    return _queue(
        request,
        slug,
        lambda link, request: scheduling.queue_sync(link),
        "A sync of the aliases is queued.",
    )


@require_POST
def unlink(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.SET_POLICY)
    if links.remove_link(use_case, by=request.user):
        messages.success(request, "Unlinked. The imported versions stay in Quorum.")
    return redirect("mlflow_sync:link", use_case.slug)
