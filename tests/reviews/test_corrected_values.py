"""A review's corrected value suits the use case's task type (issue 10, item 6): binary
takes a class (0 or 1), regression a number, multiclass a class the use case knows (one
predicted or observed in the campaign, or a label of its evaluation data). It goes only with
the verdict "incorrect" and must differ from the prediction (issue 11, item 3). The API and
the review screen share one check, in the reviewing service; a refusal records nothing and
leaves the item claimed."""

import json
import re

import pytest

from portal.errors import InvalidInput
from predictions.services import ingest
from registry.models import ModelVersion
from reviews.models import Review, ReviewCampaign, ReviewSlot
from reviews.services import campaigns, corrections, reviewing
from tests.factories import MemberFactory, UseCaseFactory
from usecases.models import Role

PREDICTIONS = {"regression": [10, 11.5], "binary": [1, 0], "multiclass": ["cat", "bird"]}
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


def review(api, campaign, corrected_value, *, verdict="incorrect", unlike=None):
    """Claim an item by the API (one not predicted as `unlike`) and review it."""
    client = api("expert")
    base = f"/api/v1/usecases/{campaign.use_case.slug}/review-campaigns/{campaign.pk}"
    claim = client.post(f"{base}/claim").json()
    if unlike is not None and claim["prediction"]["prediction"] == unlike:
        client.post(f"{base}/release", {"slot": claim["slot"]}, format="json")
        claim = client.post(f"{base}/claim").json()  # the other item
    body = {"slot": claim["slot"], "verdict": verdict, "corrected_value": corrected_value}
    return client.post(f"{base}/reviews", body, format="json")


def claim_unlike(campaign, reviewer, prediction) -> ReviewSlot:
    """The reviewer's claim on an item whose prediction is not `prediction`."""
    slot = reviewing.claim_next(campaign, reviewer=reviewer)
    if slot.item.prediction.prediction == prediction:
        reviewing.release_claim(slot, reviewer=reviewer)
        slot = reviewing.claim_next(campaign, reviewer=reviewer)
    return slot


def the_prediction_respelled(slot: ReviewSlot, task: str):
    """The claimed item's prediction as a reviewer might type it back: 10 as 10.0, 11.5 as
    "11,5", a class as its name."""
    predicted = slot.item.prediction.prediction
    if task != "regression":
        return predicted
    if not float(predicted).is_integer():
        return str(predicted).replace(".", ",")
    return int(predicted) if isinstance(predicted, float) else float(predicted)


def review_url(campaign, slot) -> str:
    return f"/usecases/{campaign.use_case.slug}/reviews/{campaign.pk}/review/{slot.pk}/"


def assert_still_claimed(slot, reviewer) -> None:
    """Nothing recorded: the slot is not done and the reviewer holds it still."""
    slot.refresh_from_db()
    assert not Review.objects.exists()
    assert (slot.done, slot.claimed_by_id) == (False, reviewer.pk)


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
    response = review(api, campaign, value, unlike=stored)
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
    slot = claim_unlike(campaign, personas["expert"], 1)
    url = review_url(campaign, slot)
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


# Contradictions (issue 11, item 3): the service, the API and the review screen.

TASKS = ["regression", "binary", "multiclass"]
# A corrected value of the right type for each task, unlike either item's prediction.
OTHER_VALUE = {"regression": 42, "binary": None, "multiclass": "dog"}


def other_value(slot: ReviewSlot, task: str):
    """A valid corrected value that is not the claimed item's prediction."""
    if task == "binary":
        return 1 - int(slot.item.prediction.prediction)
    return OTHER_VALUE[task]


@pytest.mark.parametrize("campaign", TASKS, indirect=True)
def test_service_refuses_incorrect_with_the_predicted_value(personas, campaign):
    # Before: stored, and counted as a correction that corrects nothing.
    expert, task = personas["expert"], campaign.use_case.task_type
    slot = reviewing.claim_next(campaign, reviewer=expert)
    value = the_prediction_respelled(slot, task)
    with pytest.raises(InvalidInput, match="is what the model predicted") as refused:
        reviewing.submit_review(slot, reviewer=expert, verdict="incorrect", corrected_value=value)
    assert refused.value.field == "corrected_value"
    assert_still_claimed(slot, expert)
    review = reviewing.submit_review(
        slot, reviewer=expert, verdict="incorrect", corrected_value=other_value(slot, task)
    )
    assert review.corrected_value == other_value(slot, task)


@pytest.mark.parametrize(
    ("campaign", "verdict", "words"),
    [
        ("regression", "correct", "a correct prediction needs none"),
        ("binary", "correct", "a correct prediction needs none"),
        ("multiclass", "correct", "a correct prediction needs none"),
        ("regression", "unsure", "when unsure"),
        ("multiclass", "unsure", "when unsure"),
    ],
    indirect=["campaign"],
)
def test_service_refuses_a_corrected_value_unless_the_verdict_is_incorrect(
    personas, campaign, verdict, words
):
    expert, task = personas["expert"], campaign.use_case.task_type
    slot = reviewing.claim_next(campaign, reviewer=expert)
    with pytest.raises(InvalidInput, match=words) as refused:
        reviewing.submit_review(
            slot, reviewer=expert, verdict=verdict, corrected_value=other_value(slot, task)
        )
    assert refused.value.field == "corrected_value"
    assert_still_claimed(slot, expert)


