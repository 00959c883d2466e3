"""A use case's health on the roadmap, from figures already read (portfolio/selectors.py):
plain rules, no database.

The rule, stated once (the roadmap's legend repeats it):

- **Blocked**: something stops the next step. Its next phase lacks the evidence the
  promotion rules ask for (promotions.services.phases: Pilot needs a version in shadow or
  canary, Production one in production), or its best candidate's gates fail.
- **At risk**: the plan or the evidence is slipping. Its target date has passed before
  Production, a milestone is overdue, the latest review campaign's acceptance is under the
  use case's threshold, its last evaluation is older than STALE_EVALUATION_DAYS (from the
  proof of concept on), it has been in the same phase for more than LONG_IN_PHASE_DAYS, or
  monitoring has open alerts.
- **Healthy**: none of the above.
- Retired use cases have no health (they are listed as "Retired").

The best candidate is the version whose gates the next promotion would rest on: among the
use case's versions not archived, the one whose latest succeeded, non-superseded evaluation
passes its gates, else the one evaluated last. Its gates are read from that evaluation's
stored results (registry Evaluation.gates), as promotions/services/gates.py reads them:
Failed when a gating KPI fails, Incomplete when there is no gating KPI, one is not measured,
or a KPI was edited after the evaluation started; Passed otherwise.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

PASSED, FAILED, INCOMPLETE = "passed", "failed", "incomplete"
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


def gate_status(gates: list[dict], *, evaluated_at, kpis_changed_at) -> str:
    """A stored evaluation's gate result: passed, failed or incomplete (see the module)."""
    gating = [g for g in gates or [] if g.get("is_gating")]
    if not gating:
        return INCOMPLETE
    if any(g.get("passed") is False for g in gating):
        return FAILED
    if any(g.get("passed") is None for g in gating):
        return INCOMPLETE
    if kpis_changed_at is not None and kpis_changed_at > evaluated_at:
        return INCOMPLETE
    return PASSED


@dataclass
class Acceptance:
    """The latest single-prediction review campaign's acceptance, against the threshold."""

    campaign: str
    is_open: bool
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
        return self.figure is not None and self.figure < self.threshold


@dataclass
class Health:
    status: str
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return HEALTH_LABELS[self.status]


def health(
    *,
    phase: str,
    blocker: str | None,
    gates: str | None,
    acceptance: Acceptance | None,
    last_evaluation_at: datetime.datetime | None,
    days_in_phase: int,
    target_date: datetime.date | None,
    overdue_milestones: int,
    open_alerts: int | None,
    now: datetime.datetime,
) -> Health:
    """The use case's health and the reasons for it, by the module's rule."""
    if phase == "retired":
        return Health(RETIRED)
    blocked = []
    if blocker:
        blocked.append(blocker)
    if gates == FAILED:
        blocked.append("The best candidate's gates fail.")
    if blocked:
        return Health(BLOCKED, blocked)
    risks = []
    if target_date is not None and phase != "production" and target_date < now.date():
        risks.append(f"The target date ({target_date:%d %b %Y}) has passed.")
    if overdue_milestones:
        risks.append(
            f"{overdue_milestones} milestone{'s' if overdue_milestones > 1 else ''} overdue."
        )
    if acceptance is not None and acceptance.is_below:
        risks.append(
            f"Review acceptance {acceptance.figure:.0%} is under the threshold "
            f"{acceptance.threshold:.0%}."
        )
    if phase in EVALUATED_PHASES and last_evaluation_at is not None:
        age = (now - last_evaluation_at).days
        if age > STALE_EVALUATION_DAYS:
            risks.append(f"The last evaluation is {age} days old.")
    if days_in_phase > LONG_IN_PHASE_DAYS:
        risks.append(f"In the same phase for {days_in_phase} days.")
    if open_alerts:
        risks.append(f"{open_alerts} open alert{'s' if open_alerts > 1 else ''}.")
    return Health(AT_RISK, risks) if risks else Health(HEALTHY)


def maturity_stage(in_production: int) -> str:
    """Portfolio maturity as the seed articles put it: how many use cases are in production."""
    if in_production == 0:
        return "None in production yet"
    if in_production == 1:
        return "The first one"
    if in_production <= 10:
        return "2–10 in production"
    return "10+ in production"
