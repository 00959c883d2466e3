"""The home page: each person's tasks (reviews, approvals, evaluations, use cases to
complete), the portfolio and its week for Managers and Admins, the empty states, who sees
what, and a constant number of queries."""

import datetime

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portfolio import home
from promotions.models import Decision, PromotionRequest
from registry.models import Evaluation
from reviews.models import ReviewCampaign
from tests.factories import (
    KPIFactory,
    MemberFactory,
    UseCaseFactory,
    UserFactory,
    ValueModelFactory,
    evaluation_dataset,
    make_version,
)
from usecases.models import Role, UseCase
from usecases.services import audit

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


# Builders: rows made with the ORM, as the services leave them


def campaign(use_case, version, *, name="Spring check", due=None, items=10, **fields):
    return ReviewCampaign.objects.create(
        use_case=use_case,
        name=name,
        model_version=version,
        sample_size=items,
        item_count=items,
        due_date=due,
        created_by=use_case.owner,
        **fields,
    )


def pending_request(use_case, version, by, **approvals) -> PromotionRequest:
    """A pending request to shadow needing `approvals` ({"expert": 1} by default)."""
    required = {"expert": 0, "data_scientist": 0, "manager": 0} | (approvals or {"expert": 1})
    return PromotionRequest.objects.create(
        use_case=use_case,
        model_version=version,
        from_stage="registered",
        target_stage="shadow",
        rationale="Better on every store.",
        requested_by=by,
        required_approvals=required,
    )


def evaluation(use_case, version, by, *, status="succeeded", days_ago=1, dataset=None, **fields):
    dataset = dataset or evaluation_dataset(use_case, by, [1.0, 2.0], name=f"holdout {version}")
    fields.setdefault("finished_at", timezone.now() - datetime.timedelta(days=days_ago))
    return Evaluation.objects.create(
        use_case=use_case,
        model_version=version,
        dataset=dataset,
        requested_by=by,
        status=status,
        progress=100,
        **fields,
    )


def complete(use_case, by):
    """Give the use case KPIs, a value model and a holdout: nothing left to complete."""
    KPIFactory(use_case=use_case)
    ValueModelFactory(use_case=use_case)
    evaluation_dataset(use_case, by, [1.0, 2.0], name="complete holdout")


@pytest.fixture
def other(personas):
    """A use case the personas are not in, where the outsider is an expert and a data
    scientist of theirs works: its tasks must never reach the personas."""
    other = UseCaseFactory(slug="fraud", title="Fraud alerts", owner=UserFactory(username="ned"))
    MemberFactory(use_case=other, user=personas["outsider"], role=Role.EXPERT)
    return other


def page(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, dom_id: str) -> str:
    """The HTML of one section of the page ("" if absent)."""
    start = html.find(f'id="{dom_id}"')
    if start == -1:
        return ""
    return html[start : html.find("</section>", start)]


# Reviews


def test_an_expert_sees_the_reviews_waiting_for_him_soonest_due_first_overdue_marked(
    client, personas, use_case
):
    version = make_version(use_case, "1.0.0", personas["data_scientist"])
    campaign(use_case, version, name="Later check", due=TODAY + datetime.timedelta(days=9))
    campaign(use_case, version, name="Late check", due=TODAY - datetime.timedelta(days=2))
    campaign(use_case, version, name="Undated check")

    reviews = section(page(client, personas["expert"]), "home-reviews")

    assert reviews.index("Late check") < reviews.index("Later check") < reviews.index("Undated")
    assert reviews.count("Overdue") == 1
    assert (TODAY + datetime.timedelta(days=9)).strftime("%-d %b %Y") in reviews
    assert "no due date" in reviews
    assert "you reviewed 0 of 10" in reviews


def test_closed_campaigns_and_those_of_other_use_cases_are_not_waiting(
    client, personas, use_case, other
):
    version = make_version(use_case, "1.0.0", personas["data_scientist"])
    campaign(use_case, version, name="Closed check", status=ReviewCampaign.Status.CLOSED)
    campaign(other, make_version(other, "1.0.0", other.owner), name="Fraud check")

    html = page(client, personas["expert"])
    outsider = page(client, personas["outsider"])

    assert "No reviews waiting" in section(html, "home-reviews")
    assert "Closed check" not in html and "Fraud check" not in html
    assert "Fraud check" in section(outsider, "home-reviews")


# Approvals


def test_an_expert_sees_the_requests_waiting_for_his_approval_and_in_which_capacity(
    client, personas, use_case, other
):
    request = pending_request(
        use_case, make_version(use_case, "2.0.0", personas["data_scientist"]), personas["owner"]
    )
    pending_request(other, make_version(other, "2.0.0", other.owner), other.owner)

    approvals = section(page(client, personas["expert"]), "waiting-for-you")

    assert request.get_absolute_url() in approvals
    assert f"#{request.pk} · version 2.0.0 to shadow" in approvals
    assert "as domain expert" in approvals.lower()
    assert approvals.count('class="item-title"') == 1  # not the other use case's request


