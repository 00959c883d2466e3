"""Who must approve a promotion (DESIGN.md): the risk tier's minimums, which a use case's
owner may raise and never lower, and in which capacity a person's approval counts."""

from __future__ import annotations

from promotions.models import Decision, PromotionPolicy, PromotionRequest
from usecases.models import UseCase
from usecases.permissions import is_admin, is_manager, role_of

Capacity = Decision.Capacity
CAPACITIES = (Capacity.EXPERT, Capacity.DATA_SCIENTIST, Capacity.MANAGER)

# Low: one expert. Medium: one expert and one data scientist. High: two experts and a manager.
TIER_MINIMUMS: dict[str, dict[str, int]] = {
    UseCase.RiskTier.LOW: {Capacity.EXPERT: 1, Capacity.DATA_SCIENTIST: 0, Capacity.MANAGER: 0},
    UseCase.RiskTier.MEDIUM: {Capacity.EXPERT: 1, Capacity.DATA_SCIENTIST: 1, Capacity.MANAGER: 0},
    UseCase.RiskTier.HIGH: {Capacity.EXPERT: 2, Capacity.DATA_SCIENTIST: 0, Capacity.MANAGER: 1},
}
POLICY_FIELDS = {
    Capacity.EXPERT: "min_experts",
    Capacity.DATA_SCIENTIST: "min_data_scientists",
    Capacity.MANAGER: "min_managers",
}


def policy_for(use_case: UseCase) -> PromotionPolicy:
    """The use case's saved policy, or the defaults (unsaved) until an owner sets one."""
    policy = PromotionPolicy.objects.filter(use_case=use_case).first()
    return policy or PromotionPolicy(use_case=use_case)


def required_approvals(use_case: UseCase, policy: PromotionPolicy) -> dict[str, int]:
    """Approvals needed per capacity: the tier's minimum or the policy's, whichever is larger."""
    tier = TIER_MINIMUMS[use_case.risk_tier]
    return {
        str(capacity): max(tier[capacity], getattr(policy, POLICY_FIELDS[capacity]))
        for capacity in CAPACITIES
    }


def capacities_of(user, use_case: UseCase) -> list[str]:
    """The capacities `user` may approve in: their role on the use case (expert or data
    scientist), and manager for Managers and Admins."""
    capacities = []
    role = role_of(user, use_case)
    if role in (Capacity.EXPERT, Capacity.DATA_SCIENTIST):
        capacities.append(str(role))
    if is_manager(user) or is_admin(user):
        capacities.append(str(Capacity.MANAGER))
    return capacities


def missing_approvals(request: PromotionRequest) -> dict[str, int]:
    """Approvals still needed per capacity (only capacities with one missing)."""
    given: dict[str, int] = {}
    for decision in request.decisions.all():
        if decision.verdict == Decision.Verdict.APPROVE:
            given[decision.capacity] = given.get(decision.capacity, 0) + 1
    return {
        capacity: needed - given.get(capacity, 0)
        for capacity, needed in request.required_approvals.items()
        if needed > given.get(capacity, 0)
    }


def capacity_needed_from(user, request: PromotionRequest) -> str | None:
    """The capacity `user`'s approval would count in now, or None if it is not needed."""
    missing = missing_approvals(request)
    for capacity in capacities_of(user, request.use_case):
        if capacity in missing:
            return capacity
    return None


def in_words(counts: dict[str, int]) -> str:
    """Approvals per capacity in words: "2 domain experts and 1 manager" (zeros left out)."""
    labels = dict(Capacity.choices)
    parts = [
        f"{n} {labels[capacity].lower()}{'s' if n > 1 else ''}"
        for capacity, n in counts.items()
        if n
    ]
    return " and ".join(parts)


def waiting_for(request: PromotionRequest) -> str:
    """Who the request waits for, in words: "1 domain expert and 1 manager"."""
    return in_words(missing_approvals(request))
