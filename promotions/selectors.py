"""Reads of promotions for pages and the API: who a request waits for, a use case's
deployment, its requests."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Subquery

from predictions.models import QualityTally
from promotions.models import Decision, PromotionRequest, StageChange
from promotions.services import policy
from registry.models import ModelVersion
from usecases.models import Role, UseCase, UseCaseMember
from usecases.permissions import is_admin, is_manager, remember_role

Stage = ModelVersion.Stage


def use_case_requests(use_case: UseCase, *, with_decisions: bool = True) -> QuerySet:
    """The use case's requests (their use case loaded, for their links); with their gates
    and decisions (and deciders) for the pages and API that show them."""
    requests = PromotionRequest.objects.filter(use_case=use_case).select_related(
        "use_case", "model_version", "requested_by"
    )
    if with_decisions:
        deciders = Decision.objects.select_related("user")
        requests = requests.prefetch_related("gates", Prefetch("decisions", queryset=deciders))
    return requests


def waiting_for_user(user) -> list[PromotionRequest]:
    """Pending requests on use cases `user` sees that need their approval now: not their
    own, not yet decided by them, and missing an approval in a capacity they hold."""
    if not user.is_authenticated or not user.is_active:
        return []
    # The bell, the home page's card and the overview may all ask in one request. Not
    # user.__dict__: request.user is a SimpleLazyObject, whose own __dict__ never has it.
    waiting = getattr(user, "_quorum_waiting", None)
    if waiting is None:
        waiting = user._quorum_waiting = _waiting_for(user)
    return waiting


def _waiting_for(user) -> list[PromotionRequest]:
    pending = PromotionRequest.objects.filter(status=PromotionRequest.Status.PENDING).exclude(
        requested_by=user
    )
    decided = Decision.objects.filter(request=OuterRef("pk"), user=user)
    pending = pending.exclude(Exists(decided))
    if not (is_manager(user) or is_admin(user)):
        deciders = UseCaseMember.objects.filter(
            use_case=OuterRef("use_case"), user=user, role__in=[Role.EXPERT, Role.DATA_SCIENTIST]
        )
        pending = pending.filter(Exists(deciders))
    pending = pending.filter(use_case__in=UseCase.objects.visible_to(user).values("pk"))
    # The user's role is read with the rows: capacity_needed_from asks it per use case.
    role = UseCaseMember.objects.filter(use_case=OuterRef("use_case"), user=user).values("role")
    requests = (
        pending.annotate(my_role=Subquery(role[:1]))
        .select_related("use_case", "model_version", "requested_by")
        .prefetch_related("decisions")
    )
    rows = list(requests.order_by("created_at"))
    shared: dict[int, UseCase] = {}  # one instance per use case: its role cache is per instance
    for row in rows:
        row.use_case = shared.setdefault(row.use_case_id, row.use_case)
        remember_role(user, row.use_case, row.my_role)
    return [row for row in rows if policy.capacity_needed_from(user, row)]


def deployment(use_case: UseCase) -> dict:
    """The versions serving the use case: production, the canary and the shadows."""
    versions = ModelVersion.objects.filter(
        use_case=use_case, stage__in=[Stage.PRODUCTION, Stage.CANARY, Stage.SHADOW]
    ).order_by("stage_changed_at", "pk")
    found: dict = {"production": None, "canary": None, "shadow": []}
    for version in versions:
        version.use_case = use_case  # for its link, without a query
        if version.stage == Stage.SHADOW:
            found["shadow"].append(version)
        else:
            found[version.stage] = version
    return found


def version_history(version: ModelVersion) -> dict:
    """A version's stage changes (newest first), its open request and its data quality."""
    changes = (
        StageChange.objects.filter(model_version=version)
        .select_related("changed_by", "request")
        .order_by("-changed_at", "-pk")
    )
    tally = QualityTally.objects.filter(model_version=version).first()
    rules = {str(rule.pk): rule for rule in version.use_case.data_quality_rules.all()}
    per_rule = []
    if tally is not None:
        for rule_id, rows in sorted(tally.rule_counts.items(), key=lambda item: -item[1]):
            rule = rules.get(rule_id)
            per_rule.append(
                {
                    "rule": f"{rule.field}: {rule.summary}"
                    if rule
                    else f"rule {rule_id} (removed)",
                    "severity": rule.get_severity_display() if rule else "",
                    "rows": rows,
                    "share": f"{rows / tally.rows_checked:.1%}" if tally.rows_checked else "—",
                }
            )
    rate = tally.rows_violating / tally.rows_checked if tally and tally.rows_checked else None
    return {
        "changes": list(changes),
        "pending": version.promotion_requests.filter(
            status=PromotionRequest.Status.PENDING
        ).first(),
        "tally": tally,
        "rate": rate,
        "rate_text": f"{rate:.1%}" if rate is not None else "",
        "per_rule": per_rule,
    }
