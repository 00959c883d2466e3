"""Issue 13's journey in headless Chromium. Maria, a manager (no member of the use case:
managers may comment, collaboration/services/comments.py may_comment), opens the roadmap,
filters it to "blocked", opens a blocked use case from the table, reads why in its health
panel, and asks Erik, its expert, about it in a comment whose @mention she picks from the
autocomplete; the comment appears without a page load. Erik, in a browser of his own, sees
the bell's unread count, opens his notifications and follows the mention to the use case.
Screenshots in test-results/journey-*.png."""

import re

import pytest

from tests.e2e.conftest import log_in, shot
from tests.factories import UseCaseFactory, make_version
from tests.promotions.evidence import evaluation, gating_kpi, reference
from usecases.models import UseCase

pytestmark = pytest.mark.e2e

BLOCKER = "Moving to Pilot needs a version in shadow or canary; version 1.0.0 is only registered."


def blocked_use_case(use_case, personas) -> UseCase:
    """The Demand forecast (members as in tests/conftest.py) in proof of concept, its only
    version registered and its gates failing: blocked twice over. Two healthy use cases
    beside it, which the filter leaves out."""
    ds = personas["data_scientist"]
    UseCase.objects.filter(pk=use_case.pk).update(phase="poc", team="Supply chain")
    gating_kpi(use_case)
    evaluation(make_version(use_case, "1.0.0", ds), reference(use_case, ds), ds, passes=False)
    UseCaseFactory(title="Van maintenance", phase="scoping", owner=personas["owner"])
    UseCaseFactory(title="Call-centre volume", phase="idea", owner=personas["owner"])
    use_case.refresh_from_db()
    return use_case


def watched_page(browser, live_server):
    """A page in a browser context of its own (its own cookies), recording JS errors and
    requests leaving the live server as the `page` fixture does."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.errors, page.external_requests = [], []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            page.errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server.url, "data:", "blob:"))
            else page.external_requests.append(request.url)
        ),
    )
    return page


def test_a_manager_finds_a_blocked_use_case_and_asks_its_expert_who_is_told(
    browser, page, live_server, personas, use_case
):
    use_case = blocked_use_case(use_case, personas)
    log_in(page, live_server, "maria")

    # The roadmap from the top bar, filtered to what is blocked; the filter stays in the URL,
    # through the switch to the table.
    page.get_by_role("navigation").get_by_role("link", name="Roadmap").first.click()
    page.wait_for_url("**/roadmap/")
    page.select_option("#id_health", "blocked")
    page.click(".roadmap-filters button[type=submit]")
    page.wait_for_url("**/roadmap/?*health=blocked*")
    assert page.locator(".board-card").count() == 1
    page.click("nav.tabs >> text=Table")
    page.wait_for_url("**/roadmap/table/?*health=blocked*")
    table = page.locator(".roadmap-table tbody")
    assert table.locator("tr").count() == 1
    assert "Blocked" in table.inner_text() and BLOCKER in table.inner_text()
    assert "Van maintenance" not in table.inner_text()
    shot(page, "journey-roadmap-blocked")

    # The use case, and its health panel fetched by htmx.
    table.get_by_role("link", name="Demand forecast").click()
    page.wait_for_url(f"**{use_case.get_absolute_url()}")
    health = page.locator("section#health")
    health.wait_for()
    assert health.locator("[data-figure=health]").inner_text() == "Blocked"
    assert BLOCKER in health.locator("[data-figure=blocker]").inner_text()
    assert "See the promotions →" in health.locator("[data-figure=blocker]").inner_text()
    assert (
        "Version 1.0.0's evaluation gate fails: 1 of 1 gating KPIs fail: Forecast error."
        in health.locator(".health-reasons").inner_text()
    )
    assert health.locator("[data-figure=gates]").inner_text().split() == [
        "Failed",
        "version",
        "1.0.0",
    ]
    fix = health.get_by_role("link", name="See the failing evaluation →")
    assert re.search(r"/usecases/demand-forecast/evaluations/\d+/$", fix.get_attribute("href"))
    health.scroll_into_view_if_needed()
    shot(page, "journey-health")

    # A comment asking Erik, picked from the members the autocomplete offers.
    thread = page.locator(f"#comments-use_case-{use_case.pk}")
    thread.wait_for()
    page.evaluate("window.__samePage = true")  # gone if the page reloads
    textarea = thread.locator("form.comment-form > .mention-box textarea").last
    textarea.click()
    textarea.press_sequentially("The gates fail on 1.0.0, @er", delay=20)
    option = thread.locator(".mention-option", has_text="Erik")
    option.wait_for()
    option.click()
    assert textarea.input_value().endswith("@erik ")
    textarea.press_sequentially("could you look? It blocks the pilot.")
    thread.locator("form.comment-form > .form-actions button").last.click()
    comment = page.locator(".comment-body", has_text="The gates fail on 1.0.0")
    comment.wait_for()
    assert comment.locator("span.mention").inner_text() == "@erik"
    assert page.evaluate("window.__samePage") is True
    comment.scroll_into_view_if_needed()
    shot(page, "journey-comment")
    assert page.errors == [] and page.external_requests == []

    # Erik, in a browser of his own: the bell, his notifications, the mention, the use case.
    erik = watched_page(browser, live_server)
    log_in(erik, live_server, "erik")
    count = erik.locator("#notifications-bell .bell-count")
    assert int(count.get_attribute("data-count")) >= 1
    erik.click("#notifications-bell")
    erik.wait_for_url("**/notifications/")
    mention = erik.locator(".notification-list li.is-unread", has_text="mentioned you")
    assert "Demand forecast" in mention.inner_text()
    assert mention.locator(".item-title").inner_text().startswith("maria mentioned you on")
    shot(erik, "journey-notification")
    mention.locator(".item-title").click()
    erik.wait_for_url(f"**{use_case.get_absolute_url()}#comment-*")
    erik.locator(".comment-body", has_text="The gates fail on 1.0.0").wait_for()
    assert erik.errors == [] and erik.external_requests == []
    erik.context.close()
