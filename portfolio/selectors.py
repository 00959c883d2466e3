"""Reads of the roadmap: every use case `user` sees, with its health (portfolio/health.py),
in a fixed number of SQL queries whatever the number of use cases.

roadmap_rows runs four: the use cases (with their owner and promotion policy, and as
subqueries the last evaluation's time, the pending promotions, the overdue milestones, the
KPIs' last edit and the latest review campaign), their candidate evaluations, the latest
campaigns' verdict counts, and their versions' stages (what blocks the next phase). Plus
whatever visible_to needs to know the user's groups.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from portfolio import health as rules
from promotions.models import PromotionPolicy, PromotionRequest
from promotions.services import phases
from registry.models import Evaluation, ModelVersion
from reviews import stats
from reviews.models import Review, ReviewCampaign
from usecases.models import KPI, Milestone, UseCase
from usecases.selectors import PRIORITY_RANK

BOARD_CARDS = 25  # cards per board column; the table lists the rest
PIPELINE = ("idea", "scoping", "data", "poc", "pilot")
# What no roadmap page shows: left unread for 500 rows.
LONG_FIELDS = (
    "problem_statement",
    "decision_supported",
    "target_definition",
    "feature_schema",
    "class_names",
    "owner__password",
)


def open_alerts(use_case_ids) -> dict[int, int | None]:
    """Open monitoring alerts per use case: None ("—") until monitoring exists (DESIGN.md
    "Roadmap and monitoring"); the hook the monitoring app will fill, in one query."""
    return dict.fromkeys(use_case_ids)


@dataclass
class RoadmapRow:
    use_case: UseCase
    gates: str | None  # passed / failed / incomplete; None: no candidate evaluated yet
    candidate: str  # the candidate version's name, "" without one
    last_evaluation_at: datetime.datetime | None
    acceptance: rules.Acceptance | None
    pending_promotions: int
    open_alerts: int | None
    days_in_phase: int
    blocker: str | None
    health: rules.Health

    @property
    def gates_label(self) -> str:
        return rules.GATE_LABELS.get(self.gates or "", "—")

    @property
    def other_reasons(self) -> list[str]:
        """The health's reasons but the blocker, which the table shows in its own column."""
        return [reason for reason in self.health.reasons if reason != self.blocker]


