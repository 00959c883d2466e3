"""The roadmap in Chromium as a manager: the board, the table filtered to "blocked", the
timeline and the value-against-effort chart drawn by plotly under the site's CSP, with no
script error. Screenshots land in test-results/ (roadmap-*.png)."""

import datetime

import pytest

from tests.e2e.conftest import log_in, shot
from tests.factories import UseCaseFactory
from tests.portfolio.test_roadmap import stocked
from usecases.models import Milestone

pytestmark = pytest.mark.e2e

TODAY = datetime.date.today()


def portfolio(personas) -> None:
    """Six use cases with evidence in three phases, and a few more across the lifecycle."""
    stocked(personas, 2, phase="data")
    stocked(personas, 2, start=2, phase="poc")
    stocked(personas, 2, start=4, phase="pilot")
    owner = personas["owner"]
    for title, phase, value, currency, days, risk, priority, dates in (
        ("Store replenishment", "production", 900_000, "EUR", 200, "medium", "high", (-300, -20)),
        ("Van maintenance", "scoping", 420_000, "USD", 150, "medium", "high", (-30, 200)),
        ("Call-centre volume", "idea", 150_000, "GBP", 40, "low", "low", None),
        ("Invoice fraud", "idea", 300_000, "EUR", 90, "high", "critical", (10, 280)),
    ):
        use_case = UseCaseFactory(
            title=title,
            phase=phase,
            owner=owner,
            team="Operations",
            expected_value_per_year=value,
            expected_value_currency=currency,
            effort_person_days=days,
            risk_tier=risk,
            priority=priority,
            start_date=TODAY + datetime.timedelta(days=dates[0]) if dates else None,
            target_date=TODAY + datetime.timedelta(days=dates[1]) if dates else None,
        )
        if dates:
            Milestone.objects.create(
                use_case=use_case,
                name="Go-live",
                due_date=TODAY + datetime.timedelta(dates[1] - 15),
            )


def test_a_manager_reads_the_roadmap_its_table_timeline_and_value_chart(
    page, live_server, personas
):
    portfolio(personas)
    log_in(page, live_server, "maria")

    page.goto(f"{live_server.url}/roadmap/")
    assert page.locator(".board-column").count() == 7
    assert page.locator("#column-poc .count, .phase-column-poc .count").first.inner_text() == "2"
    assert "The first one" in page.locator(".maturity").inner_text()
    shot(page, "roadmap-board")

    page.select_option("#id_health", "blocked")
    page.click(".roadmap-filters button[type=submit]")
    page.wait_for_url("**/roadmap/?*health=blocked*")
    page.click("nav.tabs >> text=Table")
    page.wait_for_url("**/roadmap/table/?*health=blocked*")
    table = page.locator(".roadmap-table tbody")
    assert "Blocked" in table.inner_text() and "Healthy" not in table.inner_text()
    shot(page, "roadmap-table-blocked")

    page.goto(f"{live_server.url}/roadmap/table/")
    shot(page, "roadmap-table")

    page.goto(f"{live_server.url}/roadmap/timeline/")
    page.wait_for_selector(".chart-timeline .main-svg")
    assert "Call-centre volume" in page.locator(".undated-list").inner_text()
    shot(page, "roadmap-timeline")

    page.goto(f"{live_server.url}/roadmap/value/")
    page.wait_for_selector(".chart-value .main-svg")
    assert page.locator(".chart-value").count() == 3  # EUR, USD, GBP: never on one axis
    shot(page, "roadmap-value")
    assert page.errors == []
