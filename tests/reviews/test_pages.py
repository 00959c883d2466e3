"""Review pages in the browser: the use case's campaigns tab and its form, the review screen
and its htmx fragment, the results page, the inbox and the version page's feedback."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviews.models import Review, ReviewCampaign, ReviewSlot
from reviews.services import campaigns, reviewing
from tests.conftest import login
from tests.factories import log_forecasts, make_version
from usecases.models import UseCase

FEATURES = [
    {"name": "store", "type": "category", "description": "Store id"},
    {"name": "price", "type": "number", "description": "Shelf price (EUR)"},
]


@pytest.fixture
def forecast(use_case):
    use_case.feature_schema = FEATURES
    use_case.save(update_fields=["feature_schema"])
    return use_case


@pytest.fixture
def version(forecast, personas):
    version = make_version(forecast, "2.1", personas["data_scientist"])
    log_forecasts(version, 30)
    return version


@pytest.fixture
def campaign(forecast, version, personas):
    return campaigns.create_campaign(
        forecast,
        by=personas["data_scientist"],
        name="October check",
        model_version=version,
        sample_size=5,
        reason_tags=["promotion", "weather"],
        instructions="Check the weekend peaks.",
    )


@pytest.fixture
def pairwise(forecast, version, personas):
    other = make_version(forecast, "2.2", personas["data_scientist"])
    log_forecasts(other, 30, seed=2)
    return campaigns.create_campaign(
        forecast,
        by=personas["expert"],
        name="2.1 or 2.2?",
        model_version=version,
        other_version=other,
        mode="pairwise",
        sample_size=4,
    )


def url(name: str, campaign: ReviewCampaign, *args) -> str:
    return reverse(f"reviews:{name}", args=[campaign.use_case.slug, campaign.pk, *args])


def slot_shown(response) -> int | None:
    """The slot the review screen (page or fragment) shows, from its form's address."""
    found = re.search(r'hx-post="/usecases/[^"]+/review/(\d+)/"', response.content.decode())
    return int(found.group(1)) if found else None


def answer(campaign, reviewer, n: int, verdict: str = "correct", **kwargs) -> None:
    for _ in range(n):
        slot = reviewing.claim_next(campaign, reviewer=reviewer)
        reviewing.submit_review(slot, reviewer=reviewer, verdict=verdict, **kwargs)


# Permissions: personas × pages


PAGES = ["campaigns", "campaign_detail", "corrections_csv", "review"]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", {page: 302 for page in PAGES}),
        ("outsider", {page: 404 for page in PAGES}),
        (
            "viewer",
            {"campaigns": 200, "campaign_detail": 200, "corrections_csv": 200, "review": 403},
        ),
        (
            "data_scientist",
            {"campaigns": 200, "campaign_detail": 200, "corrections_csv": 200, "review": 403},
        ),
        ("expert", {page: 200 for page in PAGES}),
        ("owner", {page: 200 for page in PAGES}),
        (
            "manager",
            {"campaigns": 200, "campaign_detail": 200, "corrections_csv": 200, "review": 403},
        ),
        ("admin", {page: 200 for page in PAGES}),
    ],
)
def test_review_pages_answer_each_persona_by_role(client, personas, campaign, who, expected):
    login(client, personas, who)
    for page, status in expected.items():
        if page == "campaigns":
            address = reverse("reviews:campaigns", args=[campaign.use_case.slug])
        else:
            address = url(page, campaign)
        response = client.get(address)
        assert response.status_code == status, (page, response.status_code)
        if status == 302:
            assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("outsider", 404), ("viewer", 403), ("expert", 200)],
)
def test_only_reviewers_may_answer_an_item(client, personas, campaign, who, status):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    login(client, personas, who)
    response = client.post(url("review_submit", campaign, slot.pk), {"verdict": "correct"})
    assert response.status_code in ((status,) if status != 200 else (200, 302))
    assert Review.objects.exists() is (who == "expert")


