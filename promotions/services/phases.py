"""A use case's phase follows the evidence (DESIGN.md "Deployment stages and promotion").

The phase moves one step at a time, forward or back, each move with a note; Pilot needs a
version in shadow or canary, Production a version in production. An Admin may skip a step
or the evidence with a justification, which the audit log keeps. The steps and the audit
are usecases.services.usecases.change_phase's; this module adds what only the promotions
app knows, the versions' stages, and is the one entry point pages and the API call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from registry.models import ModelVersion
from usecases.models import UseCase
from usecases.services import usecases

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Phase = UseCase.Phase
Stage = ModelVersion.Stage

# The stages that bear a phase out. A version already in production is more than a pilot
# needs, so it counts for Pilot too (stepping back from Production keeps working).
EVIDENCE = {
    Phase.PILOT: (Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION),
    Phase.PRODUCTION: (Stage.PRODUCTION,),
}
NEEDS = {
    Phase.PILOT: "a version in shadow or canary",
    Phase.PRODUCTION: "a version in production",
}
# Below the evidence, furthest first: what the refusal names as the best there is.
SHORT_OF = (Stage.CANARY, Stage.SHADOW, Stage.REGISTERED)
NAMED = 3  # versions named in a refusal, at most
NOTE_LENGTH = 2000  # a note's or a justification's characters, at most (form and API)


def _versions_text(names: list[str], stage: str) -> str:
    """'version 1.2 is only registered', 'versions 1.3, 1.2 and others are only in shadow'."""
    where = "only registered" if stage == Stage.REGISTERED else f"only in {stage}"
    if len(names) == 1:
        return f"version {names[0]} is {where}"
    if len(names) > NAMED:
        return f"versions {', '.join(names[:NAMED])} and others are {where}"
    return f"versions {', '.join(names[:-1])} and {names[-1]} are {where}"


def missing_evidence(use_case: UseCase, phase: str) -> str | None:
    """What the use case's versions lack for `phase`, in words, or None if nothing (or if the
    phase needs no version)."""
    if phase not in EVIDENCE:
        return None
    versions = ModelVersion.objects.filter(use_case=use_case).order_by("-created_at", "-pk")
    return _missing(phase, list(versions.values_list("stage", "version")))


def next_phase(use_case: UseCase) -> str | None:
    """The next rung of the lifecycle's ladder; None in Production and Retired."""
    ladder = usecases.PHASE_LADDER
    if use_case.phase not in ladder or use_case.phase == ladder[-1]:
        return None
    return ladder[ladder.index(use_case.phase) + 1]


def blockers(use_cases: list[UseCase]) -> dict[int, str | None]:
    """For each use case (by id), what its versions lack for its next phase, as
    missing_evidence says it, or None: one query whatever the number of use cases."""
    wanted = {uc.pk: next_phase(uc) for uc in use_cases}
    needing = [pk for pk, phase in wanted.items() if phase in EVIDENCE]
    versions: dict[int, list[tuple[str, str]]] = {pk: [] for pk in needing}
    if needing:
        rows = ModelVersion.objects.filter(use_case_id__in=needing).order_by(
            "use_case_id", "-created_at", "-pk"
        )
        for use_case_id, stage, version in rows.values_list("use_case_id", "stage", "version"):
            versions[use_case_id].append((stage, version))
    return {pk: _missing(wanted[pk], versions[pk]) if pk in versions else None for pk in wanted}


def _missing(phase: str, versions: list[tuple[str, str]]) -> str | None:
    """missing_evidence from the use case's (stage, version) pairs, newest first."""
    stages = EVIDENCE.get(phase)
    if stages is None or any(stage in stages for stage, _ in versions):
        return None
    needs = f"Moving to {Phase(phase).label} needs {NEEDS[phase]}"
    for stage in SHORT_OF:
        names = [version for s, version in versions if s == stage][: NAMED + 1]
        if names:
            it = "it" if len(names) == 1 else "one"
            return f"{needs}; {_versions_text(names, stage)}. Promote {it} first."
    if versions:
        return f"{needs}; every version is archived. Register a new one and promote it first."
    return f"{needs}; the use case has no version yet. Register one and promote it first."


@transaction.atomic
def change_phase(
    use_case: UseCase, *, by: User, phase: str, note: str, skip_justification: str = ""
) -> UseCase:
    """Move the use case's phase one step, with a note, when its versions bear the new phase
    out; an Admin may skip either rule with a justification (audited).

    The evidence is read under the use case's row lock, which executing a promotion or a
    rollback takes first too (promotions/services/execution.py): no version changes stage
    between the check and the move.
    """
    fresh = usecases.lock(use_case)  # use case first, as every promotions service
    return usecases.change_phase(
        fresh,
        by=by,
        phase=phase,
        note=note,
        skip_justification=skip_justification,
        requirement=missing_evidence,
    )


def check_move(
    use_case: UseCase, *, by: User, phase: str, note: str, skip_justification: str = ""
) -> dict:
    """change_phase's refusals without moving (read as it stands: the move checks again
    under the lock); else what the move means (consequences())."""
    usecases.check_phase_move(
        use_case,
        by=by,
        phase=phase,
        note=note,
        skip_justification=skip_justification,
        requirement=missing_evidence,
    )
    return consequences(use_case, phase)


def consequences(use_case: UseCase, phase: str) -> dict:
    """What moving `use_case` to `phase` means, for the page that asks to confirm it:
    {"from", "to", "direction" (forward, back, retire, return), "points": [sentences]}.
    Whether the move is allowed is change_phase's to say."""
    current, target = UseCase.Phase(use_case.phase), UseCase.Phase(phase)
    ladder = list(usecases.PHASE_LADDER)
    if target == UseCase.Phase.RETIRED:
        direction = "retire"
    elif current == UseCase.Phase.RETIRED:
        direction = "return"
    else:
        direction = "forward" if ladder.index(target) > ladder.index(current) else "back"
    points = [
        f"The roadmap shows it under {target.label} from now on; the move and your note are "
        "kept in its history."
    ]
    if direction == "retire":
        points.append(
            "Its versions stay in the stages they are in: retiring does not stop serving. "
            "Roll back or archive them on the Promotions page if they should stop."
        )
        points.append("A retired use case may only return to the phase it left, or start over.")
    elif direction == "back":
        points.append(
            f"A step back: it leaves {current.label}. Its versions and their stages do not change."
        )
    elif target == UseCase.Phase.PRODUCTION:
        points.append("It counts among the use cases in production in the portfolio.")
    return {"from": current.label, "to": target.label, "direction": direction, "points": points}
