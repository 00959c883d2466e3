"""Pages and htmx fragments for use cases and the account's API tokens.

Every use-case view fetches through `get_use_case_for()` (outsiders 404, members lacking the
right 403) and writes through one service. The detail page's KPI, value-model and rule
sections are partials of usecases/detail.html: an htmx request aimed at one of them
(HX-Target) gets just that section back, any other request the whole page.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from knox.models import AuthToken

from portal.exports import csv_response
from portal.formatting import value_text
from portal.web import GET_POST, HtmxRequest, call_service, page_of, posted
from usecases import schema_rows, selectors
from usecases.audit_labels import verb_label
from usecases.filters import AuditFilter, HistoryFilter
from usecases.forms import (
    Form,
    KPIForm,
    MemberAddForm,
    MemberRoleForm,
    RuleForm,
    TokenForm,
    UseCaseFilterForm,
    UseCaseForm,
    ValueModelForm,
    phase_options,
)
from usecases.models import Role, UseCase, ValueModel
from usecases.permissions import (
    Action,
    can,
    can_create_use_case,
    can_view_audit_trail,
    get_use_case_for,
    is_admin,
    page_context,
)
from usecases.services import definitions, notifications, tokens, usecases

# HX-Target (the section's DOM id) → the partial of usecases/detail.html that renders it.
SECTIONS = {"kpis": "kpi-section", "value-model": "value-model-section", "rules": "rule-section"}
ROLE_RANK = {role: i for i, role in enumerate(Role.values)}


# Pages outside a use case


@require_GET
def use_case_list(request: HtmxRequest) -> HttpResponse:
    visible = UseCase.objects.visible_to(request.user)
    owners = visible.order_by("owner__username").values_list("owner__username", flat=True)
    form = UseCaseFilterForm(request.GET, owners=list(owners.distinct()))
    rows = selectors.use_case_rows(request.user, **form.filters())
    page = page_of(request, rows)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "filtered": any(query.values()),
    }
    return render(request, "usecases/use_case_list.html", context)


@GET_POST
def use_case_create(request: HtmxRequest) -> HttpResponse:
    if not can_create_use_case(request.user):
        raise PermissionDenied("You may not propose use cases.")
    form = UseCaseForm(posted(request))
    if not form.wants_schema_edit and form.is_valid():
        use_case = call_service(
            form, usecases.create_use_case, by=request.user, **form.cleaned_data
        )
        if use_case is not None:
            messages.success(request, f"“{use_case}” is created; you are its owner.")
            return redirect(use_case)
    context = {
        "form": form,
        "types": schema_rows.TYPE_CHOICES,
        "teams": selectors.known_teams(request.user),
    }
    return render(request, "usecases/use_case_form.html", context)


# One use case


def _detail_context(request, use_case: UseCase, **extra) -> dict:
    """Everything usecases/detail.html shows, in a fixed number of queries whatever the size."""
    if can(request.user, Action.CHANGE_PHASE, use_case):  # the Phase card's form (promotions')
        steps, skips = phase_options(use_case, can_skip=is_admin(request.user))
        extra.update(phase_steps=steps, phase_skips=skips)
    members = sorted(
        use_case.members.select_related("user"),
        key=lambda m: (ROLE_RANK[m.role], m.user.get_username()),
    )
    kpis = list(use_case.kpis.order_by("name"))
    segmented = {kpi.segment for kpi in kpis if kpi.segment}
    if segmented and "kpi_segments" not in extra:
        extra["kpi_segments"] = selectors.known_segments(use_case)
    # A KPI's segment that matches none of the data's: flagged in the table.
    extra["unmatched_segments"] = segmented - set(extra.get("kpi_segments") or ())
    # Each feature with its allowed values spelled out: a template reading feature.values on
    # a dict without that key would call dict.values() and list the feature's own fields.
    features = [{**f, "values": f.get("values") or []} for f in use_case.feature_schema]
    return page_context(
        request,
        use_case,
        features=features,
        kpis=kpis,
        rules=use_case.data_quality_rules.order_by("field", "kind"),
        value_model=ValueModel.objects.filter(use_case=use_case).first(),
        milestones=list(use_case.milestones.all()),
        today=timezone.localdate(),
        members=members,
        **extra,
    )


def _render_detail(request, use_case: UseCase, **extra) -> HttpResponse:
    """The whole detail page, or only the section an htmx request targets."""
    template = "usecases/detail.html"
    section = SECTIONS.get(request.htmx.target or "") if request.htmx else None
    if section:
        template += f"#{section}"
    return render(request, template, _detail_context(request, use_case, **extra))


def _saved(request, use_case: UseCase, section: str, message: str) -> HttpResponse:
    """After a section write: the fresh section for htmx, else back to the page (PRG)."""
    if request.htmx and request.htmx.target in SECTIONS:
        return _render_detail(request, use_case, flash=message)
    messages.success(request, message)
    return redirect(f"{use_case.get_absolute_url()}#{section}")


@require_GET
def detail(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    return _render_detail(request, use_case)


@GET_POST
def use_case_edit(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    with_owner = can(request.user, Action.MANAGE_MEMBERS, use_case)
    initial = UseCaseForm.initial_for(use_case)
    form = UseCaseForm(posted(request), initial=initial, with_owner=with_owner)
    if not form.wants_schema_edit and form.is_valid():
        saved = call_service(
            form, usecases.update_use_case, use_case, by=request.user, **form.cleaned_data
        )
        if saved is not None:
            messages.success(request, "Your changes are saved.")
            return redirect(saved)
    context = {
        "form": form,
        "use_case": use_case,
        "types": schema_rows.TYPE_CHOICES,
        "teams": selectors.known_teams(request.user),
    }
    return render(request, "usecases/use_case_form.html", context)


@GET_POST
def use_case_delete(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.DELETE)
    if request.method == "POST":
        usecases.delete_use_case(use_case, by=request.user)
        messages.success(request, f"“{use_case}” is deleted; its history is kept.")
        return redirect("usecases:list")
    counts = {"kpis": use_case.kpis.count(), "members": use_case.members.count()}
    return render(request, "usecases/use_case_delete.html", {"use_case": use_case, **counts})


# History and the audit trail


def _filter_query(request: HtmxRequest) -> str:
    """The request's filters as a query string, without the page (for links that keep them)."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _audit_page(
    request: HtmxRequest, template: str, filters: HistoryFilter, **context
) -> HttpResponse:
    """A page of the filtered events, newest first, or the form's errors and no rows."""
    page = page_of(request, filters.events())
    context.update(
        filters=filters,
        page=page,
        events=_history_rows(page),
        query=_filter_query(request),
        filtered=any(value for key, value in request.GET.items() if key != "page"),
    )
    return render(request, template, context)