def test_a_request_already_decided_by_me_or_needing_another_capacity_is_not_waiting(
    client, personas, use_case
):
    decided = pending_request(
        use_case, make_version(use_case, "2.0.0", personas["data_scientist"]), personas["owner"]
    )
    Decision.objects.create(
        request=decided, user=personas["expert"], verdict="approve", capacity="expert"
    )
    pending_request(
        use_case,
        make_version(use_case, "3.0.0", personas["data_scientist"]),
        personas["owner"],
        manager=1,
    )

    approvals = section(page(client, personas["expert"]), "waiting-for-you")

    assert "No approvals waiting" in approvals


def test_a_manager_sees_the_requests_waiting_for_a_manager(client, personas, use_case):
    request = pending_request(
        use_case,
        make_version(use_case, "2.0.0", personas["data_scientist"]),
        personas["data_scientist"],
        manager=1,
    )

    approvals = section(page(client, personas["manager"]), "waiting-for-you")

    assert request.get_absolute_url() in approvals
    assert "as manager" in approvals.lower()


# Evaluations


def test_a_data_scientist_sees_the_evaluations_he_started_or_ran_on_his_versions(
    client, personas, use_case
):
    mine = make_version(use_case, "1.0.0", personas["data_scientist"])
    owners = make_version(use_case, "1.1.0", personas["owner"])
    succeeded = evaluation(use_case, mine, personas["owner"], passed_gates=True)
    failed = evaluation(
        use_case,
        owners,
        personas["data_scientist"],
        status="failed",
        days_ago=3,
        error="The predictions file has no row of the dataset.",
    )
    old = make_version(use_case, "0.9.0", personas["data_scientist"])
    evaluation(use_case, old, personas["data_scientist"], days_ago=20)
    evaluation(
        use_case,
        make_version(use_case, "0.8.0", personas["data_scientist"]),
        personas["data_scientist"],
        status="running",
        finished_at=None,
    )

    evaluations = section(page(client, personas["data_scientist"]), "home-evaluations")

    assert succeeded.get_absolute_url() in evaluations
    assert failed.get_absolute_url() in evaluations
    assert "Gates passed" in evaluations and "Failed" in evaluations
    assert "has no row of the dataset" in evaluations
    assert "0.9.0" not in evaluations  # finished 20 days ago
    assert "0.8.0" not in evaluations  # still running
    assert evaluations.index("1.0.0") < evaluations.index("1.1.0")  # newest first


def test_evaluations_of_a_use_case_i_left_are_not_mine_any_more(client, personas, use_case):
    version = make_version(use_case, "1.0.0", personas["data_scientist"])
    evaluation(use_case, version, personas["data_scientist"])
    use_case.members.filter(user=personas["data_scientist"]).delete()

    html = page(client, personas["data_scientist"])

    assert "1.0.0" not in html
    assert "home-evaluations" not in html  # no data scientist role left anywhere


# Use cases to complete


def test_an_owner_sees_what_her_use_case_lacks_with_the_links_to_add_it(client, personas, use_case):
    gaps = section(page(client, personas["owner"]), "home-gaps")

    slug = use_case.slug
    assert reverse("usecases:kpi_create", args=[slug]) in gaps
    assert reverse("usecases:value_model_edit", args=[slug]) in gaps
    assert reverse("registry:datasets", args=[slug]) in gaps


def test_an_expert_gets_links_for_what_he_may_add_and_is_told_who_adds_the_rest(
    client, personas, use_case
):
    KPIFactory(use_case=use_case)

    gaps = section(page(client, personas["expert"]), "home-gaps")

    assert "KPIs" not in gaps.partition("Missing:")[2].partition("(")[0]
    assert reverse("usecases:value_model_edit", args=[use_case.slug]) in gaps
    assert reverse("registry:datasets", args=[use_case.slug]) not in gaps
    assert "a holdout dataset" in gaps and "a data scientist uploads the holdout" in gaps


def test_a_complete_or_retired_use_case_has_nothing_to_complete(client, personas, use_case):
    complete(use_case, personas["owner"])
    UseCaseFactory(owner=personas["owner"], title="Old pricing", phase=UseCase.Phase.RETIRED)

    gaps = section(page(client, personas["owner"]), "home-gaps")

    assert "Your use cases all have KPIs, a value model and a holdout" in gaps
    assert "Old pricing" not in gaps


