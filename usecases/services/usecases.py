"""Writes to a use case and its members; each is one transaction with its audit event."""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from portal.errors import InvalidInput
from usecases import events, tasks
from usecases.models import AuditEvent, Milestone, Role, UseCase, UseCaseMember
from usecases.permissions import is_admin
from usecases.services import audit, validation
from usecases.services.errors import MembershipError, PhaseError

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable
    from decimal import Decimal

    from django.contrib.auth.models import User

    # A caller's condition on the target phase: the refusal in words, or None when it is met.
    PhaseRequirement = Callable[[UseCase, str], str | None]

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
    expected_value_currency: str = "EUR",
    effort_person_days: int | None = None,
    team: str = "",
    start_date: datetime.date | None = None,
    target_date: datetime.date | None = None,
    milestones: list[dict] | None = None,
    target_definition: str = "",
    decision_threshold: float = 0.5,
    positive_label: str = "",
    negative_label: str = "",
    class_names: dict[str, str] | None = None,
    feature_schema: list[dict] | None = None,
) -> UseCase:
    """Create a use case owned by `owner` (default: `by`), who becomes its owner member."""
    feature_schema = validation.check_feature_schema(feature_schema or [])
    validation.check_dates(start_date, target_date)
    milestones = validation.check_milestones(
        milestones or [], start_date=start_date, target_date=target_date
    )
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
        expected_value_currency=validation.check_currency(expected_value_currency),
        effort_person_days=effort_person_days,
        team=validation.check_team(team),
        start_date=start_date,
        target_date=target_date,
        task_type=task_type,
        target_definition=target_definition,
        decision_threshold=decision_threshold,
        positive_label=positive_label.strip(),
        negative_label=negative_label.strip(),
        class_names=validation.check_class_names(class_names or {}),
        feature_schema=feature_schema,
    )
    UseCaseMember.objects.create(use_case=use_case, user=use_case.owner, role=Role.OWNER)
    Milestone.objects.bulk_create(Milestone(use_case=use_case, **m) for m in milestones)
    after = audit.snapshot(use_case)
    if milestones:
        after["milestones"] = _milestones_json(milestones)
    audit.record(actor=by, verb="usecase.created", target=use_case, after=after)
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
    expected_value_currency: str | Unchanged = UNCHANGED,
    effort_person_days: int | None | Unchanged = UNCHANGED,
    team: str | Unchanged = UNCHANGED,
    start_date: datetime.date | None | Unchanged = UNCHANGED,
    target_date: datetime.date | None | Unchanged = UNCHANGED,
    milestones: list[dict] | Unchanged = UNCHANGED,
    task_type: str | Unchanged = UNCHANGED,
    target_definition: str | Unchanged = UNCHANGED,
    feature_schema: list[dict] | Unchanged = UNCHANGED,
    decision_threshold: float | Unchanged = UNCHANGED,
    positive_label: str | Unchanged = UNCHANGED,
    negative_label: str | Unchanged = UNCHANGED,
    class_names: dict[str, str] | Unchanged = UNCHANGED,
) -> UseCase:
    """Change the given definition fields (the others stay); a new owner becomes an owner
    member; `milestones` replaces the whole list (audited as one change). A new decision
    threshold (or task type) has the stored predictions' distances to the threshold
    recomputed once committed (usecases.events.threshold_changed)."""
    changes = given(
        title=title,
        problem_statement=problem_statement,
        decision_supported=decision_supported,
        owner=owner,
        sponsor=sponsor,
        priority=priority,
        risk_tier=risk_tier,
        expected_value_per_year=expected_value_per_year,
        expected_value_currency=expected_value_currency,
        effort_person_days=effort_person_days,
        team=team,
        start_date=start_date,
        target_date=target_date,
        milestones=milestones,
        task_type=task_type,
        target_definition=target_definition,
        feature_schema=feature_schema,
        decision_threshold=decision_threshold,
        positive_label=positive_label,
        negative_label=negative_label,
        class_names=class_names,
    )
    new_milestones = changes.pop("milestones", None)
    fresh = lock(use_case)
    if "expected_value_currency" in changes:
        changes["expected_value_currency"] = validation.check_currency(
            changes["expected_value_currency"]
        )
    if "team" in changes:
        changes["team"] = validation.check_team(changes["team"])
    if "class_names" in changes:
        changes["class_names"] = validation.check_class_names(changes["class_names"])
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
    if new_milestones is not None:
        _replace_milestones(fresh, _within_plan(fresh, new_milestones), before, after)
    elif {"start_date", "target_date"} & set(after):
        _stored_within_plan(fresh, moved=[d for d in ("start_date", "target_date") if d in after])
    if not after:
        return fresh
    fresh.save()
    if "owner" in after:
        _ensure_owner_member(fresh, fresh.owner)
    if {"decision_threshold", "task_type"} & set(after):
        use_case_id = fresh.pk
        transaction.on_commit(
            lambda: events.threshold_changed.send(sender=UseCase, use_case_id=use_case_id)
        )
    audit.record(actor=by, verb="usecase.updated", target=fresh, before=before, after=after)
    return fresh


