"""Writes to a use case and its members; each is one transaction with its audit event."""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from portal.errors import InvalidInput
from usecases import tasks
from usecases.models import Role, UseCase, UseCaseMember
from usecases.services import audit, validation
from usecases.services.errors import MembershipError, PhaseError

if TYPE_CHECKING:
    import datetime
    from decimal import Decimal

    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class Unchanged(enum.Enum):
    """The type of UNCHANGED, so update signatures can say `str | Unchanged`."""

    UNCHANGED = "unchanged"


# An update's default for every field: "leave it as it is" (None is a value, e.g. no date).
UNCHANGED = Unchanged.UNCHANGED


def given(**values) -> dict:
    """The keyword arguments an update was given: those left at UNCHANGED are dropped."""
    return {name: value for name, value in values.items() if value is not UNCHANGED}


# Words that are page names under /usecases/, so never a use case's slug.
RESERVED_SLUGS = frozenset({"new"})


def unique_slug(title: str) -> str:
    """A slug from the title, suffixed -2, -3… when taken or reserved."""
    base = slugify(title)[:70] or "use-case"
    slug, n = base, 1
    while slug in RESERVED_SLUGS or UseCase.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def lock(use_case: UseCase) -> UseCase:
    """Lock the use case row (always the first lock taken) and return it fresh."""
    return UseCase.objects.select_for_update().get(pk=use_case.pk)


def apply_changes(instance, changes: dict) -> tuple[dict, dict]:
    """Set the changed attributes; (before, after) snapshots of just those, for the audit."""
    before, after = {}, {}
    for name, value in changes.items():
        old = getattr(instance, name)
        if old != value:
            before[name] = audit.to_json_value(old)
            after[name] = audit.to_json_value(value)
            setattr(instance, name, value)
    return before, after


@transaction.atomic
def create_use_case(
    *,
    by: User,
    title: str,
    task_type: str,
    slug: str = "",
    phase: str = UseCase.Phase.IDEA,
    problem_statement: str = "",
    decision_supported: str = "",
    owner: User | None = None,
    sponsor: str = "",
    priority: str = UseCase.Priority.MEDIUM,
    risk_tier: str = UseCase.RiskTier.LOW,
    expected_value_per_year: Decimal | None = None,
    effort_person_days: int | None = None,
    start_date: datetime.date | None = None,
    target_date: datetime.date | None = None,
    target_definition: str = "",
    decision_threshold: float = 0.5,
    feature_schema: list[dict] | None = None,
) -> UseCase:
    """Create a use case owned by `owner` (default: `by`), who becomes its owner member."""
    feature_schema = validation.check_feature_schema(feature_schema or [])
    validation.check_dates(start_date, target_date)
    slug = slug or unique_slug(title)
    if slug in RESERVED_SLUGS or UseCase.objects.filter(slug=slug).exists():
        raise InvalidInput(f"The slug “{slug}” is taken; choose another.")
    use_case = UseCase.objects.create(
        slug=slug,
        phase=phase,
        title=title,
        problem_statement=problem_statement,
        decision_supported=decision_supported,
        owner=by if owner is None else owner,
        sponsor=sponsor,
        priority=priority,
        risk_tier=risk_tier,
        expected_value_per_year=expected_value_per_year,
        effort_person_days=effort_person_days,
        start_date=start_date,
        target_date=target_date,
        task_type=task_type,
        target_definition=target_definition,
        decision_threshold=decision_threshold,
        feature_schema=feature_schema,
    )
    UseCaseMember.objects.create(use_case=use_case, user=use_case.owner, role=Role.OWNER)
    audit.record(actor=by, verb="usecase.created", target=use_case, after=audit.snapshot(use_case))
    if use_case.owner != by:  # the creator keeps access to what they created
        UseCaseMember.objects.create(use_case=use_case, user=by, role=Role.OWNER)
    logger.info("use case %s created by %s", use_case.pk, by.pk)
    return use_case


@transaction.atomic
def update_use_case(
    use_case: UseCase,
    *,
    by: User,
    title: str | Unchanged = UNCHANGED,
    problem_statement: str | Unchanged = UNCHANGED,
    decision_supported: str | Unchanged = UNCHANGED,
    owner: User | Unchanged = UNCHANGED,
    sponsor: str | Unchanged = UNCHANGED,
    priority: str | Unchanged = UNCHANGED,
    risk_tier: str | Unchanged = UNCHANGED,
    expected_value_per_year: Decimal | None | Unchanged = UNCHANGED,
    effort_person_days: int | None | Unchanged = UNCHANGED,
    start_date: datetime.date | None | Unchanged = UNCHANGED,
    target_date: datetime.date | None | Unchanged = UNCHANGED,
    task_type: str | Unchanged = UNCHANGED,
    target_definition: str | Unchanged = UNCHANGED,
    feature_schema: list[dict] | Unchanged = UNCHANGED,
    decision_threshold: float | Unchanged = UNCHANGED,
) -> UseCase:
    """Change the given definition fields (the others stay); a new owner becomes an owner
    member."""
    changes = given(
        title=title,
        problem_statement=problem_statement,
        decision_supported=decision_supported,
        owner=owner,
        sponsor=sponsor,
        priority=priority,
        risk_tier=risk_tier,
        expected_value_per_year=expected_value_per_year,
        effort_person_days=effort_person_days,
        start_date=start_date,
        target_date=target_date,
        task_type=task_type,
        target_definition=target_definition,
        feature_schema=feature_schema,
        decision_threshold=decision_threshold,
    )
    fresh = lock(use_case)
    if "feature_schema" in changes:
        changes["feature_schema"] = validation.check_feature_schema(changes["feature_schema"])
    validation.check_dates(
        changes.get("start_date", fresh.start_date), changes.get("target_date", fresh.target_date)
    )
    if "task_type" in changes and changes["task_type"] != fresh.task_type and fresh.kpis.exists():
        raise InvalidInput(
            "Remove the KPIs before changing the task type: their metrics depend on it."
        )
    before, after = apply_changes(fresh, changes)
    if not after:
        return fresh
    fresh.save()
    if "owner" in after:
        _ensure_owner_member(fresh, fresh.owner)
    audit.record(actor=by, verb="usecase.updated", target=fresh, before=before, after=after)
    return fresh


