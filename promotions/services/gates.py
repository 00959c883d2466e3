"""A promotion's gates, measured from the evidence (DESIGN.md "Deployment stages and
promotion"): each is passed, failed or incomplete (not measurable), never passed by default.

- evaluation: the version's current evaluation on the use case's reference dataset
  succeeded and passes every gating KPI, and neither the definitions (KPIs, value model,
  decision threshold) nor its predictions changed since it ran (any target stage);
- review: the version's latest closed single-prediction review campaign has an acceptance
  rate at or above the policy's threshold, on the point estimate or the Wilson lower bound
  (production only);
- data quality: the share of the version's logged predictions breaking a data-quality rule is
  under the policy's threshold (canary and production: a version is first logged in shadow);
  incomplete while the tally counted with rules changed since (it is being recounted).

The evaluation and review gates are measured in bulk (evaluation_gates, review_gates: a
fixed number of queries for any number of versions); a promotion measures one version
through them, and the roadmap (portfolio/selectors.py) every candidate, so both say the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery

from predictions.selectors import violation_rate
from promotions.models import Gate, PromotionPolicy
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet
from registry.selectors import changed_since
from reviews.models import Review, ReviewCampaign
from reviews.selectors import proportion
from usecases.models import KPI, UseCase, ValueModel

Stage = ModelVersion.Stage
PASSED, FAILED, INCOMPLETE = Gate.Status.PASSED, Gate.Status.FAILED, Gate.Status.INCOMPLETE


class VersionRef(Protocol):
    """What the bulk gates read of a version: a ModelVersion, or any row with these two."""

    pk: int
    use_case_id: int


@dataclass
class GateResult:
    kind: str
    status: str
    summary: str
    detail: dict = field(default_factory=dict)
    # The evaluation or the campaign it rests on, as the bulk read it (a row, not a model:
    # the roadmap measures hundreds); `evaluation` and `campaign` make the model of it.
    evaluation_row: dict | None = None
    campaign_row: dict | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @cached_property
    def evaluation(self) -> Evaluation | None:
        return _instance(Evaluation, self.evaluation_row)

    @cached_property
    def campaign(self) -> ReviewCampaign | None:
        return _instance(ReviewCampaign, self.campaign_row)


def _instance(model, row: dict | None):
    """A model instance of the fields of `row` (the others deferred), as a query makes it."""
    if row is None:
        return None
    names = [f.attname for f in model._meta.concrete_fields if f.attname in row]
    return model.from_db(DEFAULT_DB_ALIAS, names, [row[name] for name in names])


def measure(version: ModelVersion, target_stage: str, policy: PromotionPolicy) -> list[GateResult]:
    """The gates a promotion of `version` to `target_stage` must pass, measured now."""
    gates = [evaluation_gate(version)]
    if target_stage == Stage.PRODUCTION:
        gates.append(review_gate(version, policy))
    if target_stage in (Stage.CANARY, Stage.PRODUCTION):
        gates.append(quality_gate(version, policy))
    return gates


def format_rate(rate: float, *, against: float | None = None) -> str:
    """A rate as a percentage with one decimal ("66.7%"); with as many more as it takes (up
    to four) not to read as `against` when it differs from it: "89.96%" against "90.0%",
    never "90.0% < 90.0%"."""
    for decimals in range(1, 5):
        text = f"{rate:.{decimals}%}"
        if against is None or rate == against or text != f"{against:.{decimals}%}":
            return text
    return text


# The evaluation gate


def evaluation_gate(version: ModelVersion) -> GateResult:
    """The evaluation gate of one version (evaluation_gates' rule and queries)."""
    return evaluation_gates([version])[version.pk]


def current_runs(*, use_case_ids=None, version_ids=None) -> list[dict]:
    """The current evaluations (not superseded by a re-run) of those use cases or versions,
    one row each: what the evaluation gate reads (its dataset, status, start, gates, decision
    threshold, whether its predictions are still those it scored) and what a page shows
    beside it (when it finished, its version's name and stage). One query."""
    where = {"use_case_id__in": use_case_ids} if version_ids is None else {}
    if version_ids is not None:
        where["model_version_id__in"] = version_ids
    # Its predictions are still those it scored: their set (one per version and dataset)
    # was uploaded before it started, not replaced since.
    scored = PredictionSet.objects.filter(
        model_version=OuterRef("model_version_id"),
        dataset=OuterRef("dataset_id"),
        created_at__lte=OuterRef("created_at"),
    )
    return list(
        Evaluation.objects.current()
        .filter(**where)
        .annotate(predictions_kept=Exists(scored))
        .values(
            *("id", "use_case_id", "model_version_id", "dataset_id", "status", "created_at"),
            *("finished_at", "gates", "threshold", "predictions_kept"),
            *("model_version__version", "model_version__stage"),
        )
    )


def evaluation_gates(
    versions: Iterable[VersionRef], *, runs: list[dict] | None = None
) -> dict[int, GateResult]:
    """The evaluation gate of each version, by its id, in three queries whatever their
    number: the use cases with their reference dataset (registry.selectors.reference_dataset's:
    the one marked, else the newest) and the last save of their value model and KPIs; the
    versions' current evaluations (current_runs; `runs` when the caller read them already,
    for these versions' use cases); the KPIs.

    Incomplete without a reference dataset or a succeeded current evaluation on it (the
    newest: a re-run supersedes the run it repeats), without a gating KPI, when the
    definitions changed after the evaluation started (a KPI added, edited or removed, the
    value model saved, the decision threshold moved: as registry.selectors.
    definitions_changed says it) or the predictions were uploaded again; then failed when a
    gating KPI fails, incomplete when one is not measured, else passed.
    """
    versions = list(versions)
    if not versions:
        return {}
    use_case_ids = {version.use_case_id for version in versions}
    reference = EvaluationDataset.objects.filter(use_case=OuterRef("pk")).order_by(
        "-is_reference", "-created_at", "-pk"
    )
    value_model = ValueModel.objects.filter(use_case=OuterRef("pk"))
    kpi_saved = KPI.objects.filter(use_case=OuterRef("pk")).order_by("-updated_at")
    use_cases = {
        row["pk"]: row
        for row in UseCase.objects.filter(pk__in=use_case_ids)
        .annotate(
            dataset_id=Subquery(reference.values("pk")[:1]),
            dataset_name=Subquery(reference.values("name")[:1]),
            value_model_at=Subquery(value_model.values("updated_at")[:1]),
            kpis_saved_at=Subquery(kpi_saved.values("updated_at")[:1]),  # the last save
        )
        .values(
            *("pk", "task_type", "decision_threshold"),
            *("dataset_id", "dataset_name", "value_model_at", "kpis_saved_at"),
        )
    }
    dataset_of = {version.pk: use_cases[version.use_case_id]["dataset_id"] for version in versions}
    if runs is None:
        runs = current_runs(version_ids=list(dataset_of))
    on_reference = {
        run["model_version_id"]: run
        for run in runs
        if run["model_version_id"] in dataset_of
        and run["dataset_id"] == dataset_of[run["model_version_id"]]
    }
    kpis: dict[int, list[tuple[int, bool]]] = defaultdict(list)  # (id, is gating)
    for use_case_id, *kpi in KPI.objects.filter(use_case_id__in=use_case_ids).values_list(
        "use_case_id", "pk", "is_gating"
    ):
        kpis[use_case_id].append(tuple(kpi))
    return {
        version.pk: _evaluation_gate(
            use_cases[version.use_case_id],
            on_reference.get(version.pk),
            kpis=kpis[version.use_case_id],
        )
        for version in versions
    }


def _evaluation_gate(use_case: dict, run: dict | None, *, kpis: list[tuple]) -> GateResult:
    """One version's evaluation gate from the rows evaluation_gates read (no query): `run`
    is its current evaluation on the reference dataset."""
    kind = Gate.Kind.EVALUATION
    if use_case["dataset_id"] is None:
        return GateResult(kind, INCOMPLETE, "No evaluation dataset: upload one and evaluate.")
    name = use_case["dataset_name"]
    where = {"dataset": use_case["dataset_id"], "dataset_name": name}
    if run is None or run["status"] != Evaluation.Status.SUCCEEDED:
        status = Evaluation.Status(run["status"]).label.lower() if run else ""
        state = f"its last evaluation {status}" if run else ""
        summary = f"No succeeded evaluation on “{name}”" + (f": {state}." if state else ".")
        return GateResult(kind, INCOMPLETE, summary, where)
    evaluation = run
    found = {"evaluation": evaluation["id"], **where}
    gating = [g for g in evaluation["gates"] or [] if g.get("is_gating")]

    def result(status: str, summary: str, detail: dict = found) -> GateResult:
        return GateResult(kind, status, summary, detail, evaluation_row=evaluation)

    if not any(is_gating for _, is_gating in kpis):
        return result(INCOMPLETE, "No gating KPI is defined.")
    changed = _changed(use_case, evaluation, kpis)
    if changed:
        what = " and ".join(changed)
        summary = f"{what[0].upper()}{what[1:]} changed after this evaluation ran: run it again."
        return result(INCOMPLETE, summary)
    if not evaluation["predictions_kept"]:  # replaced since it started
        return result(
            INCOMPLETE,
            "The predictions were uploaded again after this evaluation started: run it again.",
        )
    unmeasured = [g["name"] for g in gating if g.get("passed") is None]
    failing = [g["name"] for g in gating if g.get("passed") is False]
    detail = {**found, "kpis": [_kpi_detail(g) for g in gating]}
    if failing:
        summary = f"{len(failing)} of {len(gating)} gating KPIs fail: {', '.join(failing)}."
        return result(FAILED, summary, detail)
    if unmeasured or not gating:
        summary = f"Not measured on “{name}”: {', '.join(unmeasured) or 'no gating KPI'}."
        return result(INCOMPLETE, summary, detail)
    n = len(gating)
    subject = "The gating KPI passes" if n == 1 else f"All {n} gating KPIs pass"
    return result(PASSED, f"{subject} on “{name}”.", detail)


def _changed(use_case: dict, evaluation: dict, kpis: list[tuple]) -> list[str]:
    """registry.selectors.definitions_changed's rule on the rows read in bulk."""
    return changed_since(
        evaluation["created_at"],
        measured={gate.get("kpi") for gate in evaluation["gates"] or []},
        kpi_ids={pk for pk, _ in kpis},
        kpis_saved_at=use_case["kpis_saved_at"],  # the latest KPI saved
        value_model_at=use_case["value_model_at"],
        binary=use_case["task_type"] == UseCase.TaskType.BINARY,
        threshold=evaluation["threshold"],
        decision_threshold=use_case["decision_threshold"],
    )


def _kpi_detail(gate: dict) -> dict:
    keys = ("kpi", "name", "metric", "value", "low", "high", "threshold", "mode", "passed")
    return {key: gate.get(key) for key in keys}


# The review gate


def review_gate(version: ModelVersion, policy: PromotionPolicy) -> GateResult:
    """The review gate of one version (review_gates' rule and queries)."""
    return review_gates([version], {version.use_case_id: policy})[version.pk]


def review_gates(
    versions: Iterable[VersionRef], policies: Mapping[int, PromotionPolicy]
) -> dict[int, GateResult]:
    """The review gate of each version, by its id, against its use case's policy (`policies`
    by use case id; the defaults where one is missing): one query whatever their number, the
    latest closed single-prediction campaign of each version with its verdict counts."""
    versions = list(versions)
    if not versions:
        return {}
    closed = ReviewCampaign.objects.filter(
        mode=ReviewCampaign.Mode.SINGLE, status=ReviewCampaign.Status.CLOSED
    )
    newest = closed.filter(model_version=OuterRef("model_version_id")).order_by(
        "-created_at", "-pk"
    )
    verdict = Review.Verdict
    latest = {
        campaign["model_version_id"]: campaign
        for campaign in closed.filter(model_version_id__in=[version.pk for version in versions])
        .alias(newest_id=Subquery(newest.values("pk")[:1]))
        .filter(pk=F("newest_id"))
        .values("id", "name", "use_case_id", "model_version_id", "mode", "status")
        .annotate(
            correct=Count("reviews", filter=Q(reviews__verdict=verdict.CORRECT)),
            incorrect=Count("reviews", filter=Q(reviews__verdict=verdict.INCORRECT)),
        )
    }
    defaults = PromotionPolicy()  # what holds until an owner saves a policy
    return {
        version.pk: _review_gate(
            latest.get(version.pk), policies.get(version.use_case_id, defaults)
        )
        for version in versions
    }


def _review_gate(campaign: dict | None, policy: PromotionPolicy) -> GateResult:
    kind = Gate.Kind.REVIEW
    if campaign is None:
        return GateResult(kind, INCOMPLETE, "No closed review campaign of this version.")
    # correct / (correct + incorrect), unsure verdicts left out: reviews.selectors.acceptance
    correct, name = campaign["correct"], campaign["name"]
    accepted = proportion(correct, correct + campaign["incorrect"])
    wilson = policy.acceptance_bound == PromotionPolicy.AcceptanceBound.WILSON
    figure = accepted["low"] if wilson else accepted["rate"]
    threshold = policy.acceptance_threshold
    detail = {
        "campaign": campaign["id"],
        "campaign_name": name,
        "accepted": accepted["successes"],
        "verdicts": accepted["n"],
        "rate": accepted["rate"],
        "low": accepted["low"],
        "high": accepted["high"],
        "bound": policy.acceptance_bound,
        "threshold": threshold,
    }
    if figure is None:
        summary = f"“{name}” holds no correct or incorrect verdict."
        return GateResult(kind, INCOMPLETE, summary, detail, campaign_row=campaign)
    what = "Wilson lower bound" if wilson else "acceptance"
    n = accepted["n"]
    passed = figure >= threshold
    sign = "≥" if passed else "<"
    summary = (
        f"{what} {format_rate(figure, against=threshold)} {sign} {format_rate(threshold)} "
        f"on {n} verdict{'s' if n != 1 else ''} in “{name}”."
    )
    status = PASSED if passed else FAILED
    return GateResult(kind, status, summary[0].upper() + summary[1:], detail, campaign_row=campaign)


# The data-quality gate


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
        f"{format_rate(rate, against=policy.max_violation_rate)} of {tally['rows']:,} logged "
        f"predictions break a rule ({sign} {format_rate(policy.max_violation_rate)})."
    )
    return GateResult(kind, PASSED if passed else FAILED, summary, detail)