def _milestones_json(milestones) -> list[dict]:
    """Milestones (rows or dicts) as the audit keeps them."""
    fields = ("name", "due_date", "done_at")
    return [
        {f: audit.to_json_value(m[f] if isinstance(m, dict) else getattr(m, f)) for f in fields}
        for m in milestones
    ]


def _within_plan(use_case: UseCase, milestones: list[dict]) -> list[dict]:
    """The milestones checked against the dates as they stand after the change."""
    return validation.check_milestones(
        milestones, start_date=use_case.start_date, target_date=use_case.target_date
    )


def _stored_within_plan(use_case: UseCase, *, moved: list[str]) -> None:
    """The stored milestones still within the plan once its dates moved (the same rule as
    _within_plan): otherwise every later save of the form would fail on them."""
    for milestone in use_case.milestones.order_by("due_date", "name", "pk"):
        problem = validation.milestone_date_problem(
            milestone.due_date, start_date=use_case.start_date, target_date=use_case.target_date
        )
        if problem:
            raise InvalidInput(
                f"The milestone “{milestone.name}” is due on {milestone.due_date:%d %b %Y}: "
                f"{problem}",
                field=moved[-1],
            )


def _replace_milestones(use_case: UseCase, milestones: list[dict], before, after) -> None:
    """Replace the use case's milestones when the list differs; noted in before/after."""
    old = _milestones_json(use_case.milestones.order_by("due_date", "name", "pk"))
    new = _milestones_json(milestones)
    if old == new:
        return
    use_case.milestones.all().delete()
    Milestone.objects.bulk_create(Milestone(use_case=use_case, **m) for m in milestones)
    before["milestones"], after["milestones"] = old, new


def _ensure_owner_member(use_case: UseCase, user) -> None:
    member, created = UseCaseMember.objects.get_or_create(
        use_case=use_case, user=user, defaults={"role": Role.OWNER}
    )
    if not created and member.role != Role.OWNER:
        member.role = Role.OWNER
        member.save(update_fields=["role"])


# The lifecycle's ladder (DESIGN.md): a use case moves along it one step at a time, forward
# or back. Retired is off the ladder: any phase may retire (a decision, with its note), and a
# retired use case returns only to the phase it was retired from, or starts over at Idea.
Phase = UseCase.Phase
PHASE_LADDER = (Phase.IDEA, Phase.SCOPING, Phase.DATA, Phase.POC, Phase.PILOT, Phase.PRODUCTION)


def _or_list(phases: list[str]) -> str:
    labels = [Phase(phase).label for phase in phases]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


def retired_from(use_case: UseCase) -> str | None:
    """The phase the use case left when it was last retired, from its audit trail (None when
    no phase change retired it: created retired, say)."""
    before = (
        AuditEvent.objects.filter(
            use_case_id_ref=use_case.pk, verb="usecase.phase_changed", after__phase=Phase.RETIRED
        )
        .order_by("-id")
        .values_list("before", flat=True)
        .first()
    )
    phase = (before or {}).get("phase")
    return phase if phase in PHASE_LADDER else None


