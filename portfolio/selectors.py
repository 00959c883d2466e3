"""Reads of the roadmap: every use case `user` sees, with its health (portfolio/health.py),
in a fixed number of SQL queries whatever the number of use cases.

roadmap_rows runs six: the use cases (with their owner and promotion policy, and as
subqueries the pending promotions and the overdue milestones), their current evaluations
(the last succeeded one, the candidate versions, and what their evaluation gates read), two
more for the candidates' evaluation gates (promotions.services.gates.evaluation_gates) and
one for the best ones' review gates (review_gates), and their versions' stages (what blocks
the next phase). Plus whatever visible_to needs to know the user's groups.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring.models import Alert
from portfolio import health as rules
from promotions.models import PromotionPolicy, PromotionRequest
from promotions.services import gates, phases
from registry.models import Evaluation, ModelVersion
from usecases.models import Milestone, UseCase
from usecases.selectors import PRIORITY_RANK

BOARD_CARDS = 25  # cards per board column; the table lists the rest
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
    """Open (or acknowledged, not yet resolved) monitoring alerts per use case, in one
    query."""
    live = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)
    counts = dict(
        Alert.objects.filter(use_case_id__in=list(use_case_ids), status__in=live)
        .values_list("use_case_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {pk: counts.get(pk, 0) for pk in use_case_ids}


@dataclass
class RoadmapRow:
    use_case: UseCase
    gate: gates.GateResult | None  # the best candidate's evaluation gate; None: no candidate
    candidate: str  # the candidate version's name, "" without one
    last_evaluation_at: datetime.datetime | None  # when the last succeeded one finished
    last_evaluation_id: int | None
    acceptance: rules.Acceptance | None  # the candidate's review gate, once a campaign closed
    pending_promotions: int
    open_alerts: int | None
    days_in_phase: int
    blocker: str | None
    health: rules.Health

    @property
    def gates(self) -> str | None:
        """The evaluation gate's status: passed, failed or incomplete."""
        return self.gate.status if self.gate else None

    @property
    def gates_label(self) -> str:
        return rules.GATE_LABELS.get(self.gates or "", "—")

    @property
    def other_reasons(self) -> list[rules.Reason]:
        """The health's reasons but the blocker, which the table shows in its own column."""
        return [reason for reason in self.health.reasons if reason.kind != rules.NEXT_PHASE]


