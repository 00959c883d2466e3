"""The promotions pages: open a request, see its gates, decide, roll back; form errors."""

from __future__ import annotations

from django.urls import reverse

from promotions.models import PromotionRequest
from registry.models import ModelVersion
from tests.conftest import login
from tests.factories import make_version
from tests.promotions import evidence

Stage = ModelVersion.Stage


def page(response) -> str:
    return response.content.decode()


def test_open_a_request_in_the_browser_and_approve_it(client, use_case, personas):
    evidence.ready_version(use_case, personas, stage=Stage.SHADOW)
    url = reverse("promotions:use_case", args=[use_case.slug])
    browser = login(client, personas, "data_scientist")
    html = page(browser.get(url))
    assert "Request a promotion" in html and "Low risk: each needs 1 domain expert" in html
    response = browser.post(
        url,
        {
            "version": ModelVersion.objects.get().pk,
            "target_stage": "canary",
            "traffic_percent": "10",
            "rationale": "Ready.",
        },
    )
    request = PromotionRequest.objects.get()
    assert response.status_code == 302 and response.url == request.get_absolute_url()
    html = page(browser.get(request.get_absolute_url()))
    assert "Waiting for 1 domain expert" in html and 'id="approve-form"' not in html
    assert html.count("badge gate-passed") == 2
    expert = login(client, personas, "expert")
    assert 'id="approve-form"' in page(expert.get(request.get_absolute_url()))
    done = expert.post(reverse("promotions:decide", args=[use_case.slug, request.pk, "approve"]))
    assert done.status_code == 302
    html = page(expert.get(reverse("promotions:use_case", args=[use_case.slug])))
    assert "10 % of traffic" in html


def test_form_errors_name_the_problem(client, use_case, personas):
    version = make_version(use_case, "2.0.0", personas["owner"])
    url = reverse("promotions:use_case", args=[use_case.slug])
    browser = login(client, personas, "owner")
    response = browser.post(
        url, {"version": version.pk, "target_stage": "production", "rationale": "Now."}
    )
    assert response.status_code == 200
    assert "may only be promoted to shadow" in page(response)
    assert not PromotionRequest.objects.exists()


def test_reject_without_comment_and_override_without_justification_are_form_errors(
    client, use_case, personas
):
    make_version(use_case, "2.0.0", personas["owner"])
    browser = login(client, personas, "owner")
    browser.post(
        reverse("promotions:use_case", args=[use_case.slug]),
        {"version": ModelVersion.objects.get().pk, "target_stage": "shadow", "rationale": "Go."},
    )
    request = PromotionRequest.objects.get()
    expert = login(client, personas, "expert")
    rejected = expert.post(reverse("promotions:decide", args=[use_case.slug, request.pk, "reject"]))
    assert rejected.status_code == 400 and "This field is required" in page(rejected)
    manager = login(client, personas, "manager")
    assert 'id="override-form"' in page(manager.get(request.get_absolute_url()))
    overridden = manager.post(
        reverse("promotions:decide", args=[use_case.slug, request.pk, "override"])
    )
    assert overridden.status_code == 400
    request.refresh_from_db()
    assert request.status == "pending" and request.overridden_by is None


def test_outsiders_get_404_and_viewers_cannot_open_or_roll_back(client, use_case, personas):
    url = reverse("promotions:use_case", args=[use_case.slug])
    assert login(client, personas, "outsider").get(url).status_code == 404
    viewer = login(client, personas, "viewer")
    assert viewer.get(url).status_code == 200
    assert viewer.post(url, {}).status_code == 403
    rollback = reverse("promotions:rollback", args=[use_case.slug])
    assert viewer.post(rollback, {"reason": "x"}).status_code == 403


def test_the_overview_lists_what_waits_for_the_user(client, use_case, personas):
    make_version(use_case, "2.0.0", personas["owner"])
    login(client, personas, "owner").post(
        reverse("promotions:use_case", args=[use_case.slug]),
        {"version": ModelVersion.objects.get().pk, "target_stage": "shadow", "rationale": "Go."},
    )
    html = page(login(client, personas, "expert").get(reverse("promotions:overview")))
    waiting = html.split('id="waiting-for-you"')[1].split("</section>")[0]
    assert "version 2.0.0" in waiting
    html = page(login(client, personas, "viewer").get(reverse("promotions:overview")))
    assert "No request needs your approval." in html


def test_the_home_page_shows_requests_waiting_for_the_user_only(client, use_case, personas):
    make_version(use_case, "2.0.0", personas["owner"])
    login(client, personas, "owner").post(
        reverse("promotions:use_case", args=[use_case.slug]),
        {"version": ModelVersion.objects.get().pk, "target_stage": "shadow", "rationale": "Go."},
    )
    html = page(login(client, personas, "expert").get(reverse("home")))
    assert "Waiting for your approval" in html and "version 2.0.0" in html
    for who in ("owner", "viewer", "data_scientist"):  # the requester; no say; not needed
        # the data scientist, who may approve others' requests, gets the empty state
        assert "version 2.0.0" not in page(login(client, personas, who).get(reverse("home")))


def test_a_versions_stages_and_data_quality_fragment(client, use_case, personas):
    version = evidence.ready_version(use_case, personas)
    evidence.tally(version, rows=200, violating=3)
    from promotions.services import requests

    request = requests.open_request(
        use_case, by=personas["owner"], version=version, target_stage="shadow", rationale="Go."
    )
    requests.approve(request, by=personas["expert"])
    url = reverse("promotions:version_history", args=[use_case.slug, version.version])
    viewer = login(client, personas, "viewer")
    fragment = page(viewer.get(url, headers={"HX-Request": "true"}))
    assert "<html" not in fragment and "3 of 200 logged predictions" in fragment
    assert "1.5%" in fragment and f"request #{request.pk}" in fragment
    assert "Stages and data quality" in page(viewer.get(url))  # a page without JavaScript
    html = page(viewer.get(reverse("registry:version_detail", args=[use_case.slug, "2.0.0"])))
    assert url in html
    assert login(client, personas, "outsider").get(url).status_code == 404


def test_the_version_and_evaluation_pages_lead_to_a_request(client, use_case, personas):
    version = evidence.ready_version(use_case, personas)
    scientist = login(client, personas, "data_scientist")
    html = page(scientist.get(reverse("registry:version_detail", args=[use_case.slug, "2.0.0"])))
    link = f"{reverse('promotions:use_case', args=[use_case.slug])}?version={version.pk}"
    assert link in html
    form = page(scientist.get(link))
    assert f'<option value="{version.pk}" selected>' in form
    evaluation = version.evaluations.get()
    assert link in page(scientist.get(evaluation.get_absolute_url()))
    assert link not in page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
