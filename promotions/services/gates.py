"""A promotion's gates, measured from the evidence (DESIGN.md "Deployment stages and
promotion"): each is passed, failed or incomplete (not measurable), never passed by default.

- evaluation: the version's latest succeeded evaluation on the use case's reference dataset
  passes every gating KPI, and no KPI changed since it ran (any target stage);
- review: the version's latest closed single-prediction review campaign has an acceptance
  rate at or above the policy's threshold, on the point estimate or the Wilson lower bound
  (production only);
- data quality: the share of the version's logged predictions breaking a data-quality rule is
  under the policy's threshold (canary and production: a version is first logged in shadow);
  incomplete while the tally counted with rules changed since (it is being recounted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from predictions.selectors import violation_rate
from promotions.models import Gate, PromotionPolicy
from registry.models import Evaluation, ModelVersion, PredictionSet
from registry.selectors import (
    definitions_changed,
    latest_succeeded_evaluation,
    reference_dataset,
)
from reviews.models import ReviewCampaign
from reviews.selectors import campaign_results

Stage = ModelVersion.Stage
PASSED, FAILED, INCOMPLETE = Gate.Status.PASSED, Gate.Status.FAILED, Gate.Status.INCOMPLETE


@dataclass
class GateResult:
    kind: str
    status: str
    summary: str
    detail: dict = field(default_factory=dict)
    evaluation: Evaluation | None = None
    campaign: ReviewCampaign | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def measure(version: ModelVersion, target_stage: str, policy: PromotionPolicy) -> list[GateResult]:
    """The gates a promotion of `version` to `target_stage` must pass, measured now."""
    gates = [evaluation_gate(version)]
    if target_stage == Stage.PRODUCTION:
        gates.append(review_gate(version, policy))
    if target_stage in (Stage.CANARY, Stage.PRODUCTION):
        gates.append(quality_gate(version, policy))
    return gates


def _pct(rate: float) -> str:
    return f"{rate:.1%}"


def evaluation_gate(version: ModelVersion) -> GateResult:
    kind = Gate.Kind.EVALUATION
    use_case = version.use_case
    dataset = reference_dataset(use_case)
    if dataset is None:
        return GateResult(kind, INCOMPLETE, "No evaluation dataset: upload one and evaluate.")
    where = {"dataset": dataset.pk, "dataset_name": dataset.name}
    evaluation = latest_succeeded_evaluation(version, dataset)
    if evaluation is None:
        current = (
            Evaluation.objects.filter(model_version=version, dataset=dataset)
            .order_by("-created_at", "-pk")
            .first()
        )
        state = f"its last evaluation {current.get_status_display().lower()}" if current else ""
        summary = f"No succeeded evaluation on “{dataset.name}”" + (f": {state}." if state else ".")
        return GateResult(kind, INCOMPLETE, summary, where)
    found = {"evaluation": evaluation.pk, **where}
    gating = [g for g in evaluation.gates if g.get("is_gating")]
    if not use_case.kpis.filter(is_gating=True).exists():
        return GateResult(kind, INCOMPLETE, "No gating KPI is defined.", found, evaluation)
    changed = definitions_changed(evaluation)
    if changed:
        what = " and ".join(changed)
        summary = f"{what[0].upper()}{what[1:]} changed after this evaluation ran: run it again."
        return GateResult(kind, INCOMPLETE, summary, found, evaluation)
    outdated = _outdated(evaluation)
    if outdated:
        return GateResult(kind, INCOMPLETE, f"{outdated}: run it again.", found, evaluation)
    unmeasured = [g["name"] for g in gating if g.get("passed") is None]
    failing = [g["name"] for g in gating if g.get("passed") is False]
    detail = {**found, "kpis": [_kpi_detail(g) for g in gating]}
    if failing:
        summary = f"{len(failing)} of {len(gating)} gating KPIs fail: {', '.join(failing)}."
        return GateResult(kind, FAILED, summary, detail, evaluation)
    if unmeasured:
        summary = f"Not measured on “{dataset.name}”: {', '.join(unmeasured)}."
        return GateResult(kind, INCOMPLETE, summary, detail, evaluation)
    n = len(gating)
    subject = "The gating KPI passes" if n == 1 else f"All {n} gating KPIs pass"
    summary = f"{subject} on “{dataset.name}”."
    return GateResult(kind, PASSED, summary, detail, evaluation)


def _outdated(evaluation: Evaluation) -> str:
    """Whether the predictions it scored were replaced since it started (what changed in the
    definitions is registry.selectors.definitions_changed)."""
    uploaded = (
        PredictionSet.objects.filter(
            model_version_id=evaluation.model_version_id, dataset_id=evaluation.dataset_id
        )
        .values_list("created_at", flat=True)
        .first()
    )
    if uploaded is None or uploaded > evaluation.created_at:
        return "The predictions were uploaded again after this evaluation started"
    return ""


def _kpi_detail(gate: dict) -> dict:
    keys = ("kpi", "name", "metric", "value", "low", "high", "threshold", "mode", "passed")
    return {key: gate.get(key) for key in keys}


def review_gate(version: ModelVersion, policy: PromotionPolicy) -> GateResult:
    kind = Gate.Kind.REVIEW
    campaign = (
        ReviewCampaign.objects.filter(
            model_version=version,
            mode=ReviewCampaign.Mode.SINGLE,
            status=ReviewCampaign.Status.CLOSED,
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if campaign is None:
        return GateResult(kind, INCOMPLETE, "No closed review campaign of this version.")
    accepted = campaign_results(campaign)["acceptance"]
    wilson = policy.acceptance_bound == PromotionPolicy.AcceptanceBound.WILSON
    figure = accepted["low"] if wilson else accepted["rate"]
    detail = {
        "campaign": campaign.pk,
        "campaign_name": campaign.name,
        "accepted": accepted["successes"],
        "verdicts": accepted["n"],
        "rate": accepted["rate"],
        "low": accepted["low"],
        "high": accepted["high"],
        "bound": policy.acceptance_bound,
        "threshold": policy.acceptance_threshold,
    }
    if figure is None:
        summary = f"“{campaign.name}” holds no correct or incorrect verdict."
        return GateResult(kind, INCOMPLETE, summary, detail, campaign=campaign)
    what = "Wilson lower bound" if wilson else "acceptance"
    n = accepted["n"]
    passed = figure >= policy.acceptance_threshold
    sign = "≥" if passed else "<"
    summary = (
        f"{what} {_pct(figure)} {sign} {_pct(policy.acceptance_threshold)} "
        f"on {n} verdict{'s' if n != 1 else ''} in “{campaign.name}”."
    )
    status = PASSED if passed else FAILED
    return GateResult(kind, status, summary[0].upper() + summary[1:], detail, campaign=campaign)


def quality_gate(version: ModelVersion, policy: PromotionPolicy) -> GateResult:
    kind = Gate.Kind.DATA_QUALITY
    tally = violation_rate(version)
    detail = {**tally, "threshold": policy.max_violation_rate}
    if not tally["rows"]:
        return GateResult(
            kind, INCOMPLETE, "No predictions of this version are logged yet.", detail
        )
    if tally["rules_changed_at"] is not None:
        detail["rules_changed_at"] = tally["rules_changed_at"].isoformat()
        summary = (
            "The data-quality rules changed after these predictions were counted: they are "
            "being recounted with the new rules."
        )
        return GateResult(kind, INCOMPLETE, summary, detail)
    rate = tally["rate"]
    passed = rate < policy.max_violation_rate
    sign = "<" if passed else "≥"
    summary = (
        f"{_pct(rate)} of {tally['rows']:,} logged predictions break a rule "
        f"({sign} {_pct(policy.max_violation_rate)})."
    )
    return GateResult(kind, PASSED if passed else FAILED, summary, detail)
