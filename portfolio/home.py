"""Reads of the home page: the tasks waiting for the signed-in person, gathered from every
domain app, and for Managers and Admins the portfolio's summary and its week.

Every selector runs a fixed number of SQL queries whatever the number of use cases,
campaigns, requests or evaluations, and lists are cut at LIMIT rows (one more is read, to
say that there are more). What lower apps already select is reused: the review inbox's
campaigns (reviews.progress.open_campaigns_for) and the approvals of the bell
(promotions.selectors.waiting_for_user).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from portfolio.health import maturity_stage, value_by_currency
from promotions import selectors as promotions
from promotions.models import Decision
from promotions.services import policy
from registry.models import Evaluation, EvaluationDataset
from reviews import progress
from usecases.activity import sentences
from usecases.models import KPI, AuditEvent, UseCase, UseCaseMember, ValueModel
from usecases.permissions import ROLE_ACTIONS, Action, can, is_admin, is_manager, remember_role
from usecases.selectors import audit_events

LIMIT = 8  # rows per list; the full lists are one link away
ACTIVITY_ENTRIES = 6
RECENT_EVALUATIONS = datetime.timedelta(days=14)
WEEK = datetime.timedelta(days=7)
Phase = UseCase.Phase
# The week's counts, by the audit verb that records each step.
WEEK_VERBS = {
    "phase_moves": "usecase.phase_changed",
    "promotions_executed": "promotion.executed",
    "evaluations_completed": "evaluation.succeeded",
}


@dataclass
class Bounded:
    """The first LIMIT rows of a list, and whether more were left out."""

    rows: list
    has_more: bool = False

    @classmethod
    def of(cls, rows, limit: int = LIMIT) -> Bounded:
        rows = list(rows[: limit + 1])
        return cls(rows=rows[:limit], has_more=len(rows) > limit)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)


# Tasks of every member


def reviews_waiting(user, *, today: datetime.date | None = None) -> Bounded:
    """Open campaigns with items left for `user` to review (the review inbox's), the
    soonest due first (no due date last); each with `is_overdue`."""
    today = today or timezone.localdate()
    campaigns = progress.open_campaigns_for(user).order_by(
        F("due_date").asc(nulls_last=True), "-created_at", "-pk"
    )
    found = Bounded.of(campaigns)
    for campaign in found:
        campaign.is_overdue = campaign.due_date is not None and campaign.due_date < today
        campaign.reviews_needed = campaign.item_count * campaign.reviewers_per_item
    return found


def approvals_waiting(user) -> Bounded:
    """Pending promotion requests that need `user`'s approval now (the bell's list), oldest
    first; each with the `capacity` (and its label) the approval would count in."""
    found = Bounded.of(promotions.waiting_for_user(user))
    labels = dict(Decision.Capacity.choices)
    for request in found:
        # no query: the list's decisions are prefetched and the user's roles remembered
        request.capacity = policy.capacity_needed_from(user, request)
        request.capacity_label = labels.get(request.capacity, "")
    return found


def recent_evaluations(user, *, now: datetime.datetime | None = None) -> Bounded:
    """Evaluations that finished (succeeded or failed) in the last 14 days, that `user`
    started or that ran on a version `user` registered, on use cases `user` sees; newest
    first, re-runs' superseded runs left out."""
    since = (now or timezone.now()) - RECENT_EVALUATIONS
    evaluations = (
        Evaluation.objects.filter(
            Q(requested_by=user) | Q(model_version__registered_by=user),
            use_case__in=UseCase.objects.visible_to(user).values("pk"),
            status__in=Evaluation.FINISHED,
            finished_at__gte=since,
            superseded_at__isnull=True,
        )
        .select_related("use_case", "model_version", "dataset")
        .only(
            *("pk", "status", "finished_at", "error", "passed_gates", "use_case_id"),
            *("use_case__slug", "use_case__title", "model_version__version", "dataset__name"),
        )
        .order_by("-finished_at", "-pk")
    )
    return Bounded.of(evaluations)


# The roles that can close a gap: define KPIs and the value model (EDIT), or upload a
# holdout dataset (MANAGE_MODELS). Other members (viewers) have nothing to do there.
FIXING_ROLES = [
    role
    for role, actions in ROLE_ACTIONS.items()
    if Action.EDIT in actions or Action.MANAGE_MODELS in actions
]


def use_cases_missing_basics(user) -> Bounded:
    """`user`'s use cases (as a member who can fix them) that lack KPIs, a value model or a
    holdout (any evaluation dataset: registry.selectors.reference_dataset falls back to the
    newest); retired ones left out. Each row has `has_kpis`, `has_value_model`,
    `has_dataset`, and `can_edit` / `can_upload` for the links to fix them."""
    role = UseCaseMember.objects.filter(use_case=OuterRef("pk"), user=user)
    rows = (
        UseCase.objects.filter(Exists(role.filter(role__in=FIXING_ROLES)))
        .exclude(phase=Phase.RETIRED)
        .annotate(
            my_role=Subquery(role.values("role")[:1]),
            has_kpis=Exists(KPI.objects.filter(use_case=OuterRef("pk"))),
            has_value_model=Exists(ValueModel.objects.filter(use_case=OuterRef("pk"))),
            has_dataset=Exists(EvaluationDataset.objects.filter(use_case=OuterRef("pk"))),
        )
        .filter(Q(has_kpis=False) | Q(has_value_model=False) | Q(has_dataset=False))
        .only("pk", "slug", "title", "phase")
        .order_by("-updated_at", "-pk")
    )
    found = Bounded.of(rows)
    for use_case in found:
        remember_role(user, use_case, use_case.my_role)
        use_case.can_edit = can(user, Action.EDIT, use_case)
        use_case.can_upload = can(user, Action.MANAGE_MODELS, use_case)
    return found