def _subquery_count(queryset: QuerySet) -> Coalesce:
    counted = queryset.order_by().values("use_case_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _use_cases(queryset: QuerySet, today: datetime.date) -> list[UseCase]:
    at = OuterRef("pk")
    campaigns = ReviewCampaign.objects.filter(use_case=at, mode=ReviewCampaign.Mode.SINGLE)
    evaluations = Evaluation.objects.filter(use_case=at).order_by("-created_at", "-pk")
    kpis = KPI.objects.filter(use_case=at).order_by().values("use_case_id")
    pending = PromotionRequest.objects.filter(use_case=at, status=PromotionRequest.Status.PENDING)
    overdue = Milestone.objects.filter(use_case=at, done_at__isnull=True, due_date__lt=today)
    return list(
        queryset.select_related("owner", "promotion_policy")
        .defer(*LONG_FIELDS)
        .annotate(
            last_evaluation_at=Subquery(evaluations.values("created_at")[:1]),
            latest_campaign_id=Subquery(campaigns.order_by("-created_at", "-pk").values("pk")[:1]),
            kpis_changed_at=Subquery(kpis.annotate(at=Max("updated_at")).values("at")),
            pending_promotions=_subquery_count(pending),
            overdue_milestones=_subquery_count(overdue),
        )
    )


def _candidates(ids: list[int]) -> dict[int, dict]:
    """Each use case's best candidate evaluation (health.py says which), one query."""
    rows = (
        Evaluation.objects.current()
        .filter(use_case_id__in=ids, status=Evaluation.Status.SUCCEEDED)
        .exclude(model_version__stage=ModelVersion.Stage.ARCHIVED)
        .order_by("use_case_id", "-created_at", "-pk")
        .values("use_case_id", "model_version__version", "gates", "created_at")
    )
    best: dict[int, dict] = {}
    for row in rows:
        found = best.get(row["use_case_id"])
        if found is None or (not found["passes"] and _passes(row["gates"])):
            best[row["use_case_id"]] = {**row, "passes": _passes(row["gates"])}
    return best


def _passes(gates: list[dict]) -> bool:
    gating = [g for g in gates or [] if g.get("is_gating")]
    return bool(gating) and all(g.get("passed") is True for g in gating)


def _acceptances(use_cases: list[UseCase]) -> dict[int, rules.Acceptance]:
    """The latest single-prediction campaign's verdict counts per use case, one query."""
    ids = [uc.latest_campaign_id for uc in use_cases if uc.latest_campaign_id]
    if not ids:
        return {}
    verdict = Review.Verdict
    campaigns = {
        row["pk"]: row
        for row in ReviewCampaign.objects.filter(pk__in=ids)
        .annotate(
            correct=Count("reviews", filter=Q(reviews__verdict=verdict.CORRECT)),
            incorrect=Count("reviews", filter=Q(reviews__verdict=verdict.INCORRECT)),
        )
        .values("pk", "name", "status", "correct", "incorrect")
    }
    found = {}
    for use_case in use_cases:
        row = campaigns.get(use_case.latest_campaign_id)
        if row is None:
            continue
        policy = _policy(use_case)
        correct, n = row["correct"], row["correct"] + row["incorrect"]
        wilson = policy.acceptance_bound == PromotionPolicy.AcceptanceBound.WILSON
        # The interval only where the policy reads it (a normal quantile each: 500 add up).
        interval = stats.wilson_interval(correct, n) if wilson and n else None
        found[use_case.pk] = rules.Acceptance(
            campaign=row["name"],
            is_open=row["status"] == ReviewCampaign.Status.OPEN,
            correct=correct,
            incorrect=row["incorrect"],
            threshold=policy.acceptance_threshold,
            use_lower_bound=wilson,
            rate=correct / n if n else None,
            low=interval[0] if interval else None,
        )
    return found


def _policy(use_case: UseCase) -> PromotionPolicy:
    """The use case's saved policy, or the defaults that hold until an owner saves one."""
    try:
        return use_case.promotion_policy
    except PromotionPolicy.DoesNotExist:
        return PromotionPolicy(use_case=use_case)


def roadmap_rows(queryset: QuerySet, *, health: str = "") -> list[RoadmapRow]:
    """The roadmap's rows for `queryset` (visible_to(user), filtered), phase by phase in
    lifecycle order, by priority then title; only those of `health` when given."""
    now = timezone.now()
    use_cases = _use_cases(queryset, timezone.localdate())
    ids = [uc.pk for uc in use_cases]
    candidates = _candidates(ids)
    acceptances = _acceptances(use_cases)
    blockers = phases.blockers(use_cases)
    alerts = open_alerts(ids)
    rows = []
    for use_case in use_cases:
        candidate = candidates.get(use_case.pk)
        gates = None
        if candidate is not None:
            gates = rules.gate_status(
                candidate["gates"],
                evaluated_at=candidate["created_at"],
                kpis_changed_at=use_case.kpis_changed_at,
            )
        days = max((now - use_case.phase_changed_at).days, 0)
        row_health = rules.health(
            phase=use_case.phase,
            blocker=blockers.get(use_case.pk),
            gates=gates,
            acceptance=acceptances.get(use_case.pk),
            last_evaluation_at=use_case.last_evaluation_at,
            days_in_phase=days,
            target_date=use_case.target_date,
            overdue_milestones=use_case.overdue_milestones,
            open_alerts=alerts.get(use_case.pk),
            now=now,
        )
        if health and row_health.status != health:
            continue
        rows.append(
            RoadmapRow(
                use_case=use_case,
                gates=gates,
                candidate=candidate["model_version__version"] if candidate else "",
                last_evaluation_at=use_case.last_evaluation_at,
                acceptance=acceptances.get(use_case.pk),
                pending_promotions=use_case.pending_promotions,
                open_alerts=alerts.get(use_case.pk),
                days_in_phase=days,
                blocker=blockers.get(use_case.pk),
                health=row_health,
            )
        )
    order = {phase: i for i, phase in enumerate(UseCase.Phase.values)}
    rows.sort(
        key=lambda r: (
            order[r.use_case.phase],
            PRIORITY_RANK.get(r.use_case.priority, 0),
            r.use_case.title.casefold(),
        )
    )
    return rows


def board(rows: list[RoadmapRow]) -> list[dict]:
    """One column per phase in lifecycle order: its count and its first BOARD_CARDS rows."""
    by_phase: dict[str, list[RoadmapRow]] = defaultdict(list)
    for row in rows:
        by_phase[row.use_case.phase].append(row)
    return [
        {
            "phase": phase,
            "label": label,
            "count": len(by_phase[phase]),
            "cards": by_phase[phase][:BOARD_CARDS],
            "more": max(len(by_phase[phase]) - BOARD_CARDS, 0),
        }
        for phase, label in UseCase.Phase.choices
    ]


def _per_currency(use_cases) -> list[tuple[str, Decimal]]:
    """Expected yearly values summed per currency (never across currencies), largest first."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for use_case in use_cases:
        if use_case.expected_value_per_year is not None:
            totals[use_case.expected_value_currency] += use_case.expected_value_per_year
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def maturity(rows: list[RoadmapRow]) -> dict:
    """How far the portfolio is: use cases in production (and its stage), the value in
    production and in the pipeline, per currency."""
    use_cases = [row.use_case for row in rows]
    in_production = [uc for uc in use_cases if uc.phase == UseCase.Phase.PRODUCTION]
    health_counts = {status: 0 for status, _ in rules.HEALTH_CHOICES}
    for row in rows:
        health_counts[row.health.status] += 1
    return {
        "in_production": len(in_production),
        "stage": rules.maturity_stage(len(in_production)),
        "value_in_production": _per_currency(in_production),
        "value_in_pipeline": _per_currency(uc for uc in use_cases if uc.phase in PIPELINE),
        "health": [(s, label, health_counts[s]) for s, label in rules.HEALTH_CHOICES],
    }


def milestones_of(rows: list[RoadmapRow]) -> dict[int, list[Milestone]]:
    """The milestones of the rows' use cases, by use case id: one query."""
    found: dict[int, list[Milestone]] = defaultdict(list)
    ids = [row.use_case.pk for row in rows]
    for milestone in Milestone.objects.filter(use_case_id__in=ids).order_by("due_date", "pk"):
        found[milestone.use_case_id].append(milestone)
    return found


CSV_HEADER = (
    "slug",
    "title",
    "owner",
    "team",
    "phase",
    "priority",
    "risk_tier",
    "expected_value_per_year",
    "currency",
    "effort_person_days",
    "start_date",
    "target_date",
    "days_in_phase",
    "health",
    "health_reasons",
    "candidate_version",
    "gates",
    "last_evaluation_at",
    "review_acceptance",
    "acceptance_threshold",
    "pending_promotions",
    "open_alerts",
    "next_phase_blocked_by",
)


def csv_rows(rows: list[RoadmapRow]):
    """One tuple per row in CSV_HEADER's order (portal.exports neutralises formulas)."""
    for row in rows:
        uc, acceptance = row.use_case, row.acceptance
        figure = acceptance.figure if acceptance else None
        yield (
            uc.slug,
            uc.title,
            uc.owner.get_username(),
            uc.team,
            uc.phase,
            uc.priority,
            uc.risk_tier,
            uc.expected_value_per_year,
            uc.expected_value_currency if uc.expected_value_per_year is not None else "",
            uc.effort_person_days,
            uc.start_date,
            uc.target_date,
            row.days_in_phase,
            row.health.status,
            " ".join(row.health.reasons),
            row.candidate,
            row.gates or "",
            row.last_evaluation_at,
            "" if figure is None else round(figure, 4),
            acceptance.threshold if acceptance else "",
            row.pending_promotions,
            "" if row.open_alerts is None else row.open_alerts,
            row.blocker or "",
        )
