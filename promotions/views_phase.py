"""The page that moves a use case's phase (the detail page's Phase card posts here too).

Owners and Admins only (Action.CHANGE_PHASE): outsiders 404, other members 403. The move goes
through promotions.services.phases, whose refusal (a skipped step, a missing version, no note)
comes back as form errors on this page, beside the deployment that explains it.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from portal.web import GET_POST, HtmxRequest, call_service, posted
from promotions import selectors
from promotions.forms_phase import PhaseForm
from promotions.services import phases
from usecases.permissions import Action, get_use_case_for, is_admin, page_context


@GET_POST
def phase(request: HtmxRequest, slug: str) -> HttpResponse:
    """GET: the form; a valid POST: what the move means, to confirm; the confirmed POST
    (confirmed=yes, the same fields): the move."""
    use_case = get_use_case_for(request, slug, Action.CHANGE_PHASE)
    form = PhaseForm(posted(request), use_case=use_case, can_skip=is_admin(request.user))
    confirm = None
    if form.is_valid() and request.POST.get("confirmed") == "yes":
        moved = call_service(
            form, phases.change_phase, use_case, by=request.user, **form.cleaned_data
        )
        if moved is not None:
            messages.success(request, f"Moved to {moved.get_phase_display()}.")
            return redirect(moved)
    elif form.is_valid():  # refused now rather than after a confirmation
        confirm = call_service(
            form, phases.check_move, use_case, by=request.user, **form.cleaned_data
        )
    context = page_context(
        request, use_case, form=form, confirm=confirm, deployment=selectors.deployment(use_case)
    )
    return render(request, "promotions/phase.html", context)