def test_a_member_of_another_use_case_never_sees_ours_to_complete(
    client, personas, use_case, other
):
    gaps = section(page(client, personas["outsider"]), "home-gaps")

    assert "Demand forecast" not in gaps
    assert "Fraud alerts" in gaps


# Personas without tasks


def test_a_viewer_sees_his_use_cases_and_no_task_section(client, personas, use_case):
    html = page(client, personas["viewer"])

    assert use_case.get_absolute_url() in section(html, "home-use-cases")
    for dom_id in ("home-reviews", "waiting-for-you", "home-evaluations", "home-gaps"):
        assert f'id="{dom_id}"' not in html
    assert "home-portfolio" not in html
    assert "Nothing here waits for you to act" in html


def test_a_person_without_a_use_case_is_told_how_to_start(client, newcomer):
    html = page(client, newcomer)

    assert "You are not a member of any use case yet" in html
    assert reverse("usecases:create") in section(html, "home-use-cases")
    assert "home-reviews" not in html and "home-portfolio" not in html


def test_an_expert_with_nothing_to_do_reads_what_will_fill_each_section(client, personas, use_case):
    complete(use_case, personas["owner"])

    html = page(client, personas["expert"])

    assert "No reviews waiting. When an expert or a data scientist opens" in html
    assert "No approvals waiting" in html
    assert "Your use cases all have KPIs" in html
    assert "home-evaluations" not in html  # experts do not run evaluations


@pytest.mark.parametrize(
    ("reviews", "approvals", "text"),
    [
        (0, 0, ""),
        (1, 0, "1 review campaign waits for you."),
        (0, 2, "2 approvals wait for you."),
        (3, 1, "1 approval and 3 review campaigns wait for you."),
        (9, 0, "8+ review campaigns wait for you."),
    ],
)
def test_the_greeting_counts_what_waits(reviews, approvals, text):
    found = home.Bounded.of(list(range(reviews))), home.Bounded.of(list(range(approvals)))
    assert home.waiting_text(*found) == text


def test_the_home_page_asks_to_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


# Managers and Admins


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_managers_and_admins_see_the_portfolio_by_phase_maturity_and_value_per_currency(
    client, personas, who
):
    owner = personas["owner"]
    for i, (phase, value, currency) in enumerate(
        [
            ("production", 100_000, "EUR"),
            ("pilot", 50_000, "EUR"),
            ("idea", 1_000, "USD"),
            ("retired", 999_999, "EUR"),
            ("data", None, "EUR"),
        ]
    ):
        UseCaseFactory(
            owner=owner,
            phase=phase,
            expected_value_per_year=value,
            expected_value_currency=currency,
            title=f"Case {i}",
        )

    html = page(client, personas[who])
    portfolio = section(html, "home-portfolio")

    assert "Maturity: the first one" in portfolio
    assert '<div class="value">5</div>' in portfolio  # every use case, retired included
    values = portfolio[portfolio.index('id="home-values"') :]
    cells = '<th scope="row">{}</th><td class="num">{}</td><td class="num">{}</td>'
    assert cells.format("EUR", "100,000", "50,000") in values  # retired and unvalued left out
    assert cells.format("USD", "0", "1,000") in values
    assert 'data-chart="phase-chart-data"' in portfolio


def test_members_do_not_see_the_portfolio(client, personas, use_case):
    for who in ("owner", "expert", "data_scientist"):
        html = page(client, personas[who])
        assert "home-portfolio" not in html and "home-week" not in html


def test_the_week_counts_phase_moves_promotions_executed_and_evaluations_completed(
    client, personas, use_case
):
    with transaction.atomic():
        for verb in [
            "usecase.phase_changed",
            "usecase.phase_changed",
            "promotion.executed",
            "evaluation.succeeded",
            "kpi.created",
        ]:
            audit.record(actor=personas["owner"], verb=verb, target=use_case, use_case=use_case)

    week = section(page(client, personas["manager"]), "home-week")

    assert home.week_counts() == {
        "phase_moves": 2,
        "promotions_executed": 1,
        "evaluations_completed": 1,
    }
    assert home.week_counts(now=timezone.now() + datetime.timedelta(days=8)) == {
        "phase_moves": 0,
        "promotions_executed": 0,
        "evaluations_completed": 0,
    }
    assert 'Phase moves</div><div class="value">2<' in week
    assert week.count('class="timeline-item activity-entry"') == 5  # the feed, in sentences
    assert "demand-forecast" in week  # a manager's week spans use cases she is not in


def test_a_quiet_week_and_an_empty_portfolio_say_so(client, personas):
    html = page(client, personas["manager"])

    assert "No use case yet" in section(html, "home-portfolio")
    week = section(html, "home-week")
    assert "A quiet week" in week
