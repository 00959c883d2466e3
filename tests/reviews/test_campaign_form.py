"""The campaign form (issue 11, item 6): only the fields of the chosen mode and strategy, the
window typed as the browser's datetime-local and kept as typed, and a sample larger than its
pool refused with the pool's size, in the browser and the API."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.errors import InvalidInput
from reviews.models import ReviewCampaign
from reviews.services import campaigns
from tests.conftest import fields_in, login
from tests.factories import T0, log_predictions, make_version

pytestmark = pytest.mark.django_db

API = "/api/v1/usecases/demand-forecast/review-campaigns/"


@pytest.fixture
def v1(use_case, personas):
    version = make_version(use_case, "1.0", personas["owner"])
    log_predictions(version, 30)
    return version


@pytest.fixture
def v2(use_case, personas, v1):
    version = make_version(use_case, "2.0", personas["owner"])
    log_predictions(version, 30, first=18)  # requests r18…r29 in common with 1.0
    return version


def post(client, personas, use_case, **change):
    login(client, personas, "expert")
    data = {"name": "Spot check", "mode": "single", "strategy": "uniform"}
    data |= {"sample_size": 5, "reviewers_per_item": 1, **change}
    return client.post(reverse("reviews:campaigns", args=[use_case.slug]), data)


def create(use_case, personas, **options):
    options = {"name": "Check", "sample_size": 10, **options}
    return campaigns.create_campaign(use_case, by=personas["expert"], **options)


def input_of(html: str, name: str) -> str:
    return re.search(rf'<(?:input|select)[^>]*name="{name}"[^>]*>', html).group(0)


# 1. Only the fields of the chosen mode


def test_the_second_version_is_marked_for_pairwise_and_disagreement_only(
    client, personas, use_case, v1
):
    login(client, personas, "expert")
    html = client.get(reverse("reviews:campaigns", args=[use_case.slug])).content.decode()
    select = input_of(html, "other_version")
    assert 'data-show-for="mode:pairwise strategy:disagreement"' in select
    # Without JS every field shows: nothing is hidden by the server.
    for name in ("mode", "strategy", "sample_size", "window_start", "window_end", "due_date"):
        assert "hidden" not in input_of(html, name)
        assert "data-show-for" not in input_of(html, name)


@pytest.mark.parametrize("other", ["same", "elsewhere"])
def test_a_single_uniform_campaign_ignores_a_second_version_sent_anyway(
    client, personas, use_case, v1, other
):
    # The same version would be refused as "a version different from the first"; the other
    # is no version of this use case.
    other_pk = {"same": v1.pk, "elsewhere": 999_999}[other]
    response = post(client, personas, use_case, model_version=v1.pk, other_version=other_pk)
    assert response.status_code == 302, response.context["form"].errors
    campaign = ReviewCampaign.objects.get(name="Spot check")
    assert campaign.other_version is None and campaign.mode == "single"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "pairwise"}, "Choose a version different from the first."),
        ({"strategy": "disagreement"}, "Choose a version different from the first."),
    ],
)
def test_the_second_version_still_counts_where_it_applies(
    client, personas, use_case, v1, change, message
):
    response = post(client, personas, use_case, model_version=v1.pk, other_version=v1.pk, **change)
    assert response.context["form"].errors["other_version"] == [message]


def test_a_single_disagreement_campaign_keeps_its_champion(client, personas, use_case, v1, v2):
    change = {"strategy": "disagreement", "sample_size": 12}
    response = post(client, personas, use_case, model_version=v2.pk, other_version=v1.pk, **change)
    assert response.status_code == 302
    assert ReviewCampaign.objects.get(name="Spot check").other_version == v1


# 2. The window in the app's datetime-local format


def test_the_window_renders_in_the_datetime_local_format(use_case, v1):
    from reviews.forms import CampaignForm

    form = CampaignForm(use_case=use_case, initial={"window_start": T0, "due_date": T0.date()})
    assert 'type="datetime-local"' in str(form["window_start"])
    assert 'value="2026-01-01T00:00"' in str(form["window_start"])
    assert 'type="date"' in str(form["due_date"]) and 'value="2026-01-01"' in str(form["due_date"])


def test_window_and_due_date_typed_in_the_app_format_come_back_as_typed_after_an_error(
    client, personas, use_case, v1
):
    typed = {"window_start": "2026-01-01T09:30", "window_end": "2026-01-02T18:45"}
    response = post(
        client, personas, use_case, name="", model_version=v1.pk, due_date="2031-01-31", **typed
    )
    html = response.content.decode()
    assert "name" in response.context["form"].errors
    assert 'value="2026-01-01T09:30"' in input_of(html, "window_start")
    assert 'value="2026-01-02T18:45"' in input_of(html, "window_end")
    assert 'value="2031-01-31"' in input_of(html, "due_date")


def test_a_window_typed_in_the_app_format_is_the_window_stored(client, personas, use_case, v1):
    typed = {"window_start": "2026-01-01T09:30", "window_end": "2026-01-01T20:30"}
    response = post(client, personas, use_case, model_version=v1.pk, **typed)
    assert response.status_code == 302, response.context["form"].errors
    campaign = ReviewCampaign.objects.get(name="Spot check")
    assert campaign.window_start == T0 + datetime.timedelta(hours=9, minutes=30)
    assert campaign.window_end == T0 + datetime.timedelta(hours=20, minutes=30)


def test_a_window_in_another_format_is_refused_rather_than_guessed(client, personas, use_case, v1):
    # 01/02/2026: 2 January in the US, 1 February elsewhere; the browser never sends it.
    response = post(
        client, personas, use_case, model_version=v1.pk, window_start="01/02/2026 09:30"
    )
    errors = response.context["form"].errors
    assert errors["window_start"] == ["Enter a date and time as 2030-01-31T09:00."]
    assert 'value="01/02/2026 09:30"' in input_of(response.content.decode(), "window_start")


# 3. A sample larger than its pool says how large the pool is


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sample_size": 31}, "Version 1.0 has 30 logged predictions: choose at most 30."),
        (
            {
                "sample_size": 20,
                "window_start": T0 + datetime.timedelta(hours=5),
                "window_end": T0 + datetime.timedelta(hours=17),
            },
            "The window holds 12 logged predictions of version 1.0: choose at most 12.",
        ),
        (
            {"sample_size": 11, "strategy": "stratified"},
            "Version 1.0 has 10 logged predictions: choose at most 10.",
        ),
        (
            {"sample_size": 11, "strategy": "lowest_confidence"},
            "Version 1.0 has 8 logged predictions with a confidence: choose at most 8.",
        ),
        (
            {"sample_size": 11, "strategy": "largest_error"},
            "Version 1.0 has 5 logged predictions with an outcome: choose at most 5.",
        ),
    ],
)
def test_a_sample_larger_than_its_pool_is_refused_with_the_pool_size(
    use_case, personas, options, message
):
    version = make_version(use_case, "1.0", personas["owner"])
    if options.get("strategy") == "stratified":
        log_predictions(version, 10, segments={"north": 6, "south": 4})
    elif options.get("strategy") == "lowest_confidence":
        log_predictions(version, 8)
        log_predictions(version, 12, first=8, confidence=False)
    elif options.get("strategy") == "largest_error":
        log_predictions(version, 20, errors=[0.5] * 5 + [None] * 15)
    else:
        log_predictions(version, 30)
    with pytest.raises(InvalidInput) as refused:
        create(use_case, personas, model_version=version, **options)
    assert (refused.value.field, refused.value.message) == ("sample_size", message)
    assert not ReviewCampaign.objects.exists()


@pytest.mark.parametrize("mode_strategy", [("pairwise", "uniform"), ("single", "disagreement")])
def test_two_versions_count_only_the_requests_they_share(use_case, personas, v1, v2, mode_strategy):
    mode, strategy = mode_strategy
    options = {"mode": mode, "strategy": strategy, "other_version": v1}
    with pytest.raises(InvalidInput) as refused:
        create(use_case, personas, model_version=v2, sample_size=13, **options)
    assert refused.value.field == "sample_size"
    assert refused.value.message == (
        "There are 12 requests predicted by both versions 2.0 and 1.0: choose at most 12."
    )
    assert create(use_case, personas, model_version=v2, sample_size=12, **options).item_count == 12


def test_the_pool_is_counted_only_when_short_and_never_past_the_sample_size(use_case, personas, v1):
    with CaptureQueriesContext(connection) as enough:
        create(use_case, personas, name="Enough", model_version=v1, sample_size=30)
    assert not [q for q in enough.captured_queries if "COUNT(" in q["sql"].upper()]
    with CaptureQueriesContext(connection) as short, pytest.raises(InvalidInput):
        create(use_case, personas, name="Short", model_version=v1, sample_size=31)
    counts = [q["sql"] for q in short.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 31" in counts[0].upper()


def test_the_browser_form_puts_the_pool_size_beside_the_sample_size(client, personas, use_case, v1):
    response = post(client, personas, use_case, model_version=v1.pk, sample_size=40)
    assert response.status_code == 200
    message = "Version 1.0 has 30 logged predictions: choose at most 30."
    assert response.context["form"].errors["sample_size"] == [message]
    assert 'id="id_sample_size_error"' in response.content.decode()
    assert not ReviewCampaign.objects.exists()


def test_the_api_answers_400_naming_sample_size_with_the_pool_size(api, v1):
    body = {"name": "April check", "model_version": "1.0", "sample_size": 45}
    response = api("expert").post(API, body, format="json")
    assert response.status_code == 400, response.content
    assert fields_in(response) == {"sample_size"}
    assert "Version 1.0 has 30 logged predictions: choose at most 30." in response.json()["detail"]
    assert not ReviewCampaign.objects.exists()
