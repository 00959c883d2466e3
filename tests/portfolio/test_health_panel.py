"""A use case's health panel (issue 13, item 1): its page fetches it with hx-get; it shows the
roadmap table's figures for that one use case (the same selector), each reason with the page
where it is fixed, to whoever may view the use case, in a fixed number of queries."""

import datetime
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portfolio import health as rules
from portfolio import selectors
from portfolio.views import REASON_FIXES, reasons_with_fixes
from promotions.models import PromotionPolicy, PromotionRequest
from registry.models import Evaluation
from tests.conftest import PERSONAS, login
from tests.factories import UseCaseFactory, make_version
from tests.portfolio.test_roadmap import content, row_of, stocked
from tests.promotions.evidence import at_stage, closed_campaign, evaluation, gating_kpi, reference
from usecases.models import Milestone, UseCase

D = datetime.date
HTMX = {"HTTP_HX_REQUEST": "true"}


def health_url(use_case) -> str:
    return reverse("portfolio:health", args=[use_case.slug])


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def figure(panel: str, name: str) -> str:
    end = "</span>" if name == "health" else "</dd>"  # the badge in the title; the facts
    found = re.search(rf'data-figure="{name}"[^>]*>(.*?){end}', panel, re.S)
    assert found, f"no {name} figure in the panel"
    return text(found.group(1))


def cells(row: str) -> list[str]:
    """The texts of a roadmap table row's cells (row_of's HTML), in column order."""
    return [text(cell) for cell in re.split(r"<td[^>]*>", row)]  # [0]: the title's cell


def panel(client, use_case, **headers) -> str:
    response = client.get(health_url(use_case), **headers)
    assert response.status_code == 200
    return response.content.decode()


def reasons_of(page: str) -> list[str]:
    """The panel's reasons (but the blocker, which has its own figure), without their links."""
    found = re.search(r'<ul class="health-reasons">(.*?)</ul>', page, re.S)
    items = re.findall(r"<li>(.*?)</li>", found.group(1), re.S) if found else []
    return [text(item.split("<a ")[0]) for item in items]


def href_of(page: str, name: str) -> str:
    """Where the figure `name` links to."""
    found = re.search(rf'data-figure="{name}"[^>]*>.*?href="([^"]*)".*?</dd>', page, re.S)
    assert found, f"the {name} figure has no link"
    return html.unescape(found.group(1))


def links_of(page: str) -> dict[str, str]:
    """The panel's links: {text: href}."""
    return {
        text(label): html.unescape(href)
        for href, label in re.findall(r'<a[^>]*href="([^"]*)"[^>]*>(.*?)</a>', page, re.S)
    }


# Who sees it


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "fragment"])
def test_the_health_panel_answers_each_persona_as_the_use_case_page_does(
    client, personas, use_case, who, headers
):
    response = login(client, personas, who).get(health_url(use_case), **headers)
    if who == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    elif who == "outsider":
        assert response.status_code == 404  # an outsider must not learn that it exists
    else:
        assert response.status_code == 200
        assert "Health" in response.content.decode()


def test_the_panel_has_the_address_its_page_fetches(client, personas, use_case):
    url = health_url(use_case)
    assert url == "/usecases/demand-forecast/health/"
    page = login(client, personas, "viewer").get(use_case.get_absolute_url()).content.decode()
    assert f'hx-get="{url}" hx-trigger="load"' in page
    assert f'<a href="{url}">' in page  # without JavaScript, a link to it


def test_htmx_gets_the_panel_alone_and_a_plain_request_a_whole_page(client, personas, use_case):
    login(client, personas, "owner")
    fragment = panel(client, use_case, **HTMX)
    assert fragment.lstrip().startswith("<section") and "<html" not in fragment
    page = panel(client, use_case)
    assert "<html" in page and 'id="health"' in page and "Demand forecast" in page


# The roadmap's figures, for one use case


def test_the_panel_shows_the_figures_the_roadmap_table_shows(client, personas):
    made = stocked(personas, 2)  # a passing and a failing candidate, each blocked for Pilot
    PromotionPolicy.objects.create(use_case=made[0], acceptance_threshold=0.9)
    late = UseCaseFactory(title="Late idea", phase="idea", target_date=D(2020, 1, 1))
    UseCase.objects.filter(pk=late.pk).update(
        phase_changed_at=timezone.now() - datetime.timedelta(days=200, hours=1)
    )
    quiet = UseCaseFactory(title="Quiet scoping", phase="scoping")
    retired = UseCaseFactory(title="Old pricing", phase="retired")
    login(client, personas, "manager")
    table = content(client.get(reverse("portfolio:roadmap_table")))
    for use_case in [*made, late, quiet, retired]:
        row = cells(row_of(table, use_case.title))
        shown = panel(client, use_case, **HTMX)
        # The table's health cell: the label and the reasons but the blocker; so the panel's.
        assert row[4] == " ".join([figure(shown, "health"), *reasons_of(shown)])
        assert figure(shown, "gates") == row[5]
        assert figure(shown, "last-evaluation") == row[6]
        assert figure(shown, "acceptance") == row[7]
        assert figure(shown, "pending") == row[8]
        assert figure(shown, "alerts") == row[9] == "0"
        assert row[1].endswith(f" {figure(shown, 'days-in-phase')}")
        blocker = figure(shown, "blocker")
        assert blocker == row[10] or blocker.startswith(f"{row[10]} ")  # then a link to fix it