def phase_steps(use_case: UseCase) -> list[str]:
    """The phases the use case may move to without skipping a step (ladder order, then
    Retired)."""
    if use_case.phase == Phase.RETIRED:
        back = {Phase.IDEA, retired_from(use_case)}
        return [phase for phase in PHASE_LADDER if phase in back]
    i = PHASE_LADDER.index(use_case.phase)
    return [*PHASE_LADDER[max(i - 1, 0) : i], *PHASE_LADDER[i + 1 : i + 2], Phase.RETIRED]


def _step_refusal(use_case: UseCase, phase: str) -> str | None:
    """Why moving to `phase` skips a step, or None if it does not."""
    steps = phase_steps(use_case)
    if phase in steps:
        return None
    target = Phase(phase).label
    if use_case.phase == Phase.RETIRED:
        return (
            "A retired use case returns to the phase it was retired from or starts over: "
            f"it may move to {_or_list(steps)}, not to {target}."
        )
    return (
        f"A use case moves one step at a time: from {use_case.get_phase_display()} it may "
        f"move to {_or_list(steps)}, not to {target}."
    )


def _check_may_skip(by: User, refusals: list[str], justification: str) -> None:
    """Only an Admin skips what the lifecycle asks, and only with a written justification."""
    refused = " ".join(refusals)
    if not is_admin(by):
        raise PhaseError(f"{refused} Only an Admin may skip it." if justification else refused)
    if not justification:
        raise InvalidInput(
            f"{refused} As an Admin you may skip this with a justification, which the audit "
            "log keeps.",
            field="skip_justification",
        )


@transaction.atomic
def change_phase(
    use_case: UseCase,
    *,
    by: User,
    phase: str,
    note: str,
    skip_justification: str = "",
    requirement: PhaseRequirement | None = None,
) -> UseCase:
    """Move the use case one step along its lifecycle, with a note, once `requirement` (the
    caller's condition on the target phase: the versions it needs, from promotions) is met.

    An Admin may skip steps or an unmet requirement with a justification; the audit event
    keeps it beside what was skipped (a justification for a move that skips nothing is not
    recorded). The entry point is promotions.services.phases.change_phase, which supplies
    the requirement; without one, only the steps are checked.
    """
    fresh = lock(use_case)  # the requirement reads under it (promotions take it first too)
    note, skip_justification, refusals = check_phase_move(
        fresh,
        by=by,
        phase=phase,
        note=note,
        skip_justification=skip_justification,
        requirement=requirement,
    )
    before = {"phase": fresh.phase}
    fresh.phase = phase
    fresh.phase_changed_at = timezone.now()  # the roadmap's days in phase count from here
    fresh.save(update_fields=["phase", "phase_changed_at", "updated_at"])
    after = {"phase": phase, "note": note}
    if refusals:
        after |= {"skip_justification": skip_justification, "skipped": " ".join(refusals)}
    audit.record(actor=by, verb="usecase.phase_changed", target=fresh, before=before, after=after)
    logger.info("use case %s moved to %s by %s", fresh.pk, phase, by.pk)
    return fresh


def check_phase_move(
    use_case: UseCase,
    *,
    by: User,
    phase: str,
    note: str,
    skip_justification: str = "",
    requirement: PhaseRequirement | None = None,
) -> tuple[str, str, list[str]]:
    """Whether the move may happen, raising change_phase's refusals; writes nothing (a page
    asks before moving with it). The note and justification stripped, and the rules an
    Admin's justification skips."""
    if phase not in Phase.values:
        raise InvalidInput(f"“{phase}” is not a phase.", field="phase")
    note, skip_justification = note.strip(), skip_justification.strip()
    if not note:
        raise InvalidInput(
            "Say why the use case moves: the note is kept in its history.", field="note"
        )
    if use_case.phase == phase:
        raise PhaseError(f"The use case is already in {use_case.get_phase_display()}.")
    checks = (
        _step_refusal(use_case, phase),
        requirement(use_case, phase) if requirement else None,
    )
    refusals = [refusal for refusal in checks if refusal]
    if refusals:
        _check_may_skip(by, refusals, skip_justification)
    return note, skip_justification, refusals


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
