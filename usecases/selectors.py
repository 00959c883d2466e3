"""Reads across models for one page or endpoint; every one starts from visible_to(user)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from portal.formatting import natural_key
from usecases import events
from usecases.models import (
    AuditEvent,
    UseCase,
    UseCaseMember,
)
from usecases.permissions import can_view_audit_trail, is_admin, is_manager

# Most urgent first on the roadmap's cards.
PRIORITY_RANK = {p: i for i, p in enumerate(reversed(UseCase.Priority.values))}


def use_case_rows(user, *, search: str = "", phase: str = "", owner: str = "") -> QuerySet:
    """The use cases `user` sees, filtered, with the counts the list shows (no N+1)."""
    rows = (
        UseCase.objects.visible_to(user)
        .select_related("owner")
        .annotate(
            kpi_count=Count("kpis", distinct=True), member_count=Count("members", distinct=True)
        )
    )
    if search:
        rows = rows.filter(
            Q(title__icontains=search)
            | Q(slug__icontains=search)
            | Q(problem_statement__icontains=search)
            | Q(sponsor__icontains=search)
        )
    if phase:
        rows = rows.filter(phase=phase)
    if owner:
        rows = rows.filter(owner__username=owner)
    return rows.order_by("title")


def known_teams(user) -> list[str]:
    """The teams of the use cases `user` sees, for the form's suggestions (a datalist)."""
    teams = UseCase.objects.visible_to(user).exclude(team="").values_list("team", flat=True)
    return sorted(set(teams.order_by()), key=str.casefold)


def my_use_cases(user, *, limit: int = 10) -> QuerySet:
    """The use cases `user` is a member of (Managers' view-all excluded), as list rows."""
    membership = UseCaseMember.objects.filter(use_case=OuterRef("pk"), user=user)
    return use_case_rows(user).filter(Exists(membership))[:limit]


def phase_counts(user) -> list[tuple[str, str, int]]:
    """(phase, label, count) for every phase in lifecycle order, zero included."""
    counts = dict(
        UseCase.objects.visible_to(user).values_list("phase").annotate(n=Count("pk")).order_by()
    )
    return [(value, label, counts.get(value, 0)) for value, label in UseCase.Phase.choices]


def use_case_history(use_case: UseCase) -> QuerySet:
    """The audit events of one use case, newest first (by id: the chain's order)."""
    return AuditEvent.objects.filter(use_case_id_ref=use_case.pk).order_by("-id")


def audit_events(user) -> QuerySet:
    """The audit events `user` may read, newest first: all of them for Managers and Admins
    (deleted use cases' and account events included), else those of the visible use cases."""
    events = AuditEvent.objects.order_by("-id")
    if can_view_audit_trail(user):
        return events
    visible = UseCase.objects.visible_to(user).values("pk")
    return events.filter(use_case_id_ref__in=visible)


# The audit CSV's columns, in order, and the AuditEvent field each one holds.
AUDIT_CSV_FIELDS = {
    "id": "id",
    "created_at": "created_at",
    "actor": "actor_name",
    "verb": "verb",
    "use_case": "use_case_slug",
    "target_type": "target_type",
    "target_id": "target_id",
    "target": "target_repr",
    "before": "before",  # JSON text, empty when there was nothing before (a creation)
    "after": "after",
    "hash": "hash",
    "previous_hash": "previous_hash",
}
AUDIT_COLUMNS = tuple(AUDIT_CSV_FIELDS)


def audit_csv_rows(events: QuerySet) -> Iterator[tuple]:
    """One tuple per event in AUDIT_COLUMNS' order, read in chunks (one query, bounded
    memory); portal.exports writes `before` and `after` as compact JSON."""
    yield from events.values_list(*AUDIT_CSV_FIELDS.values()).iterator(chunk_size=2000)


def keeps_access(member) -> str:
    """What a member would still read a use case as once removed: "an Admin", "a manager"
    (both see every use case), or "" (they lose access)."""
    if is_admin(member.user):
        return "an Admin"
    if is_manager(member.user):
        return "a manager"
    return ""


def known_segments(use_case) -> list[str]:
    """The segments seen in the use case's datasets and prediction logs, in natural order
    (the apps above answer usecases.events.segments_requested)."""
    seen: set[str] = set()
    for _receiver, segments in events.segments_requested.send(
        sender=UseCase, use_case_id=use_case.pk
    ):
        seen.update(s for s in segments or () if s)
    return sorted(seen, key=natural_key)


def segment_warning(segment: str, known: list[str]) -> str:
    """Why a KPI's segment may measure nothing: it matches no segment seen so far."""
    if not segment or segment in known:
        return ""
    if not known:
        return (
            f"No dataset or prediction log of this use case has segments yet: “{segment}” "
            "measures no rows until one does."
        )
    shown = ", ".join(f"“{s}”" for s in known[:8]) + (" …" if len(known) > 8 else "")
    return (
        f"“{segment}” matches no segment seen in the datasets or prediction logs so far "
        f"({shown}): it measures no rows until one appears. Check its spelling."
    )


# What a member loses with their role, for the removal's confirmation (the rights are
# usecases/permissions.py's; these are their words).
ROLE_LOSSES = {
    "owner": "no more say over its definition, members, phase and promotion policy.",
    "expert": "no more review campaigns or approvals as its domain expert, and no more edits "
    "of its definition.",
    "data_scientist": "no more versions, predictions, evaluations or promotion requests for it.",
    "viewer": "they no longer read it.",
}


def removal_consequence(member) -> str:
    return ROLE_LOSSES.get(member.role, "")
