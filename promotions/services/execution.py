"""Moving versions between stages: executing an approved promotion, and rolling back.

Both run in the caller's transaction after locking the use case row and then every version
of the use case (its "stage rows"), in id order: two executions on one use case happen one
after the other, and the partial unique indexes on ModelVersion (one production, one canary)
are the backstop. The previous holder of the target stage is archived first, then the
version moves, so the indexes hold at every statement.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from portal.errors import InvalidInput
from promotions.models import Gate, PromotionRequest, StageChange
from promotions.services import events, gates, policy
from promotions.services.errors import PromotionError
from registry.models import ModelVersion
from registry.selectors import reference_dataset
from usecases.models import UseCase
from usecases.services import audit

Stage = ModelVersion.Stage
Status = PromotionRequest.Status
SINGLE_HOLDER = (Stage.CANARY, Stage.PRODUCTION)


def lock_use_case(use_case: UseCase | int) -> UseCase:
    """The use case row locked FOR NO KEY UPDATE: it serialises promotions on the use case
    like usecases' lock(), but lets another transaction insert a row pointing at the use case
    meanwhile (a notification, whose foreign-key check takes KEY SHARE): with FOR UPDATE, a
    notification written after one approval committed, holding KEY SHARE on the request,
    and the next approval, holding the use case and waiting for the request, deadlocked."""
    pk = use_case if isinstance(use_case, int) else use_case.pk
    return UseCase.objects.select_for_update(no_key=True).get(pk=pk)


def lock_stage_rows(use_case: UseCase, *, use_case_locked: bool = False) -> dict[int, ModelVersion]:
    """Lock the use case (unless the caller did), then its versions in id order; {id:
    version}, fresh."""
    if not use_case_locked:
        lock_use_case(use_case)
    versions = (
        ModelVersion.objects.select_for_update(no_key=True).filter(use_case=use_case).order_by("pk")
    )
    return {version.pk: version for version in versions}


def move(
    version: ModelVersion,
    to_stage: str,
    *,
    by,
    traffic_percent: int | None = None,
    request: PromotionRequest | None = None,
    is_rollback: bool = False,
    reason: str = "",
) -> StageChange:
    """Set the version's stage, and record the change (history and audit trail)."""
    now = timezone.now()
    change = StageChange.objects.create(
        use_case_id=version.use_case_id,
        model_version=version,
        from_stage=version.stage,
        to_stage=to_stage,
        traffic_percent=traffic_percent,
        request=request,
        is_rollback=is_rollback,
        reason=reason,
        changed_by=by,
        changed_at=now,
    )
    before = {"stage": version.stage, "traffic_percent": version.traffic_percent}
    version.stage = to_stage
    version.traffic_percent = traffic_percent
    version.stage_changed_at = now
    version.save(update_fields=["stage", "traffic_percent", "stage_changed_at"])
    audit.record(
        actor=by,
        verb="version.stage_changed",
        target=version,
        use_case=version.use_case,
        before=before,
        after={
            "stage": to_stage,
            "traffic_percent": traffic_percent,
            "request": request.pk if request else None,
            "rollback": is_rollback,
            "reason": reason,
        },
    )
    return change


def _holder(versions: dict[int, ModelVersion], stage: str, but: int) -> ModelVersion | None:
    return next((v for v in versions.values() if v.stage == stage and v.pk != but), None)


def _refusal(request: PromotionRequest, version: ModelVersion) -> str:
    """Why the request may not execute now, or "" if it may."""
    if version.stage != request.from_stage:
        return (
            f"Version {version.version} is in {version.get_stage_display().lower()} now, "
            f"not {Stage(request.from_stage).label.lower()} as when the request opened."
        )
    moved = _evidence_moved(request)
    if moved:
        return f"{moved} while the request waited: open a new request."
    results = gates.measure(version, request.target_stage, policy.policy_for(request.use_case))
    uncovered = [result for result in results if not _overridden(request, result)]
    if uncovered:
        reasons = "; ".join(f"{result.kind}: {result.summary}" for result in uncovered)
        return f"The gates are not all passed at execution ({reasons})"
    return ""


def _overridden(request: PromotionRequest, result: gates.GateResult) -> bool:
    """Whether the gate may stand as it is: passed, or red as it was when the manager
    overrode it (a gate passed then, or incomplete then and failed now, was never justified)."""
    if result.passed:
        return True
    if request.overridden_by_id is None:
        return False
    was = next((g.status for g in request.gates.all() if g.kind == result.kind), None)
    if was == Gate.Status.INCOMPLETE:
        return result.status == Gate.Status.INCOMPLETE
    return was == Gate.Status.FAILED