def test_the_panel_says_what_the_roadmap_says_of_each_case(client, personas):
    made = stocked(personas, 2)
    PromotionPolicy.objects.create(use_case=made[0], acceptance_threshold=0.9)
    login(client, personas, "manager")
    passing, failing = (panel(client, use_case, **HTMX) for use_case in made)
    assert figure(passing, "health") == "Blocked"
    assert figure(passing, "gates") == "Passed version 1.0.0"
    assert figure(passing, "acceptance") == "66.7% < 90.0% 3 verdicts in “Check of 1.0.0”"
    assert reasons_of(passing) == []  # blocked: health.py lists what blocks, not the risks
    assert figure(failing, "gates") == "Failed version 1.0.0"
    # the default threshold
    assert figure(failing, "acceptance") == "66.7% < 80.0% 3 verdicts in “Check of 1.0.0”"
    assert reasons_of(failing) == [
        "Version 1.0.0's evaluation gate fails: 1 of 1 gating KPIs fail: Forecast error."
    ]
    assert figure(failing, "pending") == "1"
    assert figure(failing, "blocker").startswith(
        "Moving to Pilot needs a version in shadow or canary; version 1.0.0 is only registered."
    )


def test_a_healthy_use_case_says_nothing_is_wrong(client, personas, use_case):
    shown = panel(login(client, personas, "viewer"), use_case, **HTMX)
    assert figure(shown, "health") == "Healthy"
    assert "Nothing blocks it or puts it at risk." in shown
    assert figure(shown, "gates") == "—" and figure(shown, "last-evaluation") == "never"


# Each reason links to where it is fixed


def test_failing_gates_link_to_the_failing_evaluation(client, personas, use_case):
    gating_kpi(use_case)
    ds = personas["data_scientist"]
    failed = evaluation(
        make_version(use_case, "2.0.0", ds), reference(use_case, ds), ds, passes=False
    )
    shown = panel(login(client, personas, "manager"), use_case, **HTMX)
    links = links_of(shown)
    assert links["See the failing evaluation →"] == failed.get_absolute_url()
    assert links["version 2.0.0"] == reverse(
        "registry:version_detail", args=[use_case.slug, "2.0.0"]
    )
    assert href_of(shown, "last-evaluation") == failed.get_absolute_url()


def test_the_blocker_links_to_the_pending_promotion_or_to_the_promotions_page(
    client, personas, use_case
):
    ds = personas["data_scientist"]
    UseCase.objects.filter(pk=use_case.pk).update(phase="poc")
    version = make_version(use_case, "1.0.0", ds)
    promotions = reverse("promotions:use_case", args=[use_case.slug])
    assert (
        links_of(panel(login(client, personas, "data_scientist"), use_case, **HTMX))[
            "Promote a version →"
        ]
        == promotions
    )
    client.logout()
    login(client, personas, "viewer")  # who may not promote: where they stand, no action
    assert links_of(panel(client, use_case, **HTMX))["See the promotions →"] == promotions
    request = PromotionRequest.objects.create(
        use_case=use_case,
        model_version=version,
        from_stage="registered",
        target_stage="shadow",
        rationale="Ready.",
        requested_by=ds,
    )
    links = links_of(panel(client, use_case, **HTMX))
    assert links["See the pending promotion →"] == request.get_absolute_url()
    assert href_of(panel(client, use_case, **HTMX), "pending") == request.get_absolute_url()


def test_every_risk_links_to_its_page_for_the_owner(client, personas, use_case):
    """A production use case with every risk health.py knows (but alerts, not there yet)."""
    ds, long_ago = personas["data_scientist"], timezone.now() - datetime.timedelta(days=200)
    gating_kpi(use_case)
    version = at_stage(make_version(use_case, "1.0.0", ds), "production")
    stale = evaluation(version, reference(use_case, ds), ds)
    Evaluation.objects.filter(pk=stale.pk).update(created_at=long_ago, finished_at=long_ago)
    campaign = closed_campaign(
        version, personas["owner"], personas["expert"], correct=1, incorrect=4
    )
    Milestone.objects.create(use_case=use_case, name="Rollout", due_date=D(2020, 1, 1))
    UseCase.objects.filter(pk=use_case.pk).update(
        phase="production", phase_changed_at=long_ago, target_date=D(2020, 1, 1)
    )
    slug = use_case.slug
    shown = panel(login(client, personas, "owner"), use_case, **HTMX)
    assert figure(shown, "health") == "At risk"
    assert len(reasons_of(shown)) == 4  # a passed target date is no risk once in production
    assert shown.count(" →</a></li>") == 4  # each with its link
    links = links_of(shown)
    assert links["See the milestones →"] == reverse("usecases:edit", args=[slug]) + "#milestones"
    assert links["See the review results →"] == reverse(
        "reviews:campaign_detail", args=[slug, campaign.pk]
    )
    assert links["See the last evaluation →"] == stale.get_absolute_url()
    assert links["Move to another phase →"] == reverse("promotions:phase", args=[slug])


