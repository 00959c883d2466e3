"""Opening and deciding promotion requests (DESIGN.md "Deployment stages and promotion").

Every step locks the use case row first (the project's lock order, usecases.services), then
the request: two decisions at once are taken one after the other, and the last approval
executes the promotion in the same transaction (execution.py).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from portal.errors import InvalidFields, InvalidInput
from promotions.models import (
    CANARY_MAX_PERCENT,
    CANARY_MIN_PERCENT,
    LADDER,
    Decision,
    Gate,
    PromotionRequest,
)
from promotions.services import events, execution, gates, policy
from promotions.services.errors import NotAllowed, PromotionError
from registry.models import ModelVersion
from usecases.models import UseCase
from usecases.permissions import Action, can
from usecases.services import audit

Stage = ModelVersion.Stage
Status = PromotionRequest.Status


def allowed_targets(stage: str) -> tuple[str, ...]:
    """Where a version in `stage` may be promoted: one step up; shadow may skip canary."""
    if stage not in LADDER or stage == Stage.PRODUCTION:
        return ()
    if stage == Stage.SHADOW:
        return (Stage.CANARY, Stage.PRODUCTION)
    return (LADDER[LADDER.index(stage) + 1],)


def _check_input(
    version: ModelVersion, target_stage: str, traffic_percent: int | None, rationale: str
) -> None:
    errors = []
    targets = allowed_targets(version.stage)
    if target_stage not in targets:
        label = version.get_stage_display().lower()
        if not targets:
            message = f"A version in {label} cannot be promoted."
        else:
            names = " or ".join(Stage(t).label.lower() for t in targets)
            message = f"A version in {label} may only be promoted to {names}."
        errors.append(InvalidInput(message, field="target_stage"))
    if target_stage == Stage.CANARY:
        if traffic_percent is None or not (
            CANARY_MIN_PERCENT <= traffic_percent <= CANARY_MAX_PERCENT
        ):
            message = f"A canary takes {CANARY_MIN_PERCENT}–{CANARY_MAX_PERCENT} % of traffic."
            errors.append(InvalidInput(message, field="traffic_percent"))
    elif traffic_percent is not None:
        message = "Only a canary takes a traffic percent; leave it empty."
        errors.append(InvalidInput(message, field="traffic_percent"))
    if not rationale.strip():
        errors.append(InvalidInput("Say why this version should be promoted.", field="rationale"))
    if errors:
        raise InvalidFields(errors)


def store_gates(request: PromotionRequest, results: list[gates.GateResult]) -> None:
    Gate.objects.bulk_create(
        Gate(
            request=request,
            kind=result.kind,
            status=result.status,
            summary=result.summary[:300],
            detail=result.detail,
            evaluation=result.evaluation,
            campaign=result.campaign,
        )
        for result in results
    )


def gate_statuses(results) -> dict[str, str]:
    return {str(result.kind): str(result.status) for result in results}


@audit.atomic
def open_request(
    use_case: UseCase,
    *,
    by,
    version: ModelVersion,
    target_stage: str,
    traffic_percent: int | None = None,
    rationale: str = "",
) -> PromotionRequest:
    """Open a request with its gates measured now (their snapshot keeps the evidence)."""
    use_case = execution.lock_use_case(use_case)
    if version.use_case_id != use_case.pk:
        raise InvalidInput("This version belongs to another use case.", field="version")
    version = ModelVersion.objects.get(pk=version.pk)  # its stage as of the lock
    _check_input(version, target_stage, traffic_percent, rationale)
    rules = policy.policy_for(use_case)
    request = PromotionRequest(
        use_case=use_case,
        model_version=version,
        from_stage=version.stage,
        target_stage=target_stage,
        traffic_percent=traffic_percent,
        rationale=rationale.strip(),
        requested_by=by,
        required_approvals=policy.required_approvals(use_case, rules),
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        raise PromotionError(
            f"Version {version.version} already has a request waiting for approval.",
            field="version",
        ) from None
    results = gates.measure(version, target_stage, rules)
    store_gates(request, results)
    audit.record(
        actor=by,
        verb="promotion.requested",
        target=request,
        use_case=use_case,
        after={
            "version": version.version,
            "from_stage": request.from_stage,
            "target_stage": target_stage,
            "traffic_percent": traffic_percent,
            "rationale": request.rationale,
            "required_approvals": request.required_approvals,
            "gates": gate_statuses(results),
        },
    )
    transaction.on_commit(lambda: events.request_opened(request.pk))
    return request


def _locked(request: PromotionRequest) -> PromotionRequest:
    """The use case, then the request, locked; the request fresh and still pending, with its
    decisions loaded (policy.py reads them from the cache; _decide refreshes it)."""
    use_case = execution.lock_use_case(request.use_case_id)
    fresh = (
        PromotionRequest.objects.select_related("model_version")
        .select_for_update(of=("self",), no_key=True)
        .prefetch_related("decisions")
    )
    request = fresh.get(pk=request.pk)
    request.use_case = request.model_version.use_case = use_case  # for audit texts, no query
    if not request.is_pending:
        raise PromotionError(f"This request is already {request.get_status_display().lower()}.")
    return request


def _decide(request: PromotionRequest, by, verdict: str, comment: str) -> PromotionRequest:
    if request.requested_by_id == by.pk:
        raise NotAllowed("Nobody approves or rejects their own request.")
    if any(decision.user_id == by.pk for decision in request.decisions.all()):
        raise PromotionError("You have already decided on this request.")
    capacity = policy.capacity_needed_from(by, request)
    if capacity is None:
        if not policy.capacities_of(by, request.use_case):
            raise NotAllowed(
                "Only the use case's domain experts and data scientists, and managers, "
                "decide on its promotions."
            )
        if verdict == Decision.Verdict.APPROVE:
            raise PromotionError(
                f"Your approval is not needed: the request waits for {policy.waiting_for(request)}."
            )
        capacity = policy.capacities_of(by, request.use_case)[0]
    Decision.objects.create(
        request=request, user=by, verdict=verdict, capacity=capacity, comment=comment.strip()
    )
    request._prefetched_objects_cache.pop("decisions", None)
    prefetch_related_objects([request], "decisions")
    return request


@audit.atomic
def approve(request: PromotionRequest, *, by, comment: str = "") -> PromotionRequest:
    """Approve; the last approval needed executes the promotion (or refuses it, gates red)."""
    request = _locked(request)
    _decide(request, by, Decision.Verdict.APPROVE, comment)
    missing = policy.missing_approvals(request)
    audit.record(
        actor=by,
        verb="promotion.approved",
        target=request,
        use_case=request.use_case,
        after={"comment": comment.strip(), "waiting_for": missing},
    )
    if missing:
        transaction.on_commit(lambda: events.request_approved(request.pk))
    else:
        execution.execute(request, by=by, use_case_locked=True)
    return request


@audit.atomic
def reject(request: PromotionRequest, *, by, comment: str) -> PromotionRequest:
    if not comment.strip():
        raise InvalidInput("Say why you reject it: the requester reads it.", field="comment")
    request = _locked(request)
    _decide(request, by, Decision.Verdict.REJECT, comment)
    _close(request, Status.REJECTED, by=by, verb="promotion.rejected", note=comment.strip())
    return request


@audit.atomic
def withdraw(request: PromotionRequest, *, by, comment: str = "") -> PromotionRequest:
    request = _locked(request)
    if request.requested_by_id != by.pk:
        raise NotAllowed("Only the person who opened the request may withdraw it.")
    _close(request, Status.WITHDRAWN, by=by, verb="promotion.withdrawn", note=comment.strip())
    return request


def _close(request: PromotionRequest, status: str, *, by, verb: str, note: str) -> None:
    request.status = status
    request.decided_at = timezone.now()
    request.outcome_note = note
    request.save(update_fields=["status", "decided_at", "outcome_note"])
    audit.record(
        actor=by, verb=verb, target=request, use_case=request.use_case, after={"note": note}
    )
    transaction.on_commit(lambda: events.request_decided(request.pk))


@audit.atomic
def override(request: PromotionRequest, *, by, justification: str) -> PromotionRequest:
    """A manager lets the request execute past its failed or incomplete gates."""
    if not can(by, Action.OVERRIDE_GATE, request.use_case):
        raise NotAllowed("Only a manager may override a gate.")
    if request.requested_by_id == by.pk:
        raise NotAllowed("Nobody overrides the gates of their own request.")
    if not justification.strip():
        raise InvalidInput(
            "Write why the promotion may go ahead despite its gates: the audit trail keeps it.",
            field="justification",
        )
    request = _locked(request)
    if request.overridden_by_id is not None:
        raise PromotionError("The gates of this request are already overridden.")
    if all(gate.status == Gate.Status.PASSED for gate in request.gates.all()):
        raise PromotionError("Every gate passed: there is nothing to override.")
    request.override_justification = justification.strip()
    request.overridden_by = by
    request.overridden_at = timezone.now()
    request.save(update_fields=["override_justification", "overridden_by", "overridden_at"])
    audit.record(
        actor=by,
        verb="promotion.gates_overridden",
        target=request,
        use_case=request.use_case,
        after={
            "justification": request.override_justification,
            "gates": {gate.kind: gate.status for gate in request.gates.all()},
        },
    )
    return request
