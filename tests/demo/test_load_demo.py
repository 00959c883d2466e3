"""The demo data: loads twice without changing, opens on finished evaluations, and its
deployments come from real promotions, with one request left waiting for Erik. The demo is
loaded once for the package (conftest.py)."""

import pytest
from django.urls import reverse

from predictions.models import Prediction
from promotions.models import Gate, PromotionRequest, StageChange
from promotions.selectors import waiting_for_user
from promotions.services import phases, policy, requests
from registry.models import Evaluation, EvaluationDataset, ModelVersion
from reviews.models import Review, ReviewCampaign
from usecases.models import AuditEvent, UseCase
from usecases.permissions import is_manager
from usecases.services.audit import verify_chain

Stage = ModelVersion.Stage
Status = PromotionRequest.Status


def _version(slug: str, version: str) -> ModelVersion:
    return ModelVersion.objects.get(use_case__slug=slug, version=version)


def test_loading_the_demo_again_changes_nothing(demo):
    first, again = demo
    assert first == again
    assert first["PromotionRequest"] == 7


@pytest.mark.django_db
def test_the_demo_opens_on_finished_evaluations_the_newer_versions_pass(demo):
    assert EvaluationDataset.objects.count() == 2
    assert EvaluationDataset.objects.filter(is_reference=True).count() == 2
    assert set(Evaluation.objects.values_list("status", flat=True)) == {"succeeded"}
    grocery = Evaluation.objects.get(
        use_case__slug="grocery-demand-forecast", model_version__version="1.1.0"
    )
    assert len(grocery.results["segments"]) == 20  # stores
    assert grocery.results["comparison"]["mae"]["difference"] < 0  # 1.1.0 beats production
    churn = Evaluation.objects.get(use_case__slug="bank-churn", model_version__version="1.0.0")
    assert churn.results["overall"]["roc_auc"]["value"] > 0.7
    assert churn.results["comparison"]  # compared with 0.9.0, in production by then
    assert churn.results["business_value"]["best_threshold"] is not None
    assert all(gate["passed"] is not None for gate in churn.gates)
    # The story the demo tells: each newer version passes its gates, its baseline does not.
    assert (grocery.passed_gates, churn.passed_gates) == (True, True)
    baselines = Evaluation.objects.filter(model_version__version__in=["1.0.0", "0.9.0"]).exclude(
        pk=churn.pk
    )
    assert [e.passed_gates for e in baselines] == [False, False]


@pytest.mark.django_db
def test_the_demo_has_logged_predictions_outcomes_and_a_started_review_campaign(demo):
    # The review campaign's two weeks (the monitoring's 30 days: test_demo_monitoring.py).
    reviewed = Prediction.objects.filter(use_case__slug="bank-churn", request_id__startswith="req-")
    assert reviewed.count() == 3000
    assert reviewed.filter(outcome__isnull=False).count() == 1500
    # Grocery: two weeks of 1.0.0 (production) and 1.1.0 (shadow) on the same requests.
    grocery = Prediction.objects.filter(use_case__slug="grocery-demand-forecast")
    assert grocery.filter(model_version__version="1.0.0").count() == 2830
    assert grocery.filter(model_version__version="1.1.0").count() == 2830
    (campaign,) = ReviewCampaign.objects.all()
    assert campaign.item_count == 40
    assert Review.objects.filter(campaign=campaign).count() == 30
    reviewers = set(Review.objects.values_list("reviewer__username", flat=True))
    assert reviewers == {"erik", "eva"}  # the churn use case's two experts


@pytest.mark.django_db
def test_every_deployed_version_got_its_stage_from_an_executed_promotion(demo):
    deployed = {
        (v.use_case.slug, v.version): v.stage
        for v in ModelVersion.objects.exclude(stage=Stage.REGISTERED).select_related("use_case")
    }
    assert deployed == {
        ("grocery-demand-forecast", "1.0.0"): Stage.PRODUCTION,
        ("grocery-demand-forecast", "1.1.0"): Stage.SHADOW,
        ("bank-churn", "0.9.0"): Stage.PRODUCTION,
        ("bank-churn", "1.0.0"): Stage.SHADOW,
    }
    changes = StageChange.objects.select_related("request", "model_version")
    assert changes.count() == 6  # baselines: shadow, production; candidates: shadow
    for change in changes:
        assert change.request is not None and not change.is_rollback
        assert change.request.status == Status.EXECUTED
        assert change.request.model_version == change.model_version
        assert change.to_stage == change.request.target_stage
    for version in ModelVersion.objects.exclude(stage=Stage.REGISTERED):
        last = version.stage_changes.order_by("-changed_at", "-pk").first()
        assert last.to_stage == version.stage
    assert sorted(PromotionRequest.objects.values_list("status", flat=True)) == [
        *[Status.EXECUTED] * 6,
        Status.PENDING,
    ]


