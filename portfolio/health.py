"""A use case's health on the roadmap, from figures already read (portfolio/selectors.py):
plain rules, no database.

The rule, stated once (the roadmap's legend repeats it):

- **Blocked**: something stops the next step. Its next phase lacks the evidence the
  promotion rules ask for (promotions.services.phases: Pilot needs a version in shadow or
  canary, Production one in production), or its best candidate's evaluation gate fails.
- **At risk**: the plan or the evidence is slipping. Its target date has passed before
  Production, a milestone is overdue, its best candidate's review gate fails (acceptance
  under the use case's threshold), its last succeeded evaluation finished more than
  STALE_EVALUATION_DAYS ago (from the proof of concept on), it has been in the same phase
  for more than LONG_IN_PHASE_DAYS, or monitoring has open alerts.
- **Healthy**: none of the above.
- Retired use cases have no health (they are listed as "Retired").

The best candidate is the version the next promotion would rest on: among the use case's
versions not archived that have a succeeded current evaluation (on any dataset), the one
whose evaluation gate passes, else the one evaluated last (the newest such evaluation
first). Its gates are the promotion's own (promotions.services.gates: evaluation_gates and
review_gates, measured in bulk), so the roadmap and a promotion request never disagree.

Days are calendar days in the portal's time zone (settings.TIME_ZONE): a use case whose
phase changed yesterday evening has been 1 day in it this morning; "today" is
timezone.localdate(), as the milestones' due dates are read.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from promotions.services.gates import FAILED, INCOMPLETE, PASSED, format_rate

GATE_LABELS = {PASSED: "Passed", FAILED: "Failed", INCOMPLETE: "Incomplete"}

HEALTHY, AT_RISK, BLOCKED, RETIRED = "healthy", "at_risk", "blocked", "retired"
HEALTH_CHOICES = [
    (HEALTHY, "Healthy"),
    (AT_RISK, "At risk"),
    (BLOCKED, "Blocked"),
    (RETIRED, "Retired"),
]
HEALTH_LABELS = dict(HEALTH_CHOICES)

STALE_EVALUATION_DAYS = 30
LONG_IN_PHASE_DAYS = 180
# Phases from which a use case is expected to be evaluated regularly.
EVALUATED_PHASES = ("poc", "pilot", "production")

# What a reason is about: the health panel links each kind to where it is fixed
# (portfolio/views.py REASON_FIXES).
NEXT_PHASE = "next_phase"
EVALUATION_GATE = "evaluation_gate"
TARGET_DATE = "target_date"
MILESTONES = "milestones"
REVIEW_GATE = "review_gate"
STALE_EVALUATION = "stale_evaluation"
LONG_IN_PHASE = "long_in_phase"
ALERTS = "alerts"
REASON_KINDS = (
    NEXT_PHASE,
    EVALUATION_GATE,
    TARGET_DATE,
    MILESTONES,
    REVIEW_GATE,
    STALE_EVALUATION,
    LONG_IN_PHASE,
    ALERTS,
)


def days_between(moment: datetime.datetime, today: datetime.date) -> int:
    """Calendar days from `moment` to `today` in the portal's time zone (0 on the same day,
    never negative)."""
    return max((today - timezone.localdate(moment)).days, 0)


@dataclass
class Acceptance:
    """The best candidate's review gate (promotions.services.gates.review_gate): its latest
    closed single-prediction campaign's acceptance against the policy's threshold."""

    campaign: str
    campaign_id: int
    status: str  # the gate's: passed, failed, incomplete (no correct or incorrect verdict)
    summary: str  # the gate's words
    correct: int
    incorrect: int
    threshold: float
    use_lower_bound: bool  # the policy compares the Wilson lower bound, not the rate
    rate: float | None = None
    low: float | None = None

    @property
    def figure(self) -> float | None:
        return self.low if self.use_lower_bound else self.rate

    @property
    def verdicts(self) -> int:
        return self.correct + self.incorrect

    @property
    def is_below(self) -> bool:
        return self.status == FAILED

    @property
    def figure_text(self) -> str:
        """The figure as the gate writes it, never reading as the threshold when it differs."""
        return "" if self.figure is None else format_rate(self.figure, against=self.threshold)

    @property
    def threshold_text(self) -> str:
        return format_rate(self.threshold)


@dataclass(frozen=True)
class Reason:
    kind: str  # one of REASON_KINDS
    text: str


@dataclass
class Health:
    status: str
    reasons: list[Reason] = field(default_factory=list)

    @property
    def label(self) -> str:
        return HEALTH_LABELS[self.status]

    @property
    def texts(self) -> list[str]:
        return [reason.text for reason in self.reasons]


def health(
    *,
    phase: str,
    blocker: str | None,
    candidate: str = "",
    gate: str | None,
    gate_summary: str = "",
    acceptance: Acceptance | None,
    last_evaluation_at: datetime.datetime | None,
    days_in_phase: int,
    target_date: datetime.date | None,
    overdue_milestones: int,
    open_alerts: int | None,
    today: datetime.date,
) -> Health:
    """The use case's health and the reasons for it, by the module's rule. `gate` is the
    best candidate's (`candidate`, a version's name) evaluation gate status, `today` the
    local date (timezone.localdate())."""
    if phase == "retired":
        return Health(RETIRED)
    blocked = []
    if blocker:
        blocked.append(Reason(NEXT_PHASE, blocker))
    if gate == FAILED:
        text = f"Version {candidate}'s evaluation gate fails: {gate_summary}".strip()
        blocked.append(Reason(EVALUATION_GATE, text))
    if blocked:
        return Health(BLOCKED, blocked)
    risks = []
    if target_date is not None and phase != "production" and target_date < today:
        risks.append(Reason(TARGET_DATE, f"The target date ({target_date:%d %b %Y}) has passed."))
    if overdue_milestones:
        plural = "s" if overdue_milestones > 1 else ""
        risks.append(Reason(MILESTONES, f"{overdue_milestones} milestone{plural} overdue."))
    if acceptance is not None and acceptance.is_below:
        text = f"Version {candidate}'s review gate fails: {acceptance.summary}"
        risks.append(Reason(REVIEW_GATE, text))
    if phase in EVALUATED_PHASES and last_evaluation_at is not None:
        age = days_between(last_evaluation_at, today)
        if age > STALE_EVALUATION_DAYS:
            text = f"The last succeeded evaluation finished {age} days ago."
            risks.append(Reason(STALE_EVALUATION, text))
    if days_in_phase > LONG_IN_PHASE_DAYS:
        risks.append(Reason(LONG_IN_PHASE, f"In the same phase for {days_in_phase} days."))
    if open_alerts:
        plural = "s" if open_alerts > 1 else ""
        risks.append(Reason(ALERTS, f"{open_alerts} open alert{plural}."))
    return Health(AT_RISK, risks) if risks else Health(HEALTHY)


PIPELINE = ("idea", "scoping", "data", "poc", "pilot")


def value_by_currency(items) -> dict[str, dict[str, Decimal]]:
    """Expected yearly values summed per currency, never across currencies, as
    {currency: {"production": sum, "pipeline": sum}} with only the kinds some value was
    seen for. `items`: (phase, currency, value or None), one per use case or per group."""
    sums: dict[str, dict[str, Decimal]] = {}
    for phase, currency, value in items:
        kind = "production" if phase == "production" else "pipeline" if phase in PIPELINE else None
        if kind is None or value is None:
            continue
        money = sums.setdefault(currency or "", {})
        money[kind] = money.get(kind, Decimal(0)) + value
    return sums


def maturity_stage(in_production: int) -> str:
    """Portfolio maturity as the seed articles put it: how many use cases are in production."""
    if in_production == 0:
        return "None in production yet"
    if in_production == 1:
        return "The first one"
    if in_production <= 10:
        return "2–10 in production"
    return "10+ in production"
