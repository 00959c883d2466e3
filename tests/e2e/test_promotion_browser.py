"""A promotion to production in headless Chromium: a data scientist requests it, two
experts and a manager approve in turn, and the deployment API shows the new version.
Screenshots of the request page with its gates land in test-results/."""

import pytest
from knox.models import AuthToken

from promotions.models import PromotionRequest
from registry.models import ModelVersion
from tests.e2e.conftest import log_in, shot
from tests.factories import MemberFactory, UserFactory
from tests.promotions import evidence
from usecases.models import Role

pytestmark = pytest.mark.e2e


def approve(page, live_server, username: str, url: str) -> None:
    # Leave the page first: a fragment it still loads (the comments thread) could set the
    # old session's CSRF cookie after the cookies are cleared, failing the next login.
    page.goto("about:blank")
    page.context.clear_cookies()
    log_in(page, live_server, username)
    page.goto(url)
    page.fill("#approve-form textarea", f"Checked by {username}.")
    page.click("#approve-form button[type=submit]")
    page.wait_for_selector(".messages, [role=status]")


def test_a_production_promotion_requested_approved_and_deployed(
    live_server, page, personas, use_case
):
    use_case.risk_tier = "high"
    use_case.save(update_fields=["risk_tier"])
    MemberFactory(use_case=use_case, user=UserFactory(username="eve"), role=Role.EXPERT)
    version = evidence.ready_version(use_case, personas, "2.0.0", stage=ModelVersion.Stage.CANARY)

    log_in(page, live_server, "dana")
    page.goto(f"{live_server.url}/usecases/{use_case.slug}/promotions/")
    page.select_option("#id_version", str(version.pk))
    page.select_option("#id_target_stage", "production")
    page.fill("#id_rationale", "Beats 1.x on the holdout; experts accept 90 %.")
    page.click("#promotion-form button[type=submit]")
    page.wait_for_selector("#gates")
    request = PromotionRequest.objects.get()
    url = f"{live_server.url}{request.get_absolute_url()}"
    assert page.url.split("#")[0] == url
    assert page.locator(".gate .badge.gate-passed").count() == 3
    assert "Waiting for 2 domain experts and 1 manager" in page.inner_text("#waiting")
    shot(page, "promotion-request-gates")

    approve(page, live_server, "erik", url)
    approve(page, live_server, "eve", url)
    assert "Waiting for 1 manager" in page.inner_text("#waiting")
    approve(page, live_server, "maria", url)
    assert page.inner_text("#promotion-status") == "Executed"
    assert page.locator("#decisions li").count() == 3
    shot(page, "promotion-executed")

    _, token = AuthToken.objects.create(personas["viewer"])
    answer = page.request.get(
        f"{live_server.url}/api/v1/usecases/{use_case.slug}/deployment",
        headers={"Authorization": f"Token {token}"},
    )
    assert answer.status == 200
    assert answer.json()["production"]["version"] == "2.0.0"
    assert answer.json()["canary"] is None
    assert page.errors == [] and page.external_requests == []
