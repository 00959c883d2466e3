"""The demo data: loads twice without duplicating, with finished evaluations."""

import pytest
from django.core.management import call_command

from registry.models import Evaluation, EvaluationDataset, ModelVersion
from usecases.models import UseCase


@pytest.mark.django_db  # in one transaction: the queued tasks are never sent
def test_load_demo_is_idempotent_and_opens_on_finished_evaluations():
    call_command("load_demo", verbosity=0)
    counts = (UseCase.objects.count(), ModelVersion.objects.count(), Evaluation.objects.count())
    call_command("load_demo", verbosity=0)
    again = (UseCase.objects.count(), ModelVersion.objects.count(), Evaluation.objects.count())
    assert counts == again
    assert EvaluationDataset.objects.count() == 2
    assert set(Evaluation.objects.values_list("status", flat=True)) == {"succeeded"}
    grocery = Evaluation.objects.get(
        use_case__slug="grocery-demand-forecast", model_version__version="1.1.0"
    )
    assert len(grocery.results["segments"]) == 20  # stores
    assert grocery.results["comparison"]["mae"]["difference"] < 0  # 1.1.0 beats production
    churn = Evaluation.objects.get(use_case__slug="bank-churn", model_version__version="1.0.0")
    assert churn.results["overall"]["roc_auc"]["value"] > 0.7
    assert churn.results["business_value"]["best_threshold"] is not None
    assert all(gate["passed"] is not None for gate in churn.gates)
    # The story the demo tells: each newer version passes its gates, its baseline does not.
    assert (grocery.passed_gates, churn.passed_gates) == (True, True)
    baselines = Evaluation.objects.filter(model_version__version__in=["1.0.0", "0.9.0"]).exclude(
        pk=churn.pk
    )
    assert [e.passed_gates for e in baselines] == [False, False]


@pytest.mark.django_db
def test_the_demo_has_logged_predictions_outcomes_and_a_started_review_campaign():
    from predictions.models import Prediction
    from reviews.models import Review, ReviewCampaign

    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)
    assert Prediction.objects.filter(use_case__slug="bank-churn").count() == 3000
    assert Prediction.objects.filter(outcome__isnull=False).count() == 1500
    (campaign,) = ReviewCampaign.objects.all()
    assert campaign.item_count == 40
    assert Review.objects.filter(campaign=campaign).count() == 30