def test_a_passed_target_date_links_to_the_definition_for_whoever_may_edit_it(
    client, personas, use_case
):
    UseCase.objects.filter(pk=use_case.pk).update(target_date=D(2020, 1, 1))
    owner = links_of(panel(login(client, personas, "owner"), use_case, **HTMX))
    assert owner["Change the target date →"] == reverse("usecases:edit", args=[use_case.slug])
    client.logout()
    manager = panel(login(client, personas, "manager"), use_case, **HTMX)
    assert "The target date (01 Jan 2020) has passed." in reasons_of(manager)  # no link: 403
    assert "Change the target date" not in manager


def test_only_the_phase_page_s_users_get_the_link_to_it(client, personas, use_case):
    UseCase.objects.filter(pk=use_case.pk).update(
        phase_changed_at=timezone.now() - datetime.timedelta(days=365)
    )
    for who, linked in (("owner", True), ("admin", True), ("manager", False), ("expert", False)):
        client.logout()
        shown = panel(login(client, personas, who), use_case, **HTMX)
        assert ("Move to another phase →" in links_of(shown)) is linked, who
        assert "In the same phase for 365 days." in " ".join(reasons_of(shown))


def test_each_health_reason_has_a_kind_and_each_kind_a_fix_or_none_known():
    """health.py gives every reason a kind, and the panel links by the kind, not the words
    (a reworded reason keeps its link); the blocker is fixed by promoting
    (test_the_blocker_links_…)."""
    today = timezone.localdate()
    acceptance = rules.Acceptance(
        "Check",
        1,
        "failed",
        "Acceptance 10.0% < 90.0% on 10 verdicts in “Check”.",
        *(1, 9, 0.9, False),
        rate=0.1,
    )
    figures = {
        "phase": "pilot",
        "blocker": None,
        "gate": None,
        "acceptance": acceptance,
        "last_evaluation_at": timezone.now() - datetime.timedelta(days=40),
        "days_in_phase": 400,
        "target_date": D(2020, 1, 1),
        "overdue_milestones": 1,
        "open_alerts": 2,
        "today": today,
    }
    blocked = figures | {"blocker": "Moving to Production needs…", "gate": "failed"}
    reasons = rules.health(**figures).reasons + rules.health(**blocked).reasons
    assert sorted(reason.kind for reason in reasons) == sorted(rules.REASON_KINDS)
    unfixed = {kind for kind in rules.REASON_KINDS if kind not in REASON_FIXES}
    assert unfixed == {rules.NEXT_PHASE}


def test_a_reason_is_linked_by_its_kind_whatever_its_words(personas, use_case):
    """A reason reworded to another reason's words keeps its own link."""
    row = selectors.roadmap_rows(UseCase.objects.filter(pk=use_case.pk))[0]
    row.health.reasons = [
        rules.Reason(rules.TARGET_DATE, "The milestones and the last evaluation are overdue."),
        rules.Reason(rules.ALERTS, "Change the target date: same phase, gates fail."),
    ]
    links = {"plan": "/plan/", "milestones": "/milestones/", "evaluation": "/evaluation/"}
    fixes = reasons_with_fixes(row, links | {"promotions": "/p/"}, may_promote=True)
    assert [(fix["fix"], fix["url"]) for fix in fixes] == [
        ("Change the target date", "/plan/"),
        ("", None),
    ]


# Queries


def grow(use_case, personas, start: int, n: int) -> None:
    """`n` more versions of `use_case`, each evaluated, reviewed and pending promotion."""
    ds, dataset = personas["data_scientist"], use_case.datasets.get()
    for i in range(start, start + n):
        version = make_version(use_case, f"2.{i}.0", ds)
        evaluation(version, dataset, ds, passes=False)
        closed_campaign(version, personas["owner"], personas["expert"], correct=3, incorrect=1)
        PromotionRequest.objects.create(
            use_case=use_case,
            model_version=version,
            from_stage="registered",
            target_stage="shadow",
            rationale="Ready.",
            requested_by=ds,
        )


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **HTMX).status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["owner", "manager"])
def test_the_panel_costs_the_same_queries_for_3_or_30_versions(client, personas, who):
    (use_case,) = stocked(personas, 1, start=1)  # failing gates: their evaluation is looked up
    grow(use_case, personas, 0, 2)
    login(client, personas, who)
    url = health_url(use_case)
    client.get(url, **HTMX)
    few = queries(client, url)
    grow(use_case, personas, 2, 27)
    assert queries(client, url) == few
    # the session, the user, the groups, the role, the row (seven: portfolio/selectors.py,
    # open alerts included) and the pending request's link
    assert few <= 13