@pytest.mark.django_db
def test_each_promotion_has_its_risk_tiers_approvals_and_nobody_approves_their_own(demo):
    expected = {
        "grocery-demand-forecast": {"expert": 1, "data_scientist": 1, "manager": 0},  # medium
        "bank-churn": {"expert": 2, "data_scientist": 0, "manager": 1},  # high
    }
    for request in PromotionRequest.objects.select_related("use_case"):
        assert request.required_approvals == expected[request.use_case.slug]
        approvers = set(request.decisions.values_list("user", flat=True))
        assert request.requested_by_id not in approvers
        assert set(request.decisions.values_list("verdict", flat=True)) == {"approve"}
        if request.status == Status.EXECUTED:
            assert policy.missing_approvals(request) == {}


@pytest.mark.django_db
def test_gates_pass_wherever_no_manager_overrode_them_with_a_justification(demo):
    for request in PromotionRequest.objects.prefetch_related("gates"):
        statuses = {gate.kind: gate.status for gate in request.gates.all()}
        if set(statuses.values()) == {Gate.Status.PASSED}:
            assert request.overridden_by is None
        else:
            assert is_manager(request.overridden_by)
            assert "Recording the deployment as it stands" in request.override_justification
    # Overrides only bring in the baselines, which served before the gates existed.
    overridden = PromotionRequest.objects.exclude(overridden_by=None)
    assert sorted(overridden.values_list("model_version__version", "target_stage")) == [
        ("0.9.0", "production"),
        ("0.9.0", "shadow"),
        ("1.0.0", "production"),
        ("1.0.0", "shadow"),
    ]
    assert {r.model_version.use_case.slug for r in overridden} == {
        "bank-churn",
        "grocery-demand-forecast",
    }
    assert not overridden.filter(model_version__version="1.0.0", use_case__slug="bank-churn")
    verbs = AuditEvent.objects.filter(verb="promotion.gates_overridden")
    assert verbs.count() == 4
    assert all(e.after["justification"] for e in verbs)


@pytest.mark.django_db
def test_one_pending_request_waits_for_erik_and_his_approval_executes_it(demo, users, client):
    (pending,) = PromotionRequest.objects.filter(status=Status.PENDING)
    assert (pending.model_version.version, pending.target_stage, pending.traffic_percent) == (
        "1.1.0",
        Stage.CANARY,
        10,
    )
    assert pending.requested_by == users["olivia"]
    assert list(pending.decisions.values_list("user__username", flat=True)) == ["dana"]
    assert {gate.status for gate in pending.gates.all()} == {Gate.Status.PASSED}
    assert waiting_for_user(users["erik"]) == [pending]
    for username in set(users) - {"erik"}:
        assert waiting_for_user(users[username]) == [], username
    client.force_login(users["erik"])
    for url, title in (
        (reverse("home"), "Waiting for your approval"),
        (reverse("promotions:overview"), "Waiting for you"),
    ):
        html = client.get(url).content.decode()
        waiting = html.split('id="waiting-for-you"')[1].split("</section>")[0]
        assert title in waiting and "Grocery demand forecast" in waiting and "1.1.0" in waiting

    requests.approve(pending, by=users["erik"], comment="Go for two stores.")
    pending.refresh_from_db()
    assert pending.status == Status.EXECUTED
    canary = _version("grocery-demand-forecast", "1.1.0")
    assert (canary.stage, canary.traffic_percent) == (Stage.CANARY, 10)


@pytest.mark.django_db
def test_each_phase_is_borne_out_by_the_versions_stages(demo):
    phase_of = dict(UseCase.objects.values_list("slug", "phase"))
    assert phase_of == {
        "grocery-demand-forecast": UseCase.Phase.PILOT,
        "bank-churn": UseCase.Phase.PILOT,
        "invoice-fraud-screening": UseCase.Phase.IDEA,
        "call-centre-volume": UseCase.Phase.SCOPING,
        "van-maintenance": UseCase.Phase.DATA,
        "price-elasticity": UseCase.Phase.IDEA,
    }
    for use_case in UseCase.objects.all():
        assert phases.missing_evidence(use_case, use_case.phase) is None
        deployed = use_case.versions.exclude(stage__in=[Stage.REGISTERED, Stage.ARCHIVED])
        steps = UseCase.Phase.values
        if deployed.exists():  # nothing serves before the pilot
            assert steps.index(use_case.phase) >= steps.index(UseCase.Phase.PILOT)
    # Every step went one at a time, with a note; Pilot came once a version was in shadow,
    # and before any version reached production.
    moves = AuditEvent.objects.filter(verb="usecase.phase_changed").order_by("pk")
    for event in moves:
        assert event.after["note"] and "skip_justification" not in event.after
    for slug in ("grocery-demand-forecast", "bank-churn"):
        (pilot,) = [e for e in moves if e.use_case_slug == slug and e.after["phase"] == "pilot"]
        changes = AuditEvent.objects.filter(verb="version.stage_changed", use_case_slug=slug)
        before = [event.after["stage"] for event in changes if event.pk < pilot.pk]
        assert "shadow" in before and "production" not in before


@pytest.mark.django_db
def test_the_demos_audit_chain_verifies(demo):
    checked, problems = verify_chain()
    assert checked == AuditEvent.objects.count() > 0
    assert problems == []