@pytest.mark.parametrize(
    ("who", "status"),
    [("outsider", 404), ("viewer", 403), ("expert", 302), ("data_scientist", 302)],
)
def test_creating_and_closing_campaigns_needs_manage_reviews(
    client, personas, forecast, version, who, status
):
    login(client, personas, who)
    data = {"name": "Spot check", "mode": "single", "model_version": version.pk}
    data |= {"strategy": "uniform", "sample_size": 3, "reviewers_per_item": 1}
    response = client.post(reverse("reviews:campaigns", args=[forecast.slug]), data)
    assert response.status_code == status
    assert ReviewCampaign.objects.filter(name="Spot check").exists() is (status == 302)
    if status == 302:
        created = ReviewCampaign.objects.get(name="Spot check")
        response = client.post(url("campaign_close", created))
        assert response.status_code == 302
        created.refresh_from_db()
        assert created.status == ReviewCampaign.Status.CLOSED


# The campaigns tab


def test_the_campaigns_tab_lists_status_mode_strategy_progress_and_due_date(
    client, personas, campaign, pairwise
):
    campaign.due_date = datetime.date(2031, 3, 4)
    campaign.save(update_fields=["due_date"])
    answer(campaign, personas["expert"], 2)
    login(client, personas, "expert")
    response = client.get(reverse("reviews:campaigns", args=[campaign.use_case.slug]))
    html = response.content.decode()
    assert "October check" in html and "2.1 or 2.2?" in html
    assert "2 / 5 reviews · 40 %" in html
    assert "Blind pairwise" in html and "Uniform" in html
    assert "4 Mar 2031" in html
    assert 'aria-current="page">Reviews</a>' in html
    assert "New campaign" in html and "Start reviewing" in html


def test_a_viewer_sees_the_campaigns_but_neither_the_form_nor_a_review_button(
    client, personas, campaign
):
    login(client, personas, "viewer")
    html = client.get(reverse("reviews:campaigns", args=[campaign.use_case.slug])).content
    assert b"October check" in html
    assert b"campaign-form" not in html and b"Start reviewing" not in html


