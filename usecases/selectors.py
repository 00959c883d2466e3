"""Reads across models for one page or endpoint; every one starts from visible_to(user)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from usecases.models import AuditEvent, UseCase


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


def phase_counts(user) -> list[tuple[str, str, int]]:
    """(phase, label, count) for every phase in lifecycle order, zero included."""
    counts = dict(
        UseCase.objects.visible_to(user).values_list("phase").annotate(n=Count("pk")).order_by()
    )
    return [(value, label, counts.get(value, 0)) for value, label in UseCase.Phase.choices]


def use_case_history(use_case: UseCase) -> QuerySet:
    """The audit events of one use case, newest first (by id: the chain's order)."""
    return AuditEvent.objects.filter(use_case_id_ref=use_case.pk).order_by("-id")
