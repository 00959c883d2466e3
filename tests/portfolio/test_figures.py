"""The roadmap's figures mean what they say (issue 13's review): its evaluation gate is the
promotion's own, its review acceptance the review gate's, its days are calendar days in the
portal's time zone, its last evaluation the last that succeeded, its maturity that of every
use case the user sees, its percentages never read as the threshold they differ from, and
two use cases of one title are two rows of the timeline."""

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from portfolio import health as rules
from portfolio import selectors
from promotions.models import PromotionPolicy
from promotions.services import gates
from registry.models import Evaluation, PredictionSet
from reviews.services import campaigns
from tests.conftest import login
from tests.factories import (
    KPIFactory,
    UseCaseFactory,
    ValueModelFactory,
    evaluation_dataset,
    make_version,
)
from tests.portfolio.test_roadmap import content, row_of
from tests.promotions.evidence import at_stage, closed_campaign, evaluation, gating_kpi, reference
from usecases.models import Milestone, UseCase

D = datetime.date
UTC = datetime.UTC


def row_for(use_case, **kwargs) -> selectors.RoadmapRow:
    (row,) = selectors.roadmap_rows(UseCase.objects.filter(pk=use_case.pk), **kwargs)
    return row


# The evaluation gate: the promotion's own


def _non_reference(use_case, ds, version):
    marked = reference(use_case, ds)
    marked.is_reference = True
    marked.save()
    other = evaluation_dataset(use_case, ds, [1.0, 2.0, 3.0, 4.0], name="other")
    evaluation(version, other, ds, passes=True)


def _kpi_deleted(use_case, ds, version):
    extra = KPIFactory(use_case=use_case, name="Bias", metric="rmse")
    evaluation(version, reference(use_case, ds), ds, passes=True)
    extra.delete()


def _value_model_saved(use_case, ds, version):
    evaluation(version, reference(use_case, ds), ds, passes=True)
    ValueModelFactory(use_case=use_case)


def _failing_then_kpi_edited(use_case, ds, version):
    evaluation(version, reference(use_case, ds), ds, passes=False)
    use_case.kpis.get().save()


def _predictions_uploaded_again(use_case, ds, version):
    evaluation(version, reference(use_case, ds), ds, passes=True)
    PredictionSet.objects.filter(model_version=version).update(
        created_at=timezone.now() + datetime.timedelta(seconds=1)
    )


def _threshold_moved(use_case, ds, version):
    UseCase.objects.filter(pk=use_case.pk).update(task_type="binary", decision_threshold=0.6)
    evaluation(version, reference(use_case, ds), ds, passes=True, threshold=0.5)


def _failed_run_only(use_case, ds, version):
    dataset = reference(use_case, ds)
    evaluation(version, dataset, ds, passes=True)  # then run again, and the re-run failed
    Evaluation.objects.filter(model_version=version).update(superseded_at=timezone.now())
    evaluation(version, dataset, ds, status=Evaluation.Status.FAILED)


@pytest.mark.parametrize(
    ("setup", "status", "summary"),
    [
        (lambda uc, ds, v: evaluation(v, reference(uc, ds), ds), "passed", "The gating KPI"),
        (
            lambda uc, ds, v: evaluation(v, reference(uc, ds), ds, passes=False),
            "failed",
            "1 of 1 gating KPIs fail",
        ),
        (_non_reference, "incomplete", "No succeeded evaluation on “holdout”."),
        (_kpi_deleted, "incomplete", "The KPIs changed after this evaluation ran"),
        (_value_model_saved, "incomplete", "The value model changed after"),
        (_failing_then_kpi_edited, "incomplete", "The KPIs changed after"),
        (_predictions_uploaded_again, "incomplete", "The predictions were uploaded again"),
        (_threshold_moved, "incomplete", "The decision threshold changed after"),
    ],
    ids=[
        "passing",
        "failing",
        "on another dataset than the reference",
        "a KPI deleted",
        "the value model saved after",
        "failing, then a KPI edited",
        "predictions uploaded again",
        "decision threshold moved",
    ],
)
def test_the_roadmap_s_evaluation_gate_is_the_promotion_s(
    personas, use_case, setup, status, summary
):
    ds = personas["data_scientist"]
    gating_kpi(use_case)
    version = make_version(use_case, "1.0.0", ds)
    setup(use_case, ds, version)
    gate = gates.evaluation_gate(version)
    row = row_for(use_case)
    assert (row.candidate, row.gates, row.gate.summary) == ("1.0.0", gate.status, gate.summary)
    assert gate.status == status and gate.summary.startswith(summary), gate.summary
    # Blocked only when the gate itself fails, as a promotion request would be refused.
    blocked = any(r.kind == rules.EVALUATION_GATE for r in row.health.reasons)
    assert blocked is (status == "failed")