def _evidence_moved(request: PromotionRequest) -> str:
    """What changed under the request since it opened that would measure it on other terms:
    the reference dataset, or the gating KPIs (edited, added or removed)."""
    use_case = request.use_case
    snapshot = next((g for g in request.gates.all() if g.kind == Gate.Kind.EVALUATION), None)
    opened_on = (snapshot.detail or {}).get("dataset") if snapshot else None
    reference = reference_dataset(use_case)
    if opened_on is not None and (reference is None or reference.pk != opened_on):
        return "The reference dataset changed"
    gating = use_case.kpis.filter(is_gating=True)
    measured = (
        {kpi["kpi"] for kpi in (snapshot.detail or {}).get("kpis", [])} if snapshot else set()
    )
    if measured and set(gating.values_list("pk", flat=True)) != measured:
        return "The gating KPIs changed"
    if use_case.kpis.filter(updated_at__gt=request.created_at).exists():
        return "A KPI changed"
    return ""


def execute(request: PromotionRequest, *, by, use_case_locked: bool = False) -> PromotionRequest:
    """Execute the fully approved request, or refuse it with the reason; in the caller's
    transaction, the request row already locked (requests.approve)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("execute() must run inside the approval's transaction")
    versions = lock_stage_rows(request.use_case, use_case_locked=use_case_locked)
    version = versions[request.model_version_id]
    version.use_case = request.use_case
    request.decided_at = timezone.now()
    refusal = _refusal(request, version)
    if refusal:
        request.status = Status.REFUSED
        request.outcome_note = refusal
        request.save(update_fields=["status", "decided_at", "outcome_note"])
        audit.record(
            actor=by,
            verb="promotion.refused",
            target=request,
            use_case=request.use_case,
            after={"reason": refusal},
        )
        transaction.on_commit(lambda: events.request_decided(request.pk))
        return request
    changes = []
    if request.target_stage in SINGLE_HOLDER:
        previous = _holder(versions, request.target_stage, but=version.pk)
        if previous is not None:
            previous.use_case = request.use_case
            note = f"Replaced by version {version.version} (request #{request.pk})."
            changes.append(move(previous, Stage.ARCHIVED, by=by, request=request, reason=note))
    changes.append(
        move(
            version,
            request.target_stage,
            by=by,
            traffic_percent=request.traffic_percent,
            request=request,
        )
    )
    request.status = Status.EXECUTED
    request.save(update_fields=["status", "decided_at"])
    audit.record(
        actor=by,
        verb="promotion.executed",
        target=request,
        use_case=request.use_case,
        after={"stage_changes": [change.pk for change in changes]},
    )
    _after_commit(request.use_case_id, changes, request.pk)
    return request


def _after_commit(use_case_id: int, changes: list[StageChange], request_id: int | None) -> None:
    ids = [change.pk for change in changes]
    transaction.on_commit(lambda: events.stages_changed(use_case_id, ids))
    if request_id is not None:
        transaction.on_commit(lambda: events.request_decided(request_id))


def previous_production(use_case: UseCase, current: ModelVersion | None) -> ModelVersion | None:
    """The version that held production before the current one (archived since), if any."""
    changes = StageChange.objects.filter(
        use_case=use_case, from_stage=Stage.PRODUCTION, to_stage=Stage.ARCHIVED
    ).select_related("model_version")
    if current is not None:
        changes = changes.exclude(model_version=current)
    for change in changes.order_by("-changed_at", "-pk"):
        if change.model_version.stage == Stage.ARCHIVED:
            return change.model_version
    return None


@audit.atomic
def rollback(use_case: UseCase, *, by, reason: str) -> ModelVersion:
    """Return the previous production version to production; the current one is archived."""
    if not reason.strip():
        raise InvalidInput("Say why you roll back: the audit trail keeps it.", field="reason")
    versions = lock_stage_rows(use_case)
    current = _holder(versions, Stage.PRODUCTION, but=0)
    previous = previous_production(use_case, current)
    if previous is None:
        raise PromotionError("No earlier production version to return to.")
    previous = versions[previous.pk]
    note = reason.strip()
    changes = []
    for version in (current, previous):
        if version is not None:
            version.use_case = use_case
    if current is not None:
        changes.append(move(current, Stage.ARCHIVED, by=by, is_rollback=True, reason=note))
    changes.append(move(previous, Stage.PRODUCTION, by=by, is_rollback=True, reason=note))
    audit.record(
        actor=by,
        verb="deployment.rolled_back",
        target=previous,
        use_case=use_case,
        before={"production": current.version if current else None},
        after={"production": previous.version, "reason": note},
    )
    _after_commit(use_case.pk, changes, None)
    return previous
