"""End to end in headless Chromium (Playwright) against pytest-django's live server: use
cases and their KPIs and rules (the browser and page fixtures are in tests/e2e/conftest.py)."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, shot
from usecases.models import KPI, UseCase

pytestmark = pytest.mark.e2e


def test_an_expert_creates_a_use_case_and_adds_a_kpi_without_reloading_the_page(
    live_server, page, personas
):
    log_in(page, live_server, personas["expert"].username)
    page.click("text=Propose a use case")
    page.fill("#id_title", "Grocery demand forecast")
    page.select_option("#id_task_type", "regression")
    page.fill("#id_problem_statement", "Stores over-order fresh products and waste 8 % of them.")
    page.fill("#id_sponsor", "Head of supply chain")
    # The schema as rows: the columns of a CSV header, then each one's type.
    page.fill("#id_schema_header", "store,price")
    page.click("button[value=import-header]")
    page.wait_for_selector("input[name=schema-1-name][value=price]")
    page.select_option("select[name=schema-0-type]", "category")
    page.select_option("select[name=schema-1-type]", "number")
    page.fill("input[name=schema-1-unit]", "EUR")
    shot(page, "use-case-schema-rows")
    page.click("text=Create the use case")
    page.wait_for_selector("h1:has-text('Grocery demand forecast')")
    use_case = UseCase.objects.get(title="Grocery demand forecast")
    assert page.url == f"{live_server.url}{use_case.get_absolute_url()}"
    assert use_case.owner == personas["expert"]

    page.evaluate("window.quorumNoReload = true")  # a full page load would forget it
    page.click("#kpis >> text=Add a KPI")
    page.wait_for_selector("#kpi-form")
    page.fill("#kpi-form #id_name", "Forecast error")
    assert page.locator("#kpi-form #id_metric option[value=roc_auc]").count() == 0
    page.select_option("#kpi-form #id_metric", "wape")  # lower is better: gate below target
    page.fill("#kpi-form #id_target", "0.18")
    page.fill("#kpi-form #id_gate_threshold", "0.1")
    page.click("#kpi-form button[type=submit]")
    page.wait_for_selector("#kpi-form .errorlist:has-text('must not be below the target')")
    shot(page, "kpi-form-error")

    page.select_option("#kpi-form #id_metric", "wape")
    page.fill("#kpi-form #id_target", "0.18")
    page.fill("#kpi-form #id_gate_threshold", "0.22")
    page.click("#kpi-form button[type=submit]")
    page.wait_for_selector("#kpi-table td:has-text('Forecast error')")
    assert page.locator("#kpi-form").count() == 0
    assert page.evaluate("window.quorumNoReload") is True
    kpi = KPI.objects.get(use_case=use_case)
    assert (kpi.metric, kpi.direction, kpi.gate_threshold) == ("wape", "lower", 0.22)
    shot(page, "kpi-added-inline")

    for name, path in [
        ("home", "/"),
        ("use-case-list", "/usecases/"),
        ("use-case-detail", use_case.get_absolute_url()),
    ]:
        page.goto(f"{live_server.url}{path}")
        if name == "home":  # the expert's tasks: the use case lacks a value model
            page.locator(".card", has_text="Use cases to complete").wait_for()
        shot(page, name)
    assert page.external_requests == []  # no CDN, no fonts, nothing outside Quorum
    assert page.errors == []


def test_a_data_quality_rule_form_shows_only_the_inputs_of_its_kind(live_server, page, use_case):
    log_in(page, live_server, "erik")  # the expert on the use_case fixture
    page.goto(f"{live_server.url}{use_case.get_absolute_url()}")
    page.click("#rules >> text=Add a rule")
    page.wait_for_selector("#rule-form")
    page.select_option("#rule-form #id_kind", "allowed_values")
    assert page.is_visible("#rule-form #id_allowed_values")
    assert not page.is_visible("#rule-form #id_minimum")
    page.select_option("#rule-form #id_field", "store")
    page.fill("#rule-form #id_allowed_values", "S01, S02")
    page.click("#rule-form button[type=submit]")
    page.wait_for_selector("#rule-table td:has-text('one of S01, S02')")
    shot(page, "rule-added-inline")
    assert page.errors == []


def test_the_rule_form_offers_only_the_kinds_that_fit_the_column(live_server, page, use_case):
    """A range only on numbers, allowed values and patterns not on them (the server refuses
    the rest: tests/usecases/test_services.py)."""
    log_in(page, live_server, "erik")
    page.goto(f"{live_server.url}{use_case.get_absolute_url()}")
    page.click("#rules >> text=Add a rule")
    page.wait_for_selector("#rule-form")
    disabled = "#rule-form #id_kind option:disabled"
    page.select_option("#rule-form #id_field", "price")  # a number
    expect(page.locator(disabled)).to_have_count(2)
    assert sorted(page.locator(disabled).evaluate_all("os => os.map(o => o.value)")) == [
        "allowed_values",
        "regex",
    ]
    page.select_option("#rule-form #id_kind", "range")
    page.select_option("#rule-form #id_field", "store")  # a category: range no longer fits
    expect(page.locator(disabled)).to_have_count(1)
    assert page.locator(disabled).get_attribute("value") == "range"
    assert page.locator("#rule-form #id_kind").input_value() != "range"
    assert not page.is_visible("#rule-form #id_minimum")  # its inputs went with it
    assert page.errors == []
