"""The owner's promotion settings: the gates' thresholds, approval minimums that may only
raise the risk tier's, and the deployment webhook, whose secret is never shown again."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from portal.errors import InvalidFields, InvalidInput
from promotions.models import PromotionPolicy
from promotions.services import policy, requests
from promotions.services import settings as policy_settings
from tests.conftest import PERSONAS, login
from tests.promotions.evidence import ready_version
from tests.promotions.factories import SECRET, webhook_policy
from usecases.models import AuditEvent

NEW_SECRET = "s3cr3t-Value-Never-Shown-Again"


def policy_url(use_case) -> str:
    return reverse("promotions:policy", args=[use_case.slug])


def form_data(**changes) -> dict:
    data = {
        "acceptance_threshold": "0.85",
        "acceptance_bound": "wilson",
        "max_violation_rate": "0.02",
        "min_experts": "1",
        "min_data_scientists": "0",
        "min_managers": "0",
        "webhook_url": "https://deploy.example.com/hooks/quorum",
        "webhook_secret": NEW_SECRET,
    }
    return {**data, **changes}


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("name", ["policy", "deliveries"])
def test_only_owners_and_admins_open_the_settings_pages(client, use_case, personas, who, name):
    url = reverse(f"promotions:{name}", args=[use_case.slug])
    expected = {"owner": 200, "admin": 200, "outsider": 404, "anonymous": 302}.get(who, 403)
    assert login(client, personas, who).get(url).status_code == expected


@pytest.mark.parametrize(("who", "status"), [("expert", 403), ("manager", 403), ("outsider", 404)])
def test_nobody_else_saves_the_policy(client, use_case, personas, who, status):
    response = login(client, personas, who).post(policy_url(use_case), form_data())
    assert response.status_code == status
    assert not PromotionPolicy.objects.exists()


def test_the_owner_saves_the_policy_and_the_audit_trail_keeps_it_without_the_secret(
    client, use_case, personas
):
    response = login(client, personas, "owner").post(policy_url(use_case), form_data())
    assert response.status_code == 302 and response["Location"] == policy_url(use_case)
    saved = PromotionPolicy.objects.get(use_case=use_case)
    assert (saved.acceptance_threshold, saved.acceptance_bound) == (0.85, "wilson")
    assert saved.max_violation_rate == 0.02
    assert saved.webhook_url == "https://deploy.example.com/hooks/quorum"
    assert saved.webhook_secret == NEW_SECRET
    event = AuditEvent.objects.get(verb="promotion_policy.changed")
    assert event.actor == personas["owner"] and event.use_case_slug == use_case.slug
    assert event.after["webhook_secret"] == "changed"
    assert event.before["webhook_secret"] == "not set"
    assert event.after["acceptance_threshold"] == 0.85
    assert NEW_SECRET not in json.dumps([event.before, event.after])


def test_the_secret_is_never_in_a_page_after_saving(client, use_case, personas):
    login(client, personas, "owner")
    saved = client.post(policy_url(use_case), form_data(), follow=True)
    assert "The promotion policy is saved." in saved.content.decode()
    refused = client.post(policy_url(use_case), form_data(acceptance_threshold="7"))
    assert refused.status_code == 200 and "from 0 to 1" in refused.content.decode()
    pages = [
        saved,
        refused,  # an error re-renders the form: the typed secret is not put back either
        client.get(policy_url(use_case)),
        client.get(reverse("promotions:deliveries", args=[use_case.slug])),
        client.get(reverse("usecases:history", args=[use_case.slug])),
        client.get(reverse("promotions:use_case", args=[use_case.slug])),
    ]
    for page in pages:
        assert page.status_code == 200
        assert NEW_SECRET not in page.content.decode()
    html = pages[2].content.decode()
    assert "Secret: <strong>set on " in html
    assert "Replace the secret" in html


def test_an_empty_secret_keeps_the_saved_one(client, use_case, personas):
    webhook_policy(use_case, "https://deploy.example.com/hooks/quorum")
    login(client, personas, "owner").post(policy_url(use_case), form_data(webhook_secret=""))
    assert PromotionPolicy.objects.get().webhook_secret == SECRET
    event = AuditEvent.objects.get(verb="promotion_policy.changed")
    assert "webhook_secret" not in event.after


def test_an_empty_url_removes_the_webhook_and_its_secret(use_case, personas):
    webhook_policy(use_case, "https://deploy.example.com/hooks/quorum")
    policy_settings.save_policy(use_case, by=personas["owner"], webhook_url="")
    saved = PromotionPolicy.objects.get()
    assert (saved.webhook_url, saved.webhook_secret) == ("", "")
    assert AuditEvent.objects.get().after == {"webhook_url": "", "webhook_secret": "removed"}


@pytest.mark.parametrize(
    "url", ["ftp://deploy.example.com/hook", "javascript:alert(1)", "file:///etc/passwd"]
)
def test_a_webhook_url_that_is_not_http_is_refused_on_the_form(client, use_case, personas, url):
    response = login(client, personas, "owner").post(
        policy_url(use_case), form_data(webhook_url=url)
    )
    assert response.status_code == 200
    assert "A webhook URL starts with https://" in response.content.decode()
    assert not PromotionPolicy.objects.exists()


def test_a_private_webhook_host_is_refused_by_default(client, use_case, personas, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    url = "http://169.254.169.254/latest/meta-data/"
    response = login(client, personas, "owner").post(
        policy_url(use_case), form_data(webhook_url=url)
    )
    assert "public addresses only" in response.content.decode()


def test_a_webhook_needs_a_secret_of_16_characters(use_case, personas):
    url = "https://deploy.example.com/hooks/quorum"
    with pytest.raises(InvalidInput, match="Set a secret"):
        policy_settings.save_policy(use_case, by=personas["owner"], webhook_url=url)
    with pytest.raises(InvalidInput, match="at least 16 characters") as short:
        policy_settings.save_policy(
            use_case, by=personas["owner"], webhook_url=url, webhook_secret="short"
        )
    assert short.value.field == "webhook_secret"


def test_the_minimums_may_only_raise_the_risk_tiers(client, use_case, personas):
    use_case.risk_tier = "high"
    use_case.save()
    login(client, personas, "owner")
    response = client.post(policy_url(use_case), form_data(min_experts="1", min_managers="0"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "The high risk tier already needs 2 domain expert approvals" in html
    assert "The high risk tier already needs 1 manager approval:" in html
    assert not PromotionPolicy.objects.exists()

    client.post(policy_url(use_case), form_data(min_experts="3", min_managers="1"))
    saved = PromotionPolicy.objects.get()
    assert policy.required_approvals(use_case, saved) == {
        "expert": 3,
        "data_scientist": 0,
        "manager": 1,
    }


def test_the_tiers_own_minimum_is_stored_as_following_the_tier(use_case, personas):
    use_case.risk_tier = "medium"  # one expert and one data scientist
    use_case.save()
    saved = policy_settings.save_policy(
        use_case, by=personas["owner"], min_experts=1, min_data_scientists=2, min_managers=0
    )
    assert (saved.min_experts, saved.min_data_scientists, saved.min_managers) == (0, 2, 0)
    use_case.risk_tier = "high"
    assert policy.required_approvals(use_case, saved)["expert"] == 2  # the tier moved it


def test_the_form_shows_the_minimums_that_apply(client, use_case, personas):
    use_case.risk_tier = "high"
    use_case.save()
    html = login(client, personas, "owner").get(policy_url(use_case)).content.decode()
    assert 'name="min_experts" value="2"' in html
    assert 'name="min_managers" value="1"' in html
    assert "The high risk tier needs 2; you may raise it." in html


def test_rates_are_checked(use_case, personas):
    with pytest.raises(InvalidFields) as refused:
        policy_settings.save_policy(
            use_case, by=personas["owner"], acceptance_threshold=1.5, max_violation_rate=0
        )
    fields = {error.field for error in refused.value.errors}
    assert fields == {"acceptance_threshold", "max_violation_rate"}


def test_an_owner_with_a_request_waiting_may_not_loosen_its_gates(client, use_case, personas):
    version = ready_version(use_case, personas)
    requests.open_request(
        use_case, by=personas["owner"], version=version, target_stage="shadow", rationale="Go."
    )
    response = login(client, personas, "owner").post(
        policy_url(use_case), form_data(acceptance_threshold="0.5", webhook_url="")
    )
    assert "Your own promotion request is waiting on this use case" in response.content.decode()
    assert not PromotionPolicy.objects.exists()
    # Tightening is fine, and so is another owner (here an admin) loosening them.
    policy_settings.save_policy(use_case, by=personas["owner"], acceptance_threshold=0.9)
    policy_settings.save_policy(use_case, by=personas["admin"], acceptance_threshold=0.5)
    assert PromotionPolicy.objects.get().acceptance_threshold == 0.5


def test_saving_nothing_new_writes_no_audit_event(use_case, personas):
    policy_settings.save_policy(use_case, by=personas["owner"], acceptance_threshold=0.9)
    policy_settings.save_policy(use_case, by=personas["owner"], acceptance_threshold=0.9)
    assert AuditEvent.objects.filter(verb="promotion_policy.changed").count() == 1
