"""The home page in Chromium, for an expert and a manager: it draws without a script error
or a refused policy, the phase chart renders, and screenshots land in test-results/."""

import datetime

import pytest
from django.utils import timezone

from tests.e2e.conftest import browser, log_in, page, shot  # noqa: F401 (fixtures)
from tests.factories import UseCaseFactory, make_version
from tests.portfolio.test_home import campaign, evaluation, pending_request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_home_page_of_an_expert_and_of_a_manager_in_the_browser(
    live_server,
    page,  # noqa: F811 (the e2e fixture, imported above)
    personas,
    use_case,
):
    scientist = personas["data_scientist"]
    version = make_version(use_case, "2.0.0", scientist)
    campaign(
        use_case, version, name="Spring check", due=timezone.localdate() - datetime.timedelta(1)
    )
    pending_request(use_case, version, scientist, expert=1, manager=1)
    evaluation(use_case, version, scientist, passed_gates=True)
    for phase in ("idea", "pilot", "production"):
        UseCaseFactory(owner=personas["owner"], phase=phase, expected_value_per_year=120_000)

    log_in(page, live_server, "erik")
    assert page.locator("#home-reviews .badge", has_text="Overdue").count() == 1
    assert page.locator("#waiting-for-you .item-title").count() == 1
    shot(page, "home-expert")

    page.context.clear_cookies()
    log_in(page, live_server, "maria")
    page.wait_for_selector("#home-portfolio .js-plotly-plot")
    assert page.locator("#home-week").is_visible()
    shot(page, "home-manager")
    assert page.errors == []
