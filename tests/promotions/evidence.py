"""Evidence for promotion tests, made through the real services where they exist: an
evaluation on the reference dataset with a gating KPI's result, a closed review campaign
with chosen verdicts, a data-quality tally."""

from __future__ import annotations

from django.utils import timezone

from predictions.models import QualityTally
from registry.models import Evaluation, EvaluationDataset, ModelVersion
from reviews.models import ReviewCampaign
from reviews.services import campaigns, reviewing
from tests.factories import (
    KPIFactory,
    evaluation_dataset,
    log_predictions,
    make_version,
    prediction_set,
)


def gating_kpi(use_case):
    return KPIFactory(use_case=use_case, name="Forecast error", metric="mae")


def reference(use_case, by) -> EvaluationDataset:
    return evaluation_dataset(use_case, by, [1.0, 2.0, 3.0, 4.0], name="holdout")


def evaluation(version: ModelVersion, dataset, by, *, passes: bool = True, **fields) -> Evaluation:
    """A succeeded evaluation whose every gating KPI passes (or fails), finished now, of
    the version's predictions on the dataset (uploaded first when missing)."""
    use_case = version.use_case
    if not version.prediction_sets.filter(dataset=dataset).exists():
        prediction_set(version, dataset, by, prediction=[1.0] * dataset.row_count)
    gates = [
        {
            "kpi": kpi.pk,
            "name": kpi.name,
            "metric": kpi.metric,
            "segment": kpi.segment,
            "value": 1.0 if passes else 99.0,
            "threshold": kpi.gate_threshold,
            "is_gating": True,
            "passed": passes,
        }
        for kpi in use_case.kpis.filter(is_gating=True)
    ]
    values = {
        "use_case": use_case,
        "model_version": version,
        "dataset": dataset,
        "requested_by": by,
        "status": Evaluation.Status.SUCCEEDED,
        "progress": 100,
        "results": {"overall": {}},
        "gates": gates,
        "passed_gates": passes,
        "finished_at": timezone.now(),
        **fields,
    }
    return Evaluation.objects.create(**values)


def closed_campaign(version, owner, reviewer, *, correct: int, incorrect: int) -> ReviewCampaign:
    """A closed single-mode campaign of `version` whose reviewer gave those verdicts."""
    n = correct + incorrect
    if not version.logged_predictions.exists():
        log_predictions(version, n)
    campaign = campaigns.create_campaign(
        version.use_case,
        by=owner,
        name=f"Check of {version.version}",
        model_version=version,
        sample_size=n,
    )
    for i in range(n):
        slot = reviewing.claim_next(campaign, reviewer=reviewer)
        verdict = "correct" if i < correct else "incorrect"
        reviewing.submit_review(slot, reviewer=reviewer, verdict=verdict)
    return campaigns.close_campaign(campaign, by=owner)


def tally(version, *, rows: int, violating: int) -> QualityTally:
    return QualityTally.objects.update_or_create(
        model_version=version,
        defaults={"use_case": version.use_case, "rows_checked": rows, "rows_violating": violating},
    )[0]


def at_stage(version: ModelVersion, stage: str, traffic: int | None = None) -> ModelVersion:
    """Put a version in a stage directly (set-up only: the product moves stages by promotion)."""
    ModelVersion.objects.filter(pk=version.pk).update(stage=stage, traffic_percent=traffic)
    version.refresh_from_db()
    return version


def ready_version(use_case, personas, name: str = "2.0.0", *, stage: str = "registered"):
    """A version of `use_case` in `stage` with passing evidence for every gate."""
    by = personas["data_scientist"]
    if not use_case.kpis.exists():
        gating_kpi(use_case)
    dataset = use_case.datasets.order_by("-created_at").first() or reference(use_case, by)
    version = at_stage(make_version(use_case, name, by), stage)
    evaluation(version, dataset, by)
    tally(version, rows=100, violating=1)
    closed_campaign(version, personas["owner"], personas["expert"], correct=9, incorrect=1)
    return version