def test_a_new_campaign_from_the_form_samples_its_items_and_opens_its_page(
    client, personas, forecast, version
):
    login(client, personas, "expert")
    data = {
        "name": "Weekend peaks",
        "mode": "single",
        "model_version": version.pk,
        "strategy": "stratified",
        "sample_size": 6,
        "reviewers_per_item": 2,
        "reason_tags": "promotion, weather,  promotion , new store",
        "due_date": "2031-01-31",
        "instructions": "Look at Saturdays.",
    }
    response = client.post(reverse("reviews:campaigns", args=[forecast.slug]), data, follow=True)
    created = ReviewCampaign.objects.get(name="Weekend peaks")
    assert response.redirect_chain[-1][0] == url("campaign_detail", created)
    assert created.reason_tags == ["promotion", "weather", "new store"]
    assert (created.item_count, created.reviewers_per_item) == (6, 2)
    assert created.slots.count() == 12
    assert "“Weekend peaks” is open: 6 items sampled." in response.content.decode()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"sample_size": 0}, "sample_size", "greater than or equal to 1"),
        ({"sample_size": 20000}, "sample_size", "less than or equal to 10000"),
        ({"reviewers_per_item": 6}, "reviewers_per_item", "less than or equal to 5"),
        ({"mode": "pairwise"}, "other_version", "Blind pairwise compares two versions"),
        ({"strategy": "disagreement"}, "other_version", "needs a champion"),
        ({"strategy": "lowest_confidence"}, "strategy", "carry no confidence"),
        (
            {"window_start": "2030-01-02T00:00", "window_end": "2030-01-01T00:00"},
            "window_end",
            "must end after it starts",
        ),
        ({"window_start": "2030-01-01T00:00"}, "model_version", "no predictions in this time"),
        ({"window_end": "9999-12-31T23:59"}, "window_end", "between 1970 and 2100"),
    ],
)
def test_a_refused_campaign_shows_the_reason_beside_its_field(
    client, personas, forecast, version, change, field, message
):
    login(client, personas, "data_scientist")
    data = {"name": "Spot check", "mode": "single", "model_version": version.pk}
    data |= {"strategy": "uniform", "sample_size": 3, "reviewers_per_item": 1, **change}
    response = client.post(reverse("reviews:campaigns", args=[forecast.slug]), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    html = response.content.decode()
    assert "The campaign is not created" in html or "form-errors" in html
    assert not ReviewCampaign.objects.filter(name="Spot check").exists()


def test_the_campaign_form_offers_only_this_use_cases_versions(client, personas, forecast, version):
    stranger = make_version(
        UseCase.objects.create(slug="other", title="Other", owner=personas["outsider"]),
        "9.9",
        personas["outsider"],
    )
    login(client, personas, "expert")
    data = {"name": "Spot check", "mode": "single", "model_version": stranger.pk}
    data |= {"strategy": "uniform", "sample_size": 3, "reviewers_per_item": 1}
    response = client.post(reverse("reviews:campaigns", args=[forecast.slug]), data)
    assert "model_version" in response.context["form"].errors
    assert b"9.9" not in response.content


# The review screen


def test_the_review_screen_shows_one_item_with_features_prediction_and_keys(
    client, personas, campaign
):
    login(client, personas, "expert")
    response = client.get(url("review", campaign))
    html = response.content.decode()
    slot = ReviewSlot.objects.get(campaign=campaign, claimed_by=personas["expert"])
    prediction = slot.item.prediction
    assert f"Request <code>{prediction.request_id}</code>" in html
    assert "Shelf price (EUR)" in html and "Store id" in html
    assert prediction.features["store"] in html
    assert "Check the weekend peaks." in html
    for key in ("1", "C", "2", "X", "3", "U", "S", "Enter", "4", "5"):
        assert f"<kbd>{key}</kbd>" in html
    assert 'data-key="4"' in html and "promotion" in html
    assert 'hx-post="' + url("review_submit", campaign, slot.pk) + '"' in html
    assert 'id="campaign-done">0 / 5<' in html
    assert "js/review.js" in html


def test_reloading_the_review_screen_keeps_the_same_item(client, personas, campaign):
    login(client, personas, "expert")
    first = client.get(url("review", campaign)).context["slot"]
    again = client.get(url("review", campaign)).context["slot"]
    assert first.pk == again.pk


def test_an_answer_by_htmx_returns_the_next_items_fragment_with_progress(
    client, personas, campaign
):
    login(client, personas, "expert")
    slot = client.get(url("review", campaign)).context["slot"]
    data = {"verdict": "incorrect", "corrected_value": "21,5", "reason_tags": ["weather"]}
    data |= {"comment": " Rain all week. ", "seconds_spent": "4.25", "action": "submit"}
    response = client.post(
        url("review_submit", campaign, slot.pk),
        data,
        headers={"HX-Request": "true", "HX-Target": "review-workspace"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="review-workspace"')
    assert "<html" not in html
    assert 'id="campaign-done">1 / 5<' in html and 'id="my-reviewed">1<' in html
    assert slot_shown(response) not in (None, slot.pk)
    review = Review.objects.get(slot=slot)
    assert review.verdict == "incorrect" and review.corrected_value == 21.5
    assert review.reason_tags == ["weather"] and review.comment == "Rain all week."
    assert review.seconds_spent == 4.25


def test_an_answer_without_htmx_redirects_to_the_review_screen(client, personas, campaign):
    login(client, personas, "expert")
    slot = client.get(url("review", campaign)).context["slot"]
    response = client.post(url("review_submit", campaign, slot.pk), {"verdict": "correct"})
    assert response.status_code == 302 and response["Location"] == url("review", campaign)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a verdict: correct (key 1), incorrect (key 2) or unsure (key 3)."),
        (
            {"verdict": "incorrect", "corrected_value": "lots"},
            "Enter the correct value as a number",
        ),
        ({"verdict": "correct", "corrected_value": "12"}, "goes with the verdict “incorrect”"),
        ({"verdict": "correct", "reason_tags": ["sunspots"]}, "Select a valid choice"),
    ],
)
def test_an_invalid_answer_keeps_the_item_and_shows_the_error_inline(
    client, personas, campaign, data, message
):
    login(client, personas, "expert")
    slot = client.get(url("review", campaign)).context["slot"]
    response = client.post(
        url("review_submit", campaign, slot.pk), data, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert slot_shown(response) == slot.pk
    assert message in response.content.decode()
    assert not Review.objects.exists()


def test_an_expired_claim_taken_by_someone_else_is_reported_inline_with_a_way_on(
    client, personas, campaign
):
    login(client, personas, "expert")
    slot = client.get(url("review", campaign)).context["slot"]
    ReviewSlot.objects.filter(pk=slot.pk).update(
        claimed_by=personas["owner"], claimed_until=timezone.now() + datetime.timedelta(minutes=5)
    )
    response = client.post(
        url("review_submit", campaign, slot.pk),
        {"verdict": "correct"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "not claimed by you" in html and "Take the next item" in html
    assert not Review.objects.exists()


def test_skipping_releases_the_item_and_shows_another(client, personas, campaign):
    login(client, personas, "expert")
    slot = client.get(url("review", campaign)).context["slot"]
    response = client.post(
        url("review_submit", campaign, slot.pk), {"action": "skip"}, headers={"HX-Request": "true"}
    )
    assert slot_shown(response) not in (None, slot.pk)
    slot.refresh_from_db()
    assert slot.claimed_by is None and not slot.done
    assert not Review.objects.exists()


def test_when_nothing_is_left_the_screen_says_all_done(client, personas, campaign):
    answer(campaign, personas["expert"], 5)
    login(client, personas, "expert")
    response = client.get(url("review", campaign))
    html = response.content.decode()
    assert response.context["slot"] is None
    assert "All done" in html and "you reviewed 5 items" in html
    assert "review-form" not in html


def test_a_closed_campaign_takes_no_more_answers(client, personas, campaign):
    campaigns.close_campaign(campaign, by=personas["owner"])
    login(client, personas, "expert")
    html = client.get(url("review", campaign)).content.decode()
    assert "This campaign is closed" in html and "review-form" not in html


def test_blind_pairwise_shows_a_and_b_in_the_stored_order_and_never_the_versions(
    client, personas, pairwise
):
    login(client, personas, "expert")
    response = client.get(url("review", pairwise))
    html = response.content.decode()
    item = response.context["slot"].item
    a, b = (item.other_prediction, item.prediction)[:: 1 if item.other_shown_first else -1]
    sides = response.context["item"]["sides"]
    assert [side["label"] for side in sides] == ["A", "B"]
    from reviews.views import value_text

    assert sides[0]["prediction"] == value_text(a.prediction)
    assert sides[1]["prediction"] == value_text(b.prediction)
    main = html[html.index('id="review-workspace"') :]
    assert "2.1" not in main and "2.2" not in main
    for key in ("A", "B", "E"):
        assert f"<kbd>{key}</kbd>" in main
    assert 'name="verdict"' not in main and "corrected_value" not in main


def test_a_pairwise_pick_is_stored_as_the_version_shown_there(client, personas, pairwise):
    login(client, personas, "expert")
    slot = client.get(url("review", pairwise)).context["slot"]
    client.post(
        url("review_submit", pairwise, slot.pk), {"preference": "a"}, headers={"HX-Request": "true"}
    )
    review = Review.objects.get(slot=slot)
    shown_first = pairwise.other_version if slot.item.other_shown_first else pairwise.model_version
    assert review.preference == "a" and review.preferred_version == shown_first


def test_a_pairwise_answer_needs_a_preference(client, personas, pairwise):
    login(client, personas, "expert")
    slot = client.get(url("review", pairwise)).context["slot"]
    response = client.post(
        url("review_submit", pairwise, slot.pk),
        {"verdict": "correct"},
        headers={"HX-Request": "true"},
    )
    assert "Choose which is better: A (key A), B (key B) or equal (key E)." in (
        response.content.decode()
    )


# Results


def test_the_results_page_shows_acceptance_segments_tags_agreement_and_reviewers(
    client, personas, campaign
):
    answer(campaign, personas["expert"], 3, reason_tags=["weather"])
    answer(campaign, personas["owner"], 2, verdict="incorrect", seconds_spent=12.0)
    login(client, personas, "viewer")
    response = client.get(url("campaign_detail", campaign))
    html = response.content.decode()
    assert response.context["results"]["acceptance"]["n"] == 5
    assert "60 %" in html  # 3 of 5, Wilson interval beside it
    assert "95 % interval" in html
    assert 'id="segment-table"' in html and "north" in html or "south" in html
    assert 'id="tag-table"' in html and "weather" in html
    assert "Erik" in html and "Olivia" in html
    assert "Download corrections (CSV)" in html
    assert 'data-chart="' in html and "plotly.min.js" in html
    assert "Close the campaign" not in html and "Start reviewing" not in html


def test_the_pairwise_results_show_the_preference_and_its_p_value(client, personas, pairwise):
    for _ in range(3):
        slot = reviewing.claim_next(pairwise, reviewer=personas["expert"])
        reviewing.submit_review(slot, reviewer=personas["expert"], preference="a")
    login(client, personas, "expert")
    html = client.get(url("campaign_detail", pairwise)).content.decode()
    assert "Binomial test" in html and "p = " in html
    assert "Preferred 2.1" in html and "Preferred 2.2" in html
    assert 'id="pairwise-segment-table"' in html


def test_the_corrections_download_is_a_csv_of_the_reviews(client, personas, campaign):
    answer(campaign, personas["expert"], 1, verdict="incorrect", corrected_value=18)
    login(client, personas, "data_scientist")
    response = client.get(url("corrections_csv", campaign))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("review_id,") and len(lines) == 2
    assert ",incorrect," in lines[1] and ",18," in lines[1]


# The inbox


def test_the_inbox_lists_campaigns_to_review_with_progress_and_those_created(
    client, personas, campaign, pairwise
):
    answer(campaign, personas["expert"], 1)
    login(client, personas, "expert")
    html = client.get(reverse("reviews:inbox")).content.decode()
    to_review = html[html.index('id="to-review"') : html.index('id="created-campaigns"')]
    assert "October check" in to_review and "2.1 or 2.2?" in to_review
    assert "You: 1 reviewed · campaign 1 / 5" in to_review
    assert to_review.count("Start reviewing") == 2
    created = html[html.index('id="created-campaigns"') :]
    assert "2.1 or 2.2?" in created and "October check" not in created


def test_the_inbox_of_a_viewer_offers_nothing_to_review(client, personas, campaign):
    login(client, personas, "viewer")
    html = client.get(reverse("reviews:inbox")).content.decode()
    assert "Nothing is waiting for you" in html and "October check" not in html


# Query counts: 3 or 30 rows cost the same


def queries(client, address: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(address)
    assert response.status_code == 200
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    return len(context)


def test_campaign_list_inbox_and_results_cost_the_same_queries_for_3_or_30_rows(
    client, personas, forecast, version
):
    def grow(n):
        for i in range(n):
            campaign = campaigns.create_campaign(
                forecast,
                by=personas["expert"],
                name=f"Campaign {ReviewCampaign.objects.count()}",
                model_version=version,
                sample_size=3,
                reason_tags=[f"tag {i}"],
            )
            answer(campaign, personas["expert"], 1, reason_tags=[f"tag {i}"], comment="Hm.")
        return campaign

    login(client, personas, "expert")
    first = grow(3)
    small = [
        queries(client, reverse("reviews:campaigns", args=[forecast.slug])),
        queries(client, reverse("reviews:inbox")),
        queries(client, url("campaign_detail", first)),
        queries(client, version.get_absolute_url()),
    ]
    grow(27)
    answer(first, personas["owner"], 2, reason_tags=["tag 2"], comment="More.")
    large = [
        queries(client, reverse("reviews:campaigns", args=[forecast.slug])),
        queries(client, reverse("reviews:inbox")),
        queries(client, url("campaign_detail", first)),
        queries(client, version.get_absolute_url()),
    ]
    assert large == small


def test_the_review_screen_costs_the_same_queries_on_the_first_and_the_tenth_item(
    client, personas, forecast, version
):
    campaign = campaigns.create_campaign(
        forecast, by=personas["expert"], name="Long", model_version=version, sample_size=20
    )
    login(client, personas, "expert")
    counts = []
    for _ in range(10):
        slot = client.get(url("review", campaign)).context["slot"]
        with CaptureQueriesContext(connection) as context:
            client.post(
                url("review_submit", campaign, slot.pk),
                {"verdict": "correct"},
                headers={"HX-Request": "true"},
            )
        counts.append(len(context))
    assert len(set(counts[1:])) == 1, counts


# The version page: experts' feedback


def test_the_version_page_shows_the_experts_feedback(client, personas, campaign, version):
    answer(
        campaign,
        personas["expert"],
        1,
        verdict="incorrect",
        corrected_value=18,
        comment="Too high.",
    )
    answer(campaign, personas["expert"], 2)
    login(client, personas, "data_scientist")
    html = client.get(version.get_absolute_url()).content.decode()
    fragment = reverse("reviews:version_feedback", args=[version.use_case.slug, version.version])
    assert f'hx-get="{fragment}"' in html and f'href="{fragment}"' in html
    section = client.get(fragment, headers={"HX-Request": "true"}).content.decode()
    assert 'id="feedback"' in section and "Experts' feedback" in section
    assert "<footer" not in section  # the fragment alone, for htmx to swap in
    whole = client.get(fragment).content.decode()  # without JavaScript: a page of its own
    assert "<footer" in whole and "Too high." in whole
    assert "Too high." in section and "18" in section
    assert "67 %" in section  # 2 of 3 accepted
    assert url("corrections_csv", campaign) in section or "October check" in section


@pytest.mark.parametrize(("who", "status"), [("viewer", 200), ("outsider", 404), ("manager", 200)])
def test_the_feedback_fragment_is_checked_like_the_version_page(
    client, personas, version, who, status
):
    login(client, personas, who)
    fragment = reverse("reviews:version_feedback", args=[version.use_case.slug, version.version])
    assert client.get(fragment).status_code == status
    unknown = reverse("reviews:version_feedback", args=[version.use_case.slug, "9.9"])
    assert client.get(unknown).status_code == 404


def test_a_binary_prediction_reads_as_a_probability_against_the_threshold_with_class_names(
    client, personas, use_case
):
    """The churn case of issue 11: threshold 0.30, a "1" at score 0.428 is not "confidence
    57 %" (the probability of class 0) but 43 % of churning, flagged at 30 %."""
    from tests.factories import log_predictions

    use_case.task_type, use_case.decision_threshold = UseCase.TaskType.BINARY, 0.3
    use_case.positive_label, use_case.negative_label = "will churn", "stays"
    use_case.save()
    version = make_version(use_case, "3.0", personas["data_scientist"])
    log_predictions(version, 1, scores=[0.428])
    campaign = campaigns.create_campaign(
        use_case,
        by=personas["data_scientist"],
        name="Churn check",
        model_version=version,
        sample_size=1,
    )
    login(client, personas, "expert")
    html = client.get(url("review", campaign)).content.decode()
    assert (
        "Probability of “will churn” 43 % (“will churn” at ≥ 30 %) → <strong>will churn</strong>"
        in html
    )
    assert '<div class="prediction-value">will churn</div>' in html
    assert "confidence 57 %" not in html and "confidence 13 %" not in html
