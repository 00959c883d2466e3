"""A review's corrected value suits the use case's task type (issue 10, item 6): binary
takes a class (0 or 1), regression a number, multiclass a class the use case knows (one
predicted or observed in the campaign, or a label of its evaluation data). The API and the
review screen share one check, in the reviewing service."""

import json

import pytest

from predictions.services import ingest
from registry.models import ModelVersion
from reviews.models import Review
from reviews.services import campaigns, reviewing
from tests.factories import MemberFactory, UseCaseFactory
from usecases.models import Role

PREDICTIONS = {"regression": [10.5, 11.0], "binary": [1, 0], "multiclass": ["cat", "bird"]}
OUTCOMES = {"regression": [12.0, None], "binary": [0, None], "multiclass": ["dog", None]}


@pytest.fixture
def campaign(personas, request):
    """An open campaign on two predictions of a use case of the task type asked for."""
    task = request.param
    use_case = UseCaseFactory(
        slug=f"{task}-case", task_type=task, owner=personas["owner"], feature_schema=[]
    )
    MemberFactory(use_case=use_case, user=personas["expert"], role=Role.EXPERT)
    version = ModelVersion.objects.create(
        use_case=use_case, version="1.0", registered_by=personas["owner"]
    )
    rows = [
        {
            "version": "1.0",
            "request_id": f"r{n}",
            "timestamp": "2026-03-31T14:05:00Z",
            "prediction": prediction,
        }
        for n, prediction in enumerate(PREDICTIONS[task])
    ]
    ingest.log_predictions(use_case, by=personas["owner"], rows=rows)
    outcomes = [
        {"request_id": f"r{n}", "outcome": outcome}
        for n, outcome in enumerate(OUTCOMES[task])
        if outcome is not None
    ]
    ingest.attach_outcomes(use_case, by=personas["owner"], rows=outcomes)
    return campaigns.create_campaign(
        use_case, by=personas["owner"], name="Check", model_version=version, sample_size=2
    )


def review(api, campaign, corrected_value):
    client = api("expert")
    base = f"/api/v1/usecases/{campaign.use_case.slug}/review-campaigns/{campaign.pk}"
    slot = client.post(f"{base}/claim").json()["slot"]
    body = {"slot": slot, "verdict": "incorrect", "corrected_value": corrected_value}
    return client.post(f"{base}/reviews", body, format="json")


@pytest.mark.parametrize(
    ("campaign", "value", "stored"),
    [
        ("binary", 1, 1),
        ("binary", 0, 0),
        ("binary", True, 1),
        ("regression", 3.5, 3.5),
        ("regression", 42, 42),
        ("regression", "3,5", 3.5),
        ("multiclass", "dog", "dog"),  # an outcome
        ("multiclass", "bird", "bird"),  # a prediction
        ("multiclass", " cat ", "cat"),
        ("binary", None, None),
    ],
    indirect=["campaign"],
)
def test_api_takes_a_corrected_value_that_suits_the_task_type(api, campaign, value, stored):
    response = review(api, campaign, value)
    assert response.status_code == 201, response.content
    assert Review.objects.get().corrected_value == stored


@pytest.mark.parametrize(
    ("campaign", "value", "words"),
    [
        ("binary", 2, "0 or 1"),
        ("binary", 0.5, "0 or 1"),
        ("binary", "dog", "0 or 1"),
        ("regression", "dog", "a number"),
        ("regression", [1], "a number"),
        ("regression", {"a": 1}, "a number"),
        ("regression", True, "a number"),
        ("multiclass", "unicorn", "known class"),
        ("multiclass", 7, "known class"),
        ("multiclass", ["cat"], "class name"),
    ],
    indirect=["campaign"],
)
def test_api_refuses_a_corrected_value_that_does_not_suit_the_task_type(
    api, campaign, value, words
):
    # Before: 201 for every one (any JSON was stored as the corrected value).
    response = review(api, campaign, value)
    assert response.status_code == 400, response.content
    body = response.json()
    assert [item["field"] for item in body["errors"]] == ["corrected_value"]
    assert words in body["detail"]
    assert not Review.objects.exists()


@pytest.mark.parametrize("campaign", ["multiclass"], indirect=True)
def test_review_screen_refuses_an_unknown_class(client, personas, campaign):
    client.force_login(personas["expert"])
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    url = f"/usecases/{campaign.use_case.slug}/reviews/{campaign.pk}/review/{slot.pk}/"
    response = client.post(url, {"verdict": "incorrect", "corrected_value": "unicorn"})
    assert response.status_code == 200
    assert "known class" in response.content.decode()
    assert not Review.objects.exists()


@pytest.mark.parametrize("campaign", ["binary"], indirect=True)
def test_review_screen_still_reads_a_class_typed_as_text(client, personas, campaign):
    client.force_login(personas["expert"])
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    url = f"/usecases/{campaign.use_case.slug}/reviews/{campaign.pk}/review/{slot.pk}/"
    response = client.post(url, {"verdict": "incorrect", "corrected_value": "1"})
    assert response.status_code == 302
    assert Review.objects.get().corrected_value == 1


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ("do\x00g", "corrected_value", "NUL"),
        ({"k\x00": 1}, "corrected_value", "NUL"),
        ([["x", {"deep": "a\x00b"}]], "corrected_value[0][1].deep", "NUL"),
        (json.loads("[" * 40 + "1" + "]" * 40), None, "32 levels"),
    ],
)
@pytest.mark.parametrize("campaign", ["multiclass"], indirect=True)
def test_the_parser_refuses_what_jsonb_cannot_store_in_a_corrected_value(
    api, campaign, value, field, words
):
    # The serializer no longer checks this itself: every body of the view is read by
    # portal.parsers.JSONParser, which walks the whole value (keys included).
    response = review(api, campaign, value)
    assert response.status_code == 400, response.content
    body = response.json()
    assert words in body["detail"]
    if field:
        assert [item["field"] for item in body["errors"]] == [field]
    else:
        assert body["code"] == "too_deep"
    assert not Review.objects.exists()