@pytest.mark.parametrize("campaign", ["binary"], indirect=True)
def test_the_verdict_rule_comes_before_the_type_check(personas, campaign):
    # "correct" with any value is refused for the value's presence, not its spelling.
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    with pytest.raises(InvalidInput, match="goes with the verdict “incorrect”"):
        reviewing.submit_review(
            slot, reviewer=personas["expert"], verdict="correct", corrected_value="yes"
        )


@pytest.mark.parametrize("verdict", ["correct", "unsure"])
@pytest.mark.parametrize("campaign", ["regression"], indirect=True)
def test_a_blank_corrected_value_goes_with_any_verdict(personas, campaign, verdict):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    review = reviewing.submit_review(
        slot, reviewer=personas["expert"], verdict=verdict, corrected_value="  "
    )
    assert review.corrected_value is None


@pytest.mark.parametrize(
    ("campaign", "value", "words"),
    [
        ("binary", 2, "0 or 1"),
        ("binary", 0.5, "0 or 1"),
        ("binary", "yes", "0 or 1"),
        ("regression", "inf", "a number"),
        ("regression", "nan", "a number"),
        ("regression", "ten", "a number"),
        ("multiclass", "unicorn", "known class"),
    ],
    indirect=["campaign"],
)
def test_service_refuses_a_corrected_value_of_the_wrong_type(personas, campaign, value, words):
    slot = reviewing.claim_next(campaign, reviewer=personas["expert"])
    with pytest.raises(InvalidInput, match=words) as refused:
        reviewing.submit_review(
            slot, reviewer=personas["expert"], verdict="incorrect", corrected_value=value
        )
    assert refused.value.field == "corrected_value"
    assert_still_claimed(slot, personas["expert"])


def test_a_multiclass_use_case_that_knows_no_class_takes_any_class_name(personas):
    use_case = UseCaseFactory(slug="no-classes", task_type="multiclass", owner=personas["owner"])
    version = ModelVersion.objects.create(
        use_case=use_case, version="1.0", registered_by=personas["owner"]
    )
    campaign = ReviewCampaign.objects.create(
        use_case=use_case,
        name="Empty",
        model_version=version,
        sample_size=1,
        item_count=0,
        created_by=personas["owner"],
    )
    assert corrections.known_classes(campaign) == set()
    assert corrections.corrected_value(campaign, " heron ", task_type="multiclass") == "heron"
    assert corrections.corrected_value(campaign, " ", task_type="multiclass") is None


@pytest.mark.parametrize(
    ("campaign", "verdict", "words"),
    [
        ("regression", "incorrect", "is what the model predicted"),
        ("binary", "incorrect", "is what the model predicted"),
        ("multiclass", "incorrect", "is what the model predicted"),
        ("binary", "correct", "a correct prediction needs none"),
        ("multiclass", "unsure", "when unsure"),
    ],
    indirect=["campaign"],
)
def test_api_refuses_a_contradictory_corrected_value_with_400_naming_the_field(
    api, personas, campaign, verdict, words
):
    expert, task = personas["expert"], campaign.use_case.task_type
    client = api("expert")
    base = f"/api/v1/usecases/{campaign.use_case.slug}/review-campaigns/{campaign.pk}"
    slot = ReviewSlot.objects.get(pk=client.post(f"{base}/claim").json()["slot"])
    value = the_prediction_respelled(slot, task) if verdict == "incorrect" else None
    if value is None:
        value = other_value(slot, task)
    body = {"slot": slot.pk, "verdict": verdict, "corrected_value": value}
    response = client.post(f"{base}/reviews", body, format="json")
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == "invalid"
    assert [item["field"] for item in answer["errors"]] == ["corrected_value"]
    assert words in answer["errors"][0]["message"] and words in answer["detail"]
    assert_still_claimed(slot, expert)
    # The claim is intact: the same item takes an answer that makes sense.
    body |= {"verdict": "incorrect", "corrected_value": other_value(slot, task)}
    assert client.post(f"{base}/reviews", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("campaign", "verdict", "words"),
    [
        ("regression", "incorrect", "is what the model predicted"),
        ("multiclass", "incorrect", "is what the model predicted"),
        ("regression", "correct", "a correct prediction needs none"),
        ("regression", "unsure", "when unsure"),
        ("binary", "incorrect", "0 or 1"),
    ],
    indirect=["campaign"],
)
def test_review_screen_shows_a_contradiction_beside_the_field_and_keeps_the_answer(
    client, personas, campaign, verdict, words
):
    expert, task = personas["expert"], campaign.use_case.task_type
    client.force_login(expert)
    slot = reviewing.claim_next(campaign, reviewer=expert)
    if task == "binary":
        typed = "yes"
    elif verdict == "incorrect":
        typed = str(the_prediction_respelled(slot, task))
    else:
        typed = str(other_value(slot, task))
    data = {"verdict": verdict, "corrected_value": typed, "comment": "Looked twice."}
    response = client.post(review_url(campaign, slot), data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    error = re.search(r'<ul class="errorlist" id="id_corrected_value_error"><li>(.*?)</li>', html)
    assert error and words in error.group(1), html
    assert f'value="{typed}" aria-invalid="true"' in " ".join(html.split())
    assert re.search(rf'value="{verdict}"[^>]*checked', html)
    assert "Looked twice." in html
    assert "Take the next item" not in html  # the item is still theirs
    assert f'hx-post="{review_url(campaign, slot)}"' in html  # the same item
    assert_still_claimed(slot, expert)