def test_a_version_whose_re_run_failed_is_no_candidate(personas, use_case):
    """Its gate is incomplete (no succeeded evaluation); the roadmap has no candidate ("—")."""
    ds = personas["data_scientist"]
    gating_kpi(use_case)
    version = make_version(use_case, "1.0.0", ds)
    _failed_run_only(use_case, ds, version)
    gate = gates.evaluation_gate(version)
    assert (gate.status, gate.summary) == (
        "incomplete",
        "No succeeded evaluation on “holdout”: its last evaluation failed.",
    )
    row = row_for(use_case)
    assert (row.gate, row.candidate, row.gates_label) == (None, "", "—")


def test_the_best_candidate_is_the_one_whose_gate_passes(personas, use_case):
    """1.0.0 passes on the reference dataset; 2.0.0, newer, passes on another one only: the
    promotion gate of 2.0.0 is incomplete, so the candidate is 1.0.0."""
    ds = personas["data_scientist"]
    gating_kpi(use_case)
    marked = reference(use_case, ds)
    marked.is_reference = True
    marked.save()
    other = evaluation_dataset(use_case, ds, [1.0, 2.0, 3.0, 4.0], name="other")
    evaluation(make_version(use_case, "1.0.0", ds), marked, ds)
    evaluation(make_version(use_case, "2.0.0", ds), other, ds)
    row = row_for(use_case)
    assert (row.candidate, row.gates) == ("1.0.0", "passed")
    assert row.gate.evaluation.dataset_id == marked.pk


def test_the_table_names_the_column_evaluation_gate_and_gives_the_gate_s_words(
    client, personas, use_case
):
    ds = personas["data_scientist"]
    gating_kpi(use_case)
    _value_model_saved(use_case, ds, make_version(use_case, "1.0.0", ds))
    text = content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table")))
    assert ">Evaluation gate</th>" in text and ">Gates</th>" not in text
    row = row_of(text, "Demand forecast")
    assert "Incomplete" in row
    assert 'title="The value model changed after this evaluation ran: run it again."' in row


# Review acceptance: the review gate of the best candidate


def test_review_acceptance_is_the_candidate_s_latest_closed_campaign(personas, use_case):
    ds, owner, expert = personas["data_scientist"], personas["owner"], personas["expert"]
    PromotionPolicy.objects.create(use_case=use_case, acceptance_threshold=0.8)
    gating_kpi(use_case)
    candidate = make_version(use_case, "1.0.0", ds)
    evaluation(candidate, reference(use_case, ds), ds)
    closed_campaign(candidate, owner, expert, correct=9, incorrect=1)
    # Newer: an open campaign of the candidate, and a closed one of a version not evaluated.
    campaigns.create_campaign(
        use_case, by=owner, name="Still open", model_version=candidate, sample_size=3
    )
    other = make_version(use_case, "2.0.0", ds)
    closed_campaign(other, owner, expert, correct=1, incorrect=3)
    row = row_for(use_case)
    review = gates.review_gate(candidate, PromotionPolicy.objects.get(use_case=use_case))
    acceptance = row.acceptance
    assert (acceptance.campaign, acceptance.campaign_id) == ("Check of 1.0.0", review.campaign.pk)
    assert acceptance.figure == pytest.approx(0.9) == review.detail["rate"]
    assert (acceptance.status, acceptance.summary) == (review.status, review.summary)
    assert row.health.status == rules.HEALTHY