def _ensure_owner_member(use_case: UseCase, user) -> None:
    member, created = UseCaseMember.objects.get_or_create(
        use_case=use_case, user=user, defaults={"role": Role.OWNER}
    )
    if not created and member.role != Role.OWNER:
        member.role = Role.OWNER
        member.save(update_fields=["role"])


@transaction.atomic
def change_phase(use_case: UseCase, *, by: User, phase: str, note: str = "") -> UseCase:
    """Move the use case to `phase` (any phase; moving is a decision, recorded with its note)."""
    if phase not in UseCase.Phase.values:
        raise InvalidInput(f"“{phase}” is not a phase.")
    fresh = lock(use_case)
    if fresh.phase == phase:
        raise PhaseError(f"The use case is already in {fresh.get_phase_display()}.")
    before = {"phase": fresh.phase}
    fresh.phase = phase
    fresh.save(update_fields=["phase", "updated_at"])
    after = {"phase": phase, "note": note} if note else {"phase": phase}
    audit.record(actor=by, verb="usecase.phase_changed", target=fresh, before=before, after=after)
    return fresh


@transaction.atomic
def delete_use_case(use_case: UseCase, *, by: User) -> None:
    """Delete the use case and what hangs off it; its audit history stays."""
    fresh = lock(use_case)
    audit.record(actor=by, verb="usecase.deleted", target=fresh, before=audit.snapshot(fresh))
    fresh.delete()


@transaction.atomic
def add_member(use_case: UseCase, *, by: User, user, role: str) -> UseCaseMember:
    """Give `user` a role on the use case; one membership per user."""
    fresh = lock(use_case)
    if role not in Role.values:
        raise InvalidInput(f"“{role}” is not a role.")
    if not user.is_active:
        raise MembershipError(f"{user.get_username()} is deactivated.")
    try:
        with transaction.atomic():
            member = UseCaseMember.objects.create(use_case=fresh, user=user, role=role)
    except IntegrityError:
        raise MembershipError(f"{user.get_username()} is already a member.") from None
    audit.record(
        actor=by,
        verb="member.added",
        target=member,
        use_case=fresh,
        after={"user": user.get_username(), "role": role},
    )
    tasks.send_welcome_task.delay_on_commit(member.pk)
    return member


def _check_keeps_an_owner(member: UseCaseMember) -> None:
    if member.user_id == member.use_case.owner_id:
        raise MembershipError(
            f"{member.user.get_username()} is the use case's accountable "
            "owner: name another owner in the use case's details first."
        )
    if (
        member.role == Role.OWNER
        and not member.use_case.members.filter(role=Role.OWNER).exclude(pk=member.pk).exists()
    ):
        raise MembershipError("A use case needs at least one owner: add another owner first.")


@transaction.atomic
def change_member_role(member: UseCaseMember, *, by: User, role: str) -> UseCaseMember:
    """Change a member's role; the last owner cannot stop being one."""
    if role not in Role.values:
        raise InvalidInput(f"“{role}” is not a role.")
    lock(member.use_case)
    member = UseCaseMember.objects.select_related("user", "use_case").get(pk=member.pk)
    if member.role == role:
        return member
    if role != Role.OWNER:
        _check_keeps_an_owner(member)
    before = {"user": member.user.get_username(), "role": member.role}
    member.role = role
    member.save(update_fields=["role"])
    audit.record(
        actor=by,
        verb="member.role_changed",
        target=member,
        use_case=member.use_case,
        before=before,
        after={"user": member.user.get_username(), "role": role},
    )
    return member


@transaction.atomic
def remove_member(member: UseCaseMember, *, by: User) -> None:
    """Remove a membership; the last owner cannot be removed."""
    lock(member.use_case)
    member = UseCaseMember.objects.select_related("user", "use_case").get(pk=member.pk)
    _check_keeps_an_owner(member)
    audit.record(
        actor=by,
        verb="member.removed",
        target=member,
        use_case=member.use_case,
        before={"user": member.user.get_username(), "role": member.role},
    )
    member.delete()