def my_use_cases(user) -> Bounded:
    """The use cases `user` is a member of, most recently changed first, with their role."""
    role = UseCaseMember.objects.filter(use_case=OuterRef("pk"), user=user)
    rows = (
        UseCase.objects.filter(Exists(role))
        .annotate(my_role=Subquery(role.values("role")[:1]))
        .select_related("owner")
        .only(
            *("pk", "slug", "title", "phase", "updated_at"),
            *("owner__username", "owner__first_name", "owner__last_name"),
        )
        .order_by("-updated_at", "-pk")
    )
    found = Bounded.of(rows)
    labels = dict(UseCaseMember._meta.get_field("role").choices)
    for use_case in found:
        use_case.my_role_label = labels.get(use_case.my_role, "")
    return found


# Managers and Admins: the portfolio


def sees_portfolio(user) -> bool:
    return is_manager(user) or is_admin(user)


@dataclass
class Portfolio:
    """Use cases by phase (lifecycle order, zeros included), in production, and the yearly
    value expected in production and in the pipeline, per currency."""

    phases: list[tuple[str, str, int]]
    total: int
    in_production: int
    stage: str
    values: list[dict] = field(default_factory=list)  # {"currency", "production", "pipeline"}


def portfolio_summary(user) -> Portfolio:
    """Every use case `user` sees, counted and valued in one grouped query: the roadmap's
    figures (portfolio.selectors.maturity, same phases and stages) without its health rows,
    which the home page does not show."""
    rows = (
        UseCase.objects.visible_to(user)
        .values("phase", "expected_value_currency")
        .annotate(n=Count("pk"), value=Sum("expected_value_per_year"))
        .order_by()
    )
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["phase"]] += row["n"]
    sums = value_by_currency(
        (row["phase"], row["expected_value_currency"], row["value"]) for row in rows
    )
    values = [
        {
            "currency": currency,
            "production": money.get("production", Decimal(0)),
            "pipeline": money.get("pipeline", Decimal(0)),
        }
        for currency, money in sums.items()
    ]
    phases = [(value, label, counts.get(value, 0)) for value, label in Phase.choices]
    in_production = counts.get(Phase.PRODUCTION, 0)
    return Portfolio(
        phases=phases,
        total=sum(counts.values()),
        in_production=in_production,
        stage=maturity_stage(in_production),
        values=sorted(values, key=lambda money: -(money["production"] + money["pipeline"])),
    )


def week_activity(user, *, now: datetime.datetime | None = None) -> list:
    """The portfolio's last ACTIVITY_ENTRIES events of the week in sentences, newest first.
    Not collaboration.selectors.activity: a user's feed there is of the use cases they are a
    member of, and a manager's week is the whole portfolio's (their audit trail)."""
    since = (now or timezone.now()) - WEEK
    events = audit_events(user).filter(created_at__gte=since, use_case_id_ref__isnull=False)
    return sentences(events[:ACTIVITY_ENTRIES])


def week_counts(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Phase moves, promotions executed and evaluations completed in the last 7 days, over
    the whole portfolio (Managers and Admins read the whole audit trail); one query."""
    since = (now or timezone.now()) - WEEK
    events = AuditEvent.objects.filter(created_at__gte=since, verb__in=WEEK_VERBS.values())
    return events.aggregate(
        **{name: Count("pk", filter=Q(verb=verb)) for name, verb in WEEK_VERBS.items()}
    )


# The page


def waiting_text(reviews: Bounded, approvals: Bounded) -> str:
    """“1 approval and 3 review campaigns wait for you.” ("" when nothing waits)."""

    def count(found: Bounded, noun: str) -> str:
        n = len(found)
        return f"{n}{'+' if found.has_more else ''} {noun}{'s' if n > 1 or found.has_more else ''}"

    parts = [count(approvals, "approval")] if approvals else []
    parts += [count(reviews, "review campaign")] if reviews else []
    if not parts:
        return ""
    single = len(approvals) + len(reviews) == 1
    return f"{' and '.join(parts)} wait{'s' if single else ''} for you."


def home_page(user, *, now: datetime.datetime | None = None) -> dict:
    """Everything the home page shows `user`. A section is shown when it has rows or when
    one of `user`'s roles could give it some (a viewer has no task section at all); its
    empty state then says what fills it."""
    now = now or timezone.now()
    roles = set(UseCaseMember.objects.filter(user=user).values_list("role", flat=True))
    actions = set().union(*(ROLE_ACTIONS[role] for role in roles))
    portfolio = sees_portfolio(user)
    reviews, approvals = (
        reviews_waiting(user, today=timezone.localdate(now)),
        approvals_waiting(user),
    )
    page = {
        "reviews": reviews,
        "approvals": approvals,
        "waiting_text": waiting_text(reviews, approvals),
        "evaluations": recent_evaluations(user, now=now),
        "gaps": use_cases_missing_basics(user),
        "mine": my_use_cases(user),
        "show": {
            "reviews": Action.REVIEW in actions or is_admin(user),
            # whose approval a policy can ask for: experts, data scientists and managers
            "approvals": bool(roles & set(Decision.Capacity.values)) or portfolio,
            "evaluations": Action.MANAGE_MODELS in actions,
            "gaps": bool(roles & set(FIXING_ROLES)),
        },
        "sees_portfolio": portfolio,
    }
    page["has_tasks"] = any(page["show"].values()) or any(
        page[name] for name in ("reviews", "approvals", "evaluations", "gaps")
    )
    if portfolio:
        page |= {
            "portfolio": portfolio_summary(user),
            "week": week_counts(now=now),
            "activity": week_activity(user, now=now),
        }
    return page