def test_without_a_candidate_no_acceptance_is_shown(personas, use_case):
    """A campaign of a version never evaluated is no candidate's: the roadmap says "—"."""
    version = make_version(use_case, "1.0.0", personas["data_scientist"])
    closed_campaign(version, personas["owner"], personas["expert"], correct=1, incorrect=3)
    row = row_for(use_case)
    assert row.acceptance is None and row.health.status == rules.HEALTHY


# Percentages: the gate's formatter, never "90.0% < 90.0%"


def test_a_figure_never_reads_as_the_threshold_it_differs_from():
    assert gates.format_rate(0.9) == "90.0%"
    assert gates.format_rate(2 / 3) == "66.7%"
    assert gates.format_rate(0.8996, against=0.9) == "89.96%"
    assert gates.format_rate(0.89996, against=0.9) == "89.996%"
    assert gates.format_rate(0.9, against=0.9) == "90.0%"
    assert gates.format_rate(0.5, against=0.9) == "50.0%"


def test_the_table_shows_the_decimals_that_tell_the_figure_from_the_threshold(
    client, personas, use_case
):
    ds = personas["data_scientist"]
    gating_kpi(use_case)
    version = make_version(use_case, "1.0.0", ds)
    evaluation(version, reference(use_case, ds), ds)
    closed_campaign(version, personas["owner"], personas["expert"], correct=2, incorrect=1)
    PromotionPolicy.objects.create(use_case=use_case, acceptance_threshold=0.667)
    row = row_of(
        content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table"))),
        "Demand forecast",
    )
    assert "66.67%</span> &lt; 66.7%" in row  # not "67 % < 67 %" nor "66.7% < 66.7%"
    assert "Acceptance 66.67% &lt; 66.7% on 3 verdicts" in row


# Dates: calendar days in the portal's time zone


def test_the_target_date_and_days_in_phase_follow_the_local_calendar(settings, personas, use_case):
    """At noon UTC on 10 March it is 11 March, 2 am, in Kiritimati (UTC+14): a target date
    of 10 March has passed there, and a phase changed the evening before (23:00 local, 3
    hours ago) is 1 day old; in UTC, all of it is still 10 March."""
    settings.TIME_ZONE = "Pacific/Kiritimati"
    now = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    UseCase.objects.filter(pk=use_case.pk).update(
        phase="data",
        target_date=D(2026, 3, 10),
        phase_changed_at=datetime.datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
    )
    Milestone.objects.create(use_case=use_case, name="Data ready", due_date=D(2026, 3, 10))
    row = row_for(use_case, now=now)
    assert row.days_in_phase == 1  # a 24-hour count would say 0
    assert [reason.kind for reason in row.health.reasons] == [rules.TARGET_DATE, rules.MILESTONES]
    settings.TIME_ZONE = "UTC"
    row = row_for(use_case, now=now)
    assert row.days_in_phase == 0 and row.health.status == rules.HEALTHY


def test_days_in_phase_count_midnights_not_24_hour_periods(settings, use_case):
    settings.TIME_ZONE = "Europe/Paris"
    now = datetime.datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 8 am in Paris
    changed = datetime.datetime(2026, 5, 31, 21, 0, tzinfo=UTC)  # 11 pm, 2 days before
    UseCase.objects.filter(pk=use_case.pk).update(phase_changed_at=changed)
    assert row_for(use_case, now=now).days_in_phase == 2  # 33 hours: one 24-hour period


# The last evaluation: the last that succeeded, by when it finished


