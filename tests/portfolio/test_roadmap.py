"""The roadmap (issue 13, item 1): who sees what, the health of each use case and why, the
filters, maturity, charts and CSV, in a constant number of queries whatever the portfolio."""

import csv
import datetime
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portfolio import health as rules
from promotions.models import PromotionPolicy, PromotionRequest
from tests.conftest import login
from tests.factories import MemberFactory, UseCaseFactory, make_version
from tests.promotions.evidence import at_stage, closed_campaign, evaluation, gating_kpi, reference
from usecases.models import Milestone, Role, UseCase

D = datetime.date
PAGES = [
    "portfolio:roadmap",
    "portfolio:roadmap_table",
    "portfolio:roadmap_timeline",
    "portfolio:roadmap_value",
    "portfolio:roadmap_csv",
]


def content(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def stocked(personas, n: int, *, start: int = 0, phase: str = "poc") -> list[UseCase]:
    """`n` use cases owned by the owner, each with a gating KPI, a version, an evaluation
    (passing every other one), a closed review campaign, a pending promotion and a
    milestone."""
    ds, expert = personas["data_scientist"], personas["expert"]
    made = []
    for i in range(start, start + n):
        use_case = UseCaseFactory(
            slug=f"portfolio-{i:03}",
            title=f"Portfolio {i:03}",
            owner=personas["owner"],
            phase=phase,
            team=f"Team {i % 3}",
            expected_value_per_year=1000 * (i + 1),
            effort_person_days=10 + i,
            start_date=D(2027, 1, 1),
            target_date=D(2027, 6, 1),
        )
        MemberFactory(use_case=use_case, user=expert, role=Role.EXPERT)
        MemberFactory(use_case=use_case, user=ds, role=Role.DATA_SCIENTIST)
        gating_kpi(use_case)
        version = make_version(use_case, "1.0.0", ds)
        evaluation(version, reference(use_case, ds), ds, passes=i % 2 == 0)
        closed_campaign(version, personas["owner"], expert, correct=2, incorrect=1)
        PromotionRequest.objects.create(
            use_case=use_case,
            model_version=version,
            from_stage="registered",
            target_stage="shadow",
            rationale="Ready.",
            requested_by=ds,
        )
        Milestone.objects.create(use_case=use_case, name="Pilot live", due_date=D(2027, 3, 1))
        made.append(use_case)
    return made


def row_of(response_text: str, title: str) -> str:
    """The table row (HTML) of the use case called `title`."""
    start = response_text.index(f">{title}</a>")
    return response_text[start : response_text.index("</tr>", start)]


# Who sees what


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("owner", True),
        ("viewer", True),
        ("expert", True),
        ("outsider", False),
        ("manager", True),
        ("admin", True),
    ],
)
def test_every_roadmap_page_shows_a_member_their_use_cases_and_a_manager_all(
    client, personas, use_case, name, who, sees
):
    other = UseCaseFactory(title="Secret pricing", slug="secret-pricing")
    response = login(client, personas, who).get(reverse(name))
    assert response.status_code == 200
    text = content(response)
    assert ("Demand forecast" in text) is sees
    assert ("Secret pricing" in text) is (who in ("manager", "admin"))
    assert other.pk


