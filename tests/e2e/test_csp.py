"""The Content-Security-Policy in Chromium (issue 10, item 12): plotly charts draw and answer
the mouse without 'unsafe-eval', htmx swaps without inline styles, Swagger UI and Redoc work
offline, and the browser refuses nothing (the `page` fixture counts every "Content Security
Policy" console message as an error, and every request that leaves the live server)."""

import datetime
import re

import pytest

from registry.models import ModelVersion
from registry.services import registering
from tests.e2e.conftest import CHROMIUM, RESULTS, log_in, shot
from tests.factories import binary_evaluation_results, finished_evaluation
from usecases.models import UseCase

pytestmark = pytest.mark.e2e

VIOLATIONS = """() => new Promise(resolve => {
  // Anything refused so far is queued as an event; give the queue a moment to drain.
  setTimeout(() => resolve(window.__violations || []), 100);
})"""
WATCH = """document.addEventListener("securitypolicyviolation", (event) => {
  (window.__violations = window.__violations || []).push(
    event.violatedDirective + " " + event.blockedURI);
});"""


def policy_of(response) -> str:
    header = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in header
    assert "unsafe-eval" not in header and "script-src 'self' 'unsafe-inline'" not in header
    return header


def test_plotly_charts_draw_and_respond_under_the_policy_without_unsafe_eval(
    live_server, page, personas, churn
):
    page.add_init_script(WATCH)
    header_warnings = []  # Chromium names a Permissions-Policy feature it does not know
    page.on(
        "console",
        lambda m: header_warnings.append(m.text) if "ermissions" in m.text else None,
    )
    scientist = personas["data_scientist"]
    champion = registering.register_version(churn, by=scientist, version="1.0.0")
    ModelVersion.objects.filter(pk=champion.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    evaluation = finished_evaluation(
        churn, scientist, binary_evaluation_results(champion=True), champion=champion
    )
    log_in(page, live_server, personas["viewer"].username)
    policy_of(page.goto(f"{live_server.url}{evaluation.get_absolute_url()}"))
    charts = ("roc", "precision-recall", "calibration", "confusion-matrix", "segments")
    for chart in charts:
        page.wait_for_selector(f"[data-chart='chart-{chart}'] .main-svg")
    # The confusion matrix is a heatmap, drawn as a data: image.
    assert page.locator("[data-chart='chart-confusion-matrix'] image").count() == 1
    for chart in charts:  # hover labels, the mode bar
        page.locator(f"[data-chart='chart-{chart}'] .nsewdrag").first.hover()
        page.wait_for_timeout(100)
    segments = page.locator("[data-chart='chart-segments']")
    segments.locator(".updatemenu-header-group").click()  # plotly's metric menu
    segments.locator(".updatemenu-dropdown-button-group text:has-text('Recall')").click()
    page.wait_for_function(
        "document.querySelector(\"[data-chart='chart-segments']\").data"
        ".some(t => t.type === 'bar' && t.name === 'Recall' && t.visible === true)"
    )
    roc = page.locator("[data-chart='chart-roc']")
    roc.hover()
    roc.locator(".modebar-btn[data-title='Zoom in']").click()
    shot(page, "csp-evaluation-charts")
    page.goto(f"{live_server.url}{evaluation.dataset.get_absolute_url()}")
    page.wait_for_selector("[data-chart] .main-svg")
    dates = {"start_date": datetime.date(2026, 1, 5), "target_date": datetime.date(2026, 9, 30)}
    UseCase.objects.filter(pk=churn.pk).update(**dates)  # so the timeline draws
    page.goto(f"{live_server.url}/roadmap/timeline/")
    page.wait_for_selector("[data-chart] .main-svg")
    assert page.evaluate(VIOLATIONS) == []
    assert page.errors == [] and header_warnings == []
    assert page.external_requests == []


def test_swagger_ui_and_redoc_work_offline_under_the_policy(live_server, page):
    page.add_init_script(WATCH)
    policy_of(page.goto(f"{live_server.url}/api/docs/"))
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=30_000)
    page.locator(".swagger-ui .opblock-summary").first.click()  # open an operation
    page.wait_for_selector(".swagger-ui .opblock-body")
    page.screenshot(path=str(RESULTS / "csp-swagger-ui.png"))  # the whole page is too tall
    assert page.evaluate(VIOLATIONS) == []
    policy_of(page.goto(f"{live_server.url}/api/redoc/"))
    page.wait_for_selector("redoc [data-section-id]", timeout=30_000)
    page.wait_for_selector("text=API docs by Redocly")
    page.wait_for_timeout(500)  # the menu's logo, if it were fetched
    page.screenshot(path=str(RESULTS / "csp-redoc.png"))
    assert page.evaluate(VIOLATIONS) == []
    assert page.errors == []
    assert page.external_requests == []


def test_the_api_docs_fetch_nothing_from_outside_on_a_real_host_name(
    browser, live_server, settings
):
    """Swagger UI skips its online validator on localhost only: seen here as quorum.test."""
    settings.ALLOWED_HOSTS = ["quorum.test", "localhost", "127.0.0.1"]
    port = re.search(r":(\d+)$", live_server.url).group(1)
    mapped = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--host-resolver-rules=MAP quorum.test 127.0.0.1",
        ],
    )
    try:
        page = mapped.new_page()
        origin = f"http://quorum.test:{port}"
        elsewhere, refused = [], []
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((origin, "data:", f"blob:{origin}"))
                else elsewhere.append(r.url)
            ),
        )
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{origin}/api/docs/")
        page.wait_for_selector(".swagger-ui .opblock-tag", timeout=30_000)
        page.wait_for_timeout(500)
        assert page.locator("img[src*='validator']").count() == 0
        page.goto(f"{origin}/api/redoc/")
        page.wait_for_selector("redoc [data-section-id]", timeout=30_000)
        page.wait_for_timeout(500)
        assert elsewhere == [] and refused == []
    finally:
        mapped.close()
