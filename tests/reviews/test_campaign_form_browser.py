"""The campaign form in headless Chromium: static/js/app.js shows the second version only for
blind pairwise or disagreement sampling (the data-show-for attribute), under the strict CSP."""

import pytest
from playwright.sync_api import expect

from tests.e2e import conftest as e2e
from tests.factories import log_predictions, make_version

pytestmark = pytest.mark.e2e

browser, page = e2e.browser, e2e.page  # the e2e fixtures (Chromium, a recording page)


def test_the_second_version_shows_only_for_pairwise_or_disagreement(
    live_server, page, personas, use_case
):
    log_predictions(make_version(use_case, "1.0", personas["owner"]), 5)
    e2e.log_in(page, live_server, personas["expert"].username)
    page.goto(f"{live_server.url}/usecases/{use_case.slug}/reviews/#new-campaign")
    second = page.locator("#campaign-form .field-other_version")
    expect(second).to_be_hidden()
    page.check("#campaign-form input[name=mode][value=pairwise]")
    expect(second).to_be_visible()
    page.check("#campaign-form input[name=mode][value=single]")
    expect(second).to_be_hidden()
    page.select_option("#id_strategy", "disagreement")
    expect(second).to_be_visible()
    page.select_option("#id_strategy", "stratified")
    expect(second).to_be_hidden()
    expect(page.locator("#campaign-form .field-window_start")).to_be_visible()
    assert page.errors == []
