"""The demo's deployments, made as a team makes them: a request, the approvals the use
case's risk tier asks for, and, where a gate honestly fails, a manager's written override.
Nothing sets a stage by hand: every stage comes from an executed promotion."""

from __future__ import annotations

from django.core.management.base import CommandError

from promotions.models import PromotionRequest
from promotions.services import policy, requests
from registry.models import ModelVersion


def promote(
    version: ModelVersion,
    target_stage: str,
    *,
    by,
    rationale: str,
    approvers: list,
    traffic_percent: int | None = None,
    override: tuple | None = None,
) -> PromotionRequest:
    """Open a request for `version` and pass it through `approvers` in order; `override`,
    (manager, justification), lets it past the gates it fails. Checks the outcome: with
    every approval given it executed, else it waits for the rest."""
    request = requests.open_request(
        version.use_case,
        by=by,
        version=version,
        target_stage=target_stage,
        traffic_percent=traffic_percent,
        rationale=rationale,
    )
    if override is not None:
        manager, justification = override
        requests.override(request, by=manager, justification=justification)
    for approver, comment in approvers:
        request = requests.approve(request, by=approver, comment=comment)
    request.refresh_from_db()
    waiting = policy.missing_approvals(request)
    expected = PromotionRequest.Status.PENDING if waiting else PromotionRequest.Status.EXECUTED
    if request.status != expected:
        # Refused at execution: the demo's evidence no longer bears its story out.
        raise CommandError(f"Demo promotion {request}: {request.status}. {request.outcome_note}")
    return request