@pytest.mark.parametrize("name", PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_roadmap_keeps_its_address(client, personas):
    assert reverse("portfolio:roadmap") == "/roadmap/"


# Constant queries


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200
        content(response)  # a streamed CSV runs its queries while it is read
    return len(captured)


@pytest.mark.parametrize("name", PAGES)
def test_each_roadmap_page_costs_the_same_queries_for_5_or_50_use_cases(client, personas, name):
    stocked(personas, 5)
    login(client, personas, "manager")
    url = reverse(name)
    client.get(url)  # the session and the groups, cached from here
    few = queries(client, url)
    stocked(personas, 45, start=5)
    assert queries(client, url) == few
    # the session, the user, the groups, the top bar's counts, the filters' choices, and the
    # rows: the use cases, their current evaluations, two more for the evaluation gates and
    # one for the review gates (promotions.services.gates), the versions' stages, the open
    # alerts; the timeline's milestones
    assert few <= 18


# Health, figure by figure


def test_a_failing_gate_shows_failed_and_blocks(client, personas, use_case):
    gating_kpi(use_case)
    ds = personas["data_scientist"]
    evaluation(make_version(use_case, "2.0.0", ds), reference(use_case, ds), ds, passes=False)
    text = content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table")))
    row = row_of(text, "Demand forecast")
    assert "Failed" in row and "version 2.0.0" in row
    assert "Blocked" in row
    assert "Version 2.0.0&#x27;s evaluation gate fails: 1 of 1 gating KPIs fail: Forecast" in row


def test_a_passing_candidate_is_preferred_to_a_newer_failing_one(client, personas, use_case):
    gating_kpi(use_case)
    ds = personas["data_scientist"]
    dataset = reference(use_case, ds)
    evaluation(make_version(use_case, "1.0.0", ds), dataset, ds, passes=True)
    evaluation(make_version(use_case, "2.0.0", ds), dataset, ds, passes=False)
    row = row_of(
        content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table"))),
        "Demand forecast",
    )
    assert "Passed" in row and "version 1.0.0" in row


def test_a_kpi_edited_after_the_evaluation_makes_the_gates_incomplete(client, personas, use_case):
    kpi = gating_kpi(use_case)
    ds = personas["data_scientist"]
    evaluation(make_version(use_case, "1.0.0", ds), reference(use_case, ds), ds, passes=True)
    kpi.save()  # updated_at moves past the evaluation
    row = row_of(
        content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table"))),
        "Demand forecast",
    )
    assert "Incomplete" in row


def test_an_acceptance_under_the_threshold_puts_the_use_case_at_risk(client, personas, use_case):
    ds = personas["data_scientist"]
    gating_kpi(use_case)
    version = make_version(use_case, "1.0.0", ds)
    evaluation(version, reference(use_case, ds), ds)  # the best candidate: its review gate
    closed_campaign(version, personas["owner"], personas["expert"], correct=3, incorrect=2)
    PromotionPolicy.objects.create(use_case=use_case, acceptance_threshold=0.9)
    row = row_of(
        content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table"))),
        "Demand forecast",
    )
    assert "60.0%</span> &lt; 90.0%" in row and "5 verdicts in “Check of 1.0.0”" in row
    assert "At risk" in row
    assert (
        "Version 1.0.0&#x27;s review gate fails: Acceptance 60.0% &lt; 90.0% on 5 verdicts" in row
    )


def test_missing_evidence_for_the_next_phase_blocks_and_says_what_to_do(client, personas):
    UseCaseFactory(title="Early", phase="poc", owner=personas["owner"])
    row = row_of(
        content(login(client, personas, "owner").get(reverse("portfolio:roadmap_table"))), "Early"
    )
    assert "Blocked" in row
    assert "Moving to Pilot needs a version in shadow or canary; the use case has no version" in row


def test_pending_promotions_days_in_phase_and_alerts_are_shown(client, personas, use_case):
    UseCase.objects.filter(pk=use_case.pk).update(
        phase_changed_at=timezone.now()
        - datetime.timedelta(days=12)  # 12 calendar days at any hour
    )
    ds = personas["data_scientist"]
    version = make_version(use_case, "1.0.0", ds)
    PromotionRequest.objects.create(
        use_case=use_case,
        model_version=version,
        from_stage="registered",
        target_stage="shadow",
        rationale="Ready.",
        requested_by=ds,
    )
    text = content(login(client, personas, "manager").get(reverse("portfolio:roadmap_csv")))
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["pending_promotions"] == "1"
    assert row["days_in_phase"] == "12"
    assert row["open_alerts"] == "0"  # monitored: none open
    assert row["health"] == "healthy"

    from monitoring.models import Alert

    day = timezone.now().date()
    common = {"use_case": use_case, "model_version": version, "day": day, "last_seen_day": day}
    Alert.objects.create(kind="drift", subject="plan", **common)
    Alert.objects.create(kind="quality", subject="age", status="acknowledged", **common)
    Alert.objects.create(kind="drift", subject="age", status="resolved", **common)
    text = content(login(client, personas, "manager").get(reverse("portfolio:roadmap_csv")))
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["open_alerts"] == "2"  # open and acknowledged, not resolved
    assert row["health"] == "at_risk"


def test_an_idea_with_nothing_yet_is_healthy_and_its_gates_read_a_dash(client, personas, use_case):
    row = row_of(
        content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table"))),
        "Demand forecast",
    )
    assert "Healthy" in row and "never" in row


def test_a_passed_target_date_or_an_overdue_milestone_is_a_risk():
    figures = {
        "phase": "data",
        "blocker": None,
        "gate": None,
        "acceptance": None,
        "last_evaluation_at": None,
        "days_in_phase": 3,
        "open_alerts": None,
        "today": timezone.localdate(),
    }
    late = rules.health(**figures, target_date=D(2000, 1, 1), overdue_milestones=0)
    assert late.status == rules.AT_RISK and "has passed" in late.reasons[0].text
    assert late.reasons[0].kind == rules.TARGET_DATE
    overdue = rules.health(**figures, target_date=None, overdue_milestones=2)
    assert overdue.reasons == [rules.Reason(rules.MILESTONES, "2 milestones overdue.")]
    assert rules.health(**figures, target_date=None, overdue_milestones=0).status == rules.HEALTHY
    retired = rules.health(**figures | {"phase": "retired"}, target_date=None, overdue_milestones=1)
    assert retired.status == rules.RETIRED


def test_the_maturity_stage_follows_the_use_cases_in_production():
    assert [rules.maturity_stage(n) for n in (0, 1, 2, 10, 11)] == [
        "None in production yet",
        "The first one",
        "2–10 in production",
        "2–10 in production",
        "10+ in production",
    ]


# Filters, maturity, CSV


def test_the_filters_narrow_the_rows_and_stay_in_the_links(client, personas):
    stocked(personas, 4, phase="data")  # the odd ones' gates fail: blocked
    UseCaseFactory(title="Early idea", phase="idea", owner=personas["owner"])
    login(client, personas, "manager")
    text = content(client.get(reverse("portfolio:roadmap_table") + "?health=blocked"))
    assert "Portfolio 001" in text and "Portfolio 000" not in text and "Early idea" not in text
    assert 'href="/roadmap/timeline/?health=blocked"' in text
    text = content(client.get(reverse("portfolio:roadmap_table") + "?team=Team+1&phase=data"))
    assert "Portfolio 001" in text and "Portfolio 002" not in text
    text = content(client.get(reverse("portfolio:roadmap") + "?risk=high"))
    assert "No use case matches these filters." in text


def test_an_invalid_filter_is_said_and_filters_nothing(client, personas, use_case):
    text = content(
        login(client, personas, "manager").get(reverse("portfolio:roadmap") + "?phase=moon")
    )
    assert "Some filters are not valid" in text and "Demand forecast" in text


def test_maturity_sums_values_per_currency_and_never_across(client, personas):
    owner = personas["owner"]
    UseCaseFactory(phase="production", owner=owner, expected_value_per_year=100)
    UseCaseFactory(
        phase="production", owner=owner, expected_value_per_year=50, expected_value_currency="USD"
    )
    UseCaseFactory(phase="pilot", owner=owner, expected_value_per_year=7)
    text = content(login(client, personas, "manager").get(reverse("portfolio:roadmap")))
    assert "2–10 in production" in text
    assert "100 EUR" in text and "50 USD" in text and "150" not in text
    assert "7 EUR" in text


def test_the_csv_lists_every_row_and_neutralises_formulas(client, personas):
    UseCaseFactory(title="=HYPERLINK(1)", owner=personas["owner"], team="@ops")
    response = login(client, personas, "manager").get(reverse("portfolio:roadmap_csv"))
    assert response["Content-Disposition"].startswith('attachment; filename="roadmap-')
    rows = list(csv.DictReader(io.StringIO(content(response))))
    assert [r["title"] for r in rows] == ["'=HYPERLINK(1)"]
    assert rows[0]["team"] == "'@ops"


# Charts


def test_the_timeline_draws_dated_use_cases_with_milestones_and_lists_the_rest(client, personas):
    stocked(personas, 2)
    UseCaseFactory(title="Undated", owner=personas["owner"])
    response = login(client, personas, "manager").get(reverse("portfolio:roadmap_timeline"))
    text = content(response)
    start = text.index('id="timeline-data"')
    figure = json.loads(text[text.index(">", start) + 1 : text.index("</script>", start)])
    bars = [t for t in figure["data"] if t["type"] == "bar"]
    assert sorted(bars[0]["y"]) == ["Portfolio 000", "Portfolio 001"]
    markers = [t for t in figure["data"] if t["type"] == "scatter"]
    assert markers[0]["text"] == ["Pilot live", "Pilot live"]
    assert "Undated" in text[text.index("Without dates") :]


def test_the_value_chart_draws_one_chart_per_currency(client, personas):
    owner = personas["owner"]
    UseCaseFactory(owner=owner, expected_value_per_year=10, effort_person_days=5)
    UseCaseFactory(
        owner=owner,
        expected_value_per_year=20,
        effort_person_days=15,
        expected_value_currency="USD",
        risk_tier="high",
    )
    UseCaseFactory(title="No effort", owner=owner, expected_value_per_year=20)
    text = content(login(client, personas, "manager").get(reverse("portfolio:roadmap_value")))
    assert text.count('class="chart chart-value"') == 2
    assert "Expected value against effort, in USD" in text
    assert "No effort" in text[text.index("Not estimated") :]


def test_a_production_version_lifts_the_block_on_production(client, personas, use_case):
    UseCase.objects.filter(pk=use_case.pk).update(phase="pilot")
    ds = personas["data_scientist"]
    at_stage(make_version(use_case, "1.0.0", ds), "production")
    row = row_of(
        content(login(client, personas, "manager").get(reverse("portfolio:roadmap_table"))),
        "Demand forecast",
    )
    assert "Blocked" not in row
