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


def table_fits_or_scrolls_in_its_card(page) -> None:
    """The page itself never scrolls sideways: at 1280 px the table fits its card; narrower,
    it scrolls inside the card, its last column ("Blocks the next phase") can be brought
    into the card and the use case's column stays at the card's left edge."""
    wrap = page.locator(".roadmap-table-card .table-wrap")
    sizes = "el => [el.scrollWidth, el.clientWidth, document.documentElement.scrollWidth]"
    inner, outer, page_width = wrap.evaluate(sizes)
    assert page_width <= 1280 and inner <= outer  # it fits: nothing cut off at 1280 px
    page.set_viewport_size({"width": 1000, "height": 900})
    inner, outer, page_width = wrap.evaluate(sizes)
    assert page_width <= 1000 and inner > outer  # it scrolls inside its card
    wrap.evaluate("el => { el.scrollLeft = el.scrollWidth }")
    box = wrap.bounding_box()
    last = page.locator(".roadmap-table thead th").last
    assert last.inner_text().lower().replace("\n", " ") == "blocks the next phase"
    end = last.bounding_box()
    assert box["x"] <= end["x"] and end["x"] + end["width"] <= box["x"] + box["width"] + 1
    first = page.locator(".roadmap-table tbody td").first.bounding_box()
    assert abs(first["x"] - box["x"]) <= 1  # sticky: still at the left edge
    shot(page, "roadmap-table-scrolled")
    page.set_viewport_size({"width": 1280, "height": 900})


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
    table_fits_or_scrolls_in_its_card(page)

    page.goto(f"{live_server.url}/roadmap/timeline/")
    page.wait_for_selector(".chart-timeline .main-svg")
    assert "Call-centre volume" in page.locator(".undated-list").inner_text()
    shot(page, "roadmap-timeline")

    page.goto(f"{live_server.url}/roadmap/value/")
    page.wait_for_selector(".chart-value .main-svg")
    assert page.locator(".chart-value").count() == 3  # EUR, USD, GBP: never on one axis
    shot(page, "roadmap-value")
    assert page.errors == []