def test_a_failed_or_queued_run_is_not_the_last_evaluation(personas, use_case):
    ds, long_ago = personas["data_scientist"], timezone.now() - datetime.timedelta(days=60)
    UseCase.objects.filter(pk=use_case.pk).update(phase="production")
    gating_kpi(use_case)
    dataset = reference(use_case, ds)
    version = at_stage(make_version(use_case, "1.0.0", ds), "production")
    old = evaluation(version, dataset, ds)
    Evaluation.objects.filter(pk=old.pk).update(created_at=long_ago, finished_at=long_ago)
    failed = make_version(use_case, "2.0.0", ds)
    evaluation(failed, dataset, ds, status=Evaluation.Status.FAILED)
    queued = make_version(use_case, "3.0.0", ds)
    evaluation(queued, dataset, ds, status=Evaluation.Status.QUEUED, finished_at=None)
    row = row_for(use_case)
    assert (row.last_evaluation_at, row.last_evaluation_id) == (long_ago, old.pk)
    assert (
        rules.Reason(rules.STALE_EVALUATION, "The last succeeded evaluation finished 60 days ago.")
        in row.health.reasons
    )


def test_the_last_evaluation_is_the_one_that_finished_last(personas, use_case):
    """Started first, finished last (a long run): it is the last evaluation."""
    ds, now = personas["data_scientist"], timezone.now()
    dataset = reference(use_case, ds)
    long_run = evaluation(make_version(use_case, "1.0.0", ds), dataset, ds, finished_at=now)
    short = evaluation(make_version(use_case, "2.0.0", ds), dataset, ds)
    Evaluation.objects.filter(pk=short.pk).update(finished_at=now - datetime.timedelta(hours=1))
    assert row_for(use_case).last_evaluation_id == long_run.pk


# Maturity and health counts: of every use case the user sees


def test_the_filters_narrow_the_lists_not_the_maturity_or_the_health_counts(client, personas):
    owner, expert = personas["owner"], personas["expert"]
    UseCaseFactory(title="Mine", phase="production", owner=owner, expected_value_per_year=100)
    UseCaseFactory(title="Theirs", phase="production", owner=expert, expected_value_per_year=50)
    UseCaseFactory(title="Early", phase="poc", owner=expert)  # blocked: no version in shadow
    login(client, personas, "manager")
    response = client.get(reverse("portfolio:roadmap_table") + "?owner=olivia")
    assert [row.use_case.title for row in response.context["rows"]] == ["Mine"]
    maturity = response.context["maturity"]
    assert maturity["in_production"] == 2
    assert maturity["value_in_production"] == [("EUR", 150)]
    assert dict((s, n) for s, _, n in maturity["health"])["blocked"] == 1
    text = content(response)
    assert "whatever the filters" in text
    assert 'href="/roadmap/table/?health=blocked"' in text  # the count's own rows
    unfiltered = client.get(reverse("portfolio:roadmap_table")).context["maturity"]
    assert unfiltered == maturity


# The timeline: one row per use case


def test_two_use_cases_of_one_title_are_two_rows_of_the_timeline(client, personas):
    owner = personas["owner"]
    for slug, name in (("churn-retail", "Kick-off"), ("churn-telecom", "Go-live")):
        use_case = UseCaseFactory(
            title="Churn",
            slug=slug,
            owner=owner,
            start_date=D(2027, 1, 1),
            target_date=D(2027, 6, 1),
        )
        Milestone.objects.create(use_case=use_case, name=name, due_date=D(2027, 3, 1))
    UseCaseFactory(
        title="Pricing", owner=owner, start_date=D(2027, 2, 1), target_date=D(2027, 5, 1)
    )
    text = content(login(client, personas, "manager").get(reverse("portfolio:roadmap_timeline")))
    start = text.index('id="timeline-data"')
    figure = json.loads(text[text.index(">", start) + 1 : text.index("</script>", start)])
    bars = [y for trace in figure["data"] if trace["type"] == "bar" for y in trace["y"]]
    assert sorted(bars) == ["Churn (churn-retail)", "Churn (churn-telecom)", "Pricing"]
    (markers,) = [trace for trace in figure["data"] if trace["type"] == "scatter"]
    assert dict(zip(markers["text"], markers["y"], strict=True)) == {
        "Kick-off": "Churn (churn-retail)",
        "Go-live": "Churn (churn-telecom)",
    }