def _audit_csv(filters: HistoryFilter, filename: str) -> HttpResponse:
    """Every matching event as a streamed CSV; 400 when the filters are invalid."""
    if not filters.is_valid():
        fields = ", ".join(filters.errors)  # field names only: never echo the input back
        return HttpResponseBadRequest(
            f"These filters are not valid: {fields}. Correct them on the page, then download.",
            content_type="text/plain; charset=utf-8",
        )
    rows = selectors.audit_csv_rows(filters.events())
    return csv_response(selectors.AUDIT_COLUMNS, rows, filename=filename)


@require_GET
def history(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    filters = HistoryFilter(request.GET, selectors.use_case_history(use_case))
    context = page_context(request, use_case)
    return _audit_page(request, "usecases/history.html", filters, **context)


@require_GET
def history_csv(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    filters = HistoryFilter(request.GET, selectors.use_case_history(use_case))
    return _audit_csv(filters, f"{use_case.slug}-audit.csv")


def _audit_filters(request: HtmxRequest) -> AuditFilter:
    """The global audit's filters, for Managers and Admins only (anyone else: 403)."""
    if not can_view_audit_trail(request.user):
        raise PermissionDenied("Only Managers and Admins see the whole audit trail.")
    events = selectors.audit_events(request.user)
    return AuditFilter(request.GET, events, user=request.user)


@require_GET
def audit(request: HtmxRequest) -> HttpResponse:
    return _audit_page(request, "usecases/audit.html", _audit_filters(request))


@require_GET
def audit_csv(request: HtmxRequest) -> HttpResponse:
    return _audit_csv(_audit_filters(request), "audit.csv")


def _display(value) -> str | None:
    """An audited value exactly as stored; None stays None (the template shows a dash)."""
    return None if value is None or value == "" else value_text(value, decimals=None)


def _history_rows(events) -> list[dict]:
    """Each event with its verb in words and its changed fields as (name, before, after) text."""
    rows = []
    for event in events:
        changes = [
            (name.replace("_", " "), _display(before), _display(after))
            for name, before, after in event.changes
        ]
        rows.append(
            {
                "event": event,
                "verb": verb_label(event.verb),
                # A creation lists what was set, a deletion what was there: no arrows needed.
                "kind": "set" if event.before is None else "unset" if event.after is None else "",
                "changes": [change for change in changes if change[1] or change[2]],
            }
        )
    return rows


# Members


def _render_members(request, use_case: UseCase, **extra) -> HttpResponse:
    extra.setdefault("add_form", MemberAddForm())  # unless the caller's bound form has errors
    undo = request.session.pop(UNDO_REMOVAL, None) if request.method == "GET" else None
    context = page_context(
        request,
        use_case,
        members=use_case.members.select_related("user").order_by("user__username"),
        roles=Role.choices,
        undo=undo if undo and undo.get("use_case") == use_case.pk else None,
        **extra,
    )
    return render(request, "usecases/members.html", context)


@GET_POST
def members(request: HtmxRequest, slug: str) -> HttpResponse:
    action = Action.MANAGE_MEMBERS if request.method == "POST" else Action.VIEW
    use_case = get_use_case_for(request, slug, action)
    form = MemberAddForm(posted(request))
    if form.is_valid():
        user, role = form.cleaned_data["username"], form.cleaned_data["role"]
        if call_service(form, usecases.add_member, use_case, by=request.user, user=user, role=role):
            messages.success(request, f"{user.get_username()} is now {Role(role).label.lower()}.")
            return redirect("usecases:members", use_case.slug)
    return _render_members(request, use_case, add_form=form)


@require_POST
def member_role(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.MANAGE_MEMBERS)
    member = get_object_or_404(use_case.members.select_related("user"), pk=pk)
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        role = form.cleaned_data["role"]
        if call_service(form, usecases.change_member_role, member, by=request.user, role=role):
            messages.success(
                request, f"{member.user.get_username()} is now {Role(role).label.lower()}."
            )
            return redirect("usecases:members", use_case.slug)
    return _render_members(request, use_case, row_form=form, row_member=member.pk)


# The last removal, for the members page's "Undo" (once): {use case id, username, role}.
UNDO_REMOVAL = "quorum_undo_member_removal"


@GET_POST
def member_remove(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    """GET: what removing the member means, to confirm; POST: remove, with an undo."""
    use_case = get_use_case_for(request, slug, Action.MANAGE_MEMBERS)
    member = get_object_or_404(use_case.members.select_related("user"), pk=pk)
    if request.method == "GET":
        context = page_context(
            request,
            use_case,
            member=member,
            keeps_access=selectors.keeps_access(member),
            loses=selectors.removal_consequence(member),
        )
        return render(request, "usecases/member_remove.html", context)
    form = Form(request.POST)  # no fields: it carries the service's refusal, if any
    if form.is_valid():
        call_service(form, usecases.remove_member, member, by=request.user)
    if form.errors:
        return _render_members(request, use_case, row_form=form, row_member=member.pk)
    username = member.user.get_username()
    request.session[UNDO_REMOVAL] = {
        "use_case": use_case.pk,
        "username": username,
        "role": member.role,
    }
    messages.success(request, f"{username} is no longer a member.")
    return redirect("usecases:members", use_case.slug)


@require_POST
def member_welcome(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.MANAGE_MEMBERS)
    member = get_object_or_404(use_case.members.select_related("user"), pk=pk)
    form = Form(request.POST)  # no fields: it carries the service's refusal, if any
    if form.is_valid():
        call_service(form, notifications.resend_welcome, member, by=request.user)
    if form.errors:
        return _render_members(request, use_case, row_form=form, row_member=member.pk)
    messages.success(request, f"The welcome e-mail to {member.user.get_username()} is sent again.")
    return redirect("usecases:members", use_case.slug)


# KPIs, value model and data-quality rules: inline sections of the detail page


@GET_POST
def kpi_create(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    known = selectors.known_segments(use_case)
    form = KPIForm(posted(request), use_case=use_case, segments=known)
    if form.is_valid() and call_service(
        form, definitions.create_kpi, use_case, by=request.user, **form.cleaned_data
    ):
        return _saved(request, use_case, "kpis", _kpi_saved(form, known, "added"))
    return _render_detail(request, use_case, kpi_form=form, kpi_segments=known)


@GET_POST
def kpi_edit(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    kpi = get_object_or_404(use_case.kpis, pk=pk)
    known = selectors.known_segments(use_case)
    initial = KPIForm.initial_for(kpi)
    form = KPIForm(posted(request), initial=initial, use_case=use_case, segments=known)
    if form.is_valid() and call_service(
        form, definitions.update_kpi, kpi, by=request.user, **form.cleaned_data
    ):
        return _saved(request, use_case, "kpis", _kpi_saved(form, known, "saved"))
    return _render_detail(request, use_case, kpi_form=form, editing_kpi=kpi, kpi_segments=known)


def _kpi_saved(form: KPIForm, known: list[str], done: str) -> str:
    """The confirmation, with a warning when the KPI's segment matches no data seen yet."""
    data = form.cleaned_data
    warning = selectors.segment_warning(data.get("segment", ""), known)
    return " ".join(filter(None, [f"KPI “{data['name']}” {done}.", warning and f"Note: {warning}"]))


@require_POST
def kpi_delete(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    kpi = get_object_or_404(use_case.kpis, pk=pk)
    definitions.delete_kpi(kpi, by=request.user)
    return _saved(request, use_case, "kpis", f"KPI “{kpi.name}” removed.")


@GET_POST
def value_model_edit(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    initial = ValueModelForm.initial_for(ValueModel.objects.filter(use_case=use_case).first())
    form = ValueModelForm(posted(request), initial=initial, use_case=use_case)
    if form.is_valid() and call_service(
        form, definitions.save_value_model, use_case, by=request.user, **form.cleaned_data
    ):
        return _saved(request, use_case, "value-model", "Value model saved.")
    return _render_detail(request, use_case, value_model_form=form)


@GET_POST
def rule_create(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    form = RuleForm(posted(request), use_case=use_case)
    if form.is_valid() and call_service(
        form, definitions.create_rule, use_case, by=request.user, **form.rule_fields()
    ):
        return _saved(request, use_case, "rules", "Data-quality rule added.")
    return _render_detail(request, use_case, rule_form=form)


@GET_POST
def rule_edit(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    rule = get_object_or_404(use_case.data_quality_rules, pk=pk)
    form = RuleForm(posted(request), initial=RuleForm.initial_for(rule), use_case=use_case)
    if form.is_valid() and call_service(
        form, definitions.update_rule, rule, by=request.user, **form.rule_fields()
    ):
        return _saved(request, use_case, "rules", "Data-quality rule saved.")
    return _render_detail(request, use_case, rule_form=form, editing_rule=rule)


@require_POST
def rule_delete(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.EDIT)
    rule = get_object_or_404(use_case.data_quality_rules, pk=pk)
    definitions.delete_rule(rule, by=request.user)
    return _saved(request, use_case, "rules", f"Rule on “{rule.field}” removed.")


# Account

_password_change = auth_views.PasswordChangeView.as_view()


def password_change(request: HtmxRequest) -> HttpResponse:
    """Django's password change; then says how many API tokens the change revoked (the
    receiver in usecases/signals.py revokes them, whoever changes a password)."""
    if request.method != "POST":  # nothing is revoked by showing the form
        return _password_change(request)
    before = AuthToken.objects.filter(user=request.user).count()
    response = _password_change(request)
    revoked = before - AuthToken.objects.filter(user=request.user).count()
    if response.status_code == 302 and revoked:
        tokens_were = f"{revoked} API token was" if revoked == 1 else f"{revoked} API tokens were"
        messages.warning(
            request,
            f"Your {tokens_were} revoked: programs using them stop working. Create new ones "
            "under API tokens.",
        )
    return response


def locked_out(request: HtmxRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer once a username and address reached the failure limit."""
    context = {
        "cooloff_minutes": settings.AXES_COOLOFF_MINUTES,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "registration/locked_out.html", context, status=429)


@never_cache  # the response may hold a new token in clear text
@GET_POST
def api_tokens(request: HtmxRequest) -> HttpResponse:
    form, new_token = TokenForm(posted(request)), None
    if form.is_valid():
        created = call_service(
            form,
            tokens.create_token,
            request.user,
            expiry_days=form.cleaned_data["expiry_days"] or None,
        )
        if created is not None:
            new_token, form = created[1], TokenForm()
    rows = AuthToken.objects.filter(user=request.user).order_by("-created")
    context = {"form": form, "tokens": rows, "new_token": new_token, "now": timezone.now()}
    return render(request, "account/api_tokens.html", context)


@require_POST
def api_token_revoke(request: HtmxRequest, token_key: str) -> HttpResponse:
    if not tokens.revoke_token(request.user, token_key):
        raise Http404("You have no token with this key.")
    messages.success(request, f"Token {token_key}… is revoked; programs using it stop working.")
    return redirect(reverse("usecases:api_tokens"))