def _subquery_count(queryset: QuerySet) -> Coalesce:
    counted = queryset.order_by().values("use_case_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _use_cases(queryset: QuerySet, today: datetime.date) -> list[UseCase]:
    at = OuterRef("pk")
    pending = PromotionRequest.objects.filter(use_case=at, status=PromotionRequest.Status.PENDING)
    overdue = Milestone.objects.filter(use_case=at, done_at__isnull=True, due_date__lt=today)
    return list(
        queryset.select_related("owner", "promotion_policy")
        .defer(*LONG_FIELDS)
        .annotate(
            pending_promotions=_subquery_count(pending),
            overdue_milestones=_subquery_count(overdue),
        )
    )


class Version(NamedTuple):
    """A version with a succeeded current evaluation, as the bulk gates read it."""

    pk: int
    use_case_id: int
    version: str
    evaluated_at: datetime.datetime  # its newest such evaluation's start


@dataclass
class Evaluated:
    """What the use cases' current evaluations tell (promotions.services.gates.current_runs:
    not superseded by a re-run), from one query."""

    runs: list[dict]  # every one, for the evaluation gates
    last: dict[int, tuple]  # by use case: (finished_at, id) of the last succeeded to finish
    versions: list[Version]  # the versions not archived with a succeeded one: the candidates


def _evaluated(ids: list[int]) -> Evaluated:
    """The use cases' current evaluations: the last succeeded one to finish, as the home page
    lists finished evaluations (portfolio/home.py), and the versions with a succeeded one,
    each with when its newest such evaluation started. One query."""
    runs = gates.current_runs(use_case_ids=ids)
    last: dict[int, tuple] = {}
    newest: dict[int, Version] = {}
    for run in runs:
        if run["status"] != Evaluation.Status.SUCCEEDED:
            continue
        use_case_id, finished_at, pk = run["use_case_id"], run["finished_at"], run["id"]
        if finished_at is not None and (finished_at, pk) > last.get(use_case_id, ()):
            last[use_case_id] = (finished_at, pk)
        if run["model_version__stage"] == ModelVersion.Stage.ARCHIVED:
            continue
        version_id, created_at = run["model_version_id"], run["created_at"]
        found = newest.get(version_id)
        if found is None or created_at > found.evaluated_at:
            name = run["model_version__version"]
            newest[version_id] = Version(version_id, use_case_id, name, created_at)
    return Evaluated(runs=runs, last=last, versions=list(newest.values()))


@dataclass
class Candidate:
    version: Version
    gate: gates.GateResult
    review: gates.GateResult | None = None


def _candidates(use_cases: list[UseCase], evaluated: Evaluated) -> dict[int, Candidate]:
    """Each use case's best candidate (portfolio/health.py says which) with its evaluation
    and review gates as a promotion measures them: three queries."""
    versions = evaluated.versions
    results = gates.evaluation_gates(versions, runs=evaluated.runs)
    best: dict[int, Candidate] = {}
    for version in sorted(versions, key=lambda v: (results[v.pk].passed, v.evaluated_at, v.pk)):
        best[version.use_case_id] = Candidate(version, results[version.pk])  # the last wins
    policies = {}  # the policies saved (review_gates applies the defaults to the others)
    for use_case in use_cases:
        try:
            policies[use_case.pk] = use_case.promotion_policy
        except PromotionPolicy.DoesNotExist:
            continue
    reviews = gates.review_gates([c.version for c in best.values()], policies)
    for candidate in best.values():
        candidate.review = reviews[candidate.version.pk]
    return best


def _acceptance(review: gates.GateResult | None) -> rules.Acceptance | None:
    """The review gate as the roadmap shows it; None until a campaign of the version closed."""
    if review is None or review.campaign_row is None:
        return None
    detail = review.detail
    return rules.Acceptance(
        campaign=detail["campaign_name"],
        campaign_id=detail["campaign"],
        status=review.status,
        summary=review.summary,
        correct=detail["accepted"],
        incorrect=detail["verdicts"] - detail["accepted"],
        threshold=detail["threshold"],
        use_lower_bound=detail["bound"] == PromotionPolicy.AcceptanceBound.WILSON,
        rate=detail["rate"],
        low=detail["low"],
    )


def roadmap_rows(queryset: QuerySet, *, now: datetime.datetime | None = None) -> list[RoadmapRow]:
    """The roadmap's rows for `queryset` (visible_to(user)), phase by phase in lifecycle
    order, by priority then title. Days are calendar days in the portal's time zone."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    use_cases = _use_cases(queryset, today)
    ids = [uc.pk for uc in use_cases]
    evaluated = _evaluated(ids)
    candidates = _candidates(use_cases, evaluated)
    blockers = phases.blockers(use_cases)
    alerts = open_alerts(ids)
    rows = []
    for use_case in use_cases:
        candidate = candidates.get(use_case.pk)
        gate = candidate.gate if candidate else None
        name = candidate.version.version if candidate else ""
        acceptance = _acceptance(candidate.review if candidate else None)
        last_at, last_id = evaluated.last.get(use_case.pk, (None, None))
        days = rules.days_between(use_case.phase_changed_at, today)
        row_health = rules.health(
            phase=use_case.phase,
            blocker=blockers.get(use_case.pk),
            candidate=name,
            gate=gate.status if gate else None,
            gate_summary=gate.summary if gate else "",
            acceptance=acceptance,
            last_evaluation_at=last_at,
            days_in_phase=days,
            target_date=use_case.target_date,
            overdue_milestones=use_case.overdue_milestones,
            open_alerts=alerts.get(use_case.pk),
            today=today,
        )
        rows.append(
            RoadmapRow(
                use_case=use_case,
                gate=gate,
                candidate=name,
                last_evaluation_at=last_at,
                last_evaluation_id=last_id,
                acceptance=acceptance,
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


def narrow(rows: list[RoadmapRow], *, ids: set[int] | None, health: str = "") -> list[RoadmapRow]:
    """The rows the filters keep: those of `ids` (None: every one) and of `health` if given."""
    return [
        row
        for row in rows
        if (ids is None or row.use_case.pk in ids) and (not health or row.health.status == health)
    ]


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


def _per_currency(sums: dict, kind: str) -> list[tuple[str, Decimal]]:
    """One kind of rules.value_by_currency's sums, largest first."""
    totals = ((currency, money[kind]) for currency, money in sums.items() if kind in money)
    return sorted(totals, key=lambda item: (-item[1], item[0]))


def maturity(rows: list[RoadmapRow]) -> dict:
    """How far the portfolio of `rows` is: use cases in production (and its stage), the
    value in production and in the pipeline, per currency, and the count of each health.
    The roadmap passes every use case the user sees, whatever the filters (as the home
    page's summary counts them)."""
    use_cases = [row.use_case for row in rows]
    in_production = [uc for uc in use_cases if uc.phase == UseCase.Phase.PRODUCTION]
    sums = rules.value_by_currency(
        (uc.phase, uc.expected_value_currency, uc.expected_value_per_year) for uc in use_cases
    )
    health_counts = {status: 0 for status, _ in rules.HEALTH_CHOICES}
    for row in rows:
        health_counts[row.health.status] += 1
    return {
        "in_production": len(in_production),
        "stage": rules.maturity_stage(len(in_production)),
        "value_in_production": _per_currency(sums, "production"),
        "value_in_pipeline": _per_currency(sums, "pipeline"),
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
    "evaluation_gate",
    "evaluation_gate_summary",
    "last_evaluation_finished_at",
    "review_campaign",
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
            " ".join(row.health.texts),
            row.candidate,
            row.gates or "",
            row.gate.summary if row.gate else "",
            row.last_evaluation_at,
            acceptance.campaign if acceptance else "",
            "" if figure is None else round(figure, 4),
            acceptance.threshold if acceptance else "",
            row.pending_promotions,
            "" if row.open_alerts is None else row.open_alerts,
            row.blocker or "",
        )
