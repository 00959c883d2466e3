"""A multiclass use case lists its known classes and may name them (issue 11, item 2): the
form, the API, the detail page, the review screen and the confusion matrix use the names."""

import pytest
from django.urls import reverse

from portal.errors import InvalidInput
from predictions.models import Prediction
from registry import charts
from reviews.services import campaigns
from tests.conftest import login
from tests.factories import T0, make_version
from usecases.models import AuditEvent
from usecases.services import usecases

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(personas):
    return usecases.create_use_case(
        by=personas["owner"],
        title="Tiers",
        task_type="multiclass",
        class_names={"1": "bronze", "2": "silver", "3": "gold", "vip": ""},
    )


def test_a_class_reads_by_its_name_and_an_unnamed_one_as_it_is(tiers):
    assert [tiers.class_label(v) for v in ("1", 2, 3.0, "vip", "7")] == [
        "bronze",
        "silver",
        "gold",
        "vip",
        "7",
    ]
    assert tiers.known_classes == ["1", "2", "3", "vip"]
    forecast = usecases.create_use_case(by=tiers.owner, title="Sales", task_type="regression")
    assert forecast.class_label(3.0) == "3.0" and forecast.known_classes == []


def test_classes_are_edited_in_the_form_one_a_line(client, personas, tiers):
    browser = login(client, personas, "owner")
    form = browser.get(reverse("usecases:edit", args=[tiers.slug])).content.decode()
    assert "1 = bronze\n2 = silver\n3 = gold\nvip</textarea>" in form
    data = {
        "title": "Tiers",
        "task_type": "multiclass",
        "priority": "medium",
        "risk_tier": "low",
        "feature_schema": "[]",
        "owner": "olivia",
        "class_names": "1 = bronze\n\n2 = silver \n3=gold\nvip = very important",
    }
    assert browser.post(reverse("usecases:edit", args=[tiers.slug]), data).status_code == 302
    tiers.refresh_from_db()
    assert tiers.class_names == {"1": "bronze", "2": "silver", "3": "gold", "vip": "very important"}
    assert AuditEvent.objects.filter(verb="usecase.updated").latest("id").after["class_names"]
    page = browser.get(tiers.get_absolute_url()).content.decode()
    assert "1 = bronze · 2 = silver · 3 = gold · vip = very important" in page
    twice = browser.post(
        reverse("usecases:edit", args=[tiers.slug]), {**data, "class_names": "1\n1 = one"}
    )
    assert "Line 2: the class “1” is listed twice." in twice.content.decode()


def test_a_binary_use_case_ignores_the_hidden_classes_input(client, personas):
    churn = usecases.create_use_case(by=personas["owner"], title="Churn", task_type="binary")
    data = {
        "title": "Churn",
        "task_type": "binary",
        "priority": "medium",
        "risk_tier": "low",
        "feature_schema": "[]",
        "owner": "olivia",
        "class_names": "a = b",
    }
    login(client, personas, "owner").post(reverse("usecases:edit", args=[churn.slug]), data)
    churn.refresh_from_db()
    assert churn.class_names == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["gold"], "an object of class → name"),
        ({"gold": "x" * 61}, "at most 60 characters"),
        ({"": "nothing"}, "is not a class"),
        ({"a\nb": ""}, "is not a class"),
    ],
)
def test_the_api_refuses_classes_that_are_not_a_map_of_names(api, tiers, value, message):
    response = api("owner").patch(
        f"/api/v1/usecases/{tiers.slug}/", {"class_names": value}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert message in response.json()["errors"][0]["message"]
    tiers.refresh_from_db()
    assert tiers.class_names["3"] == "gold"  # nothing half-written


def test_the_api_reads_and_writes_the_classes(api, tiers):
    patched = api("owner").patch(
        f"/api/v1/usecases/{tiers.slug}/", {"class_names": {"a": "A", "b": ""}}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["class_names"] == {"a": "A", "b": ""}


def test_the_review_screen_names_the_class_and_offers_the_known_ones(client, personas, tiers):
    usecases.add_member(tiers, by=personas["owner"], user=personas["expert"], role="expert")
    version = make_version(tiers, "1.0", personas["owner"])
    Prediction.objects.create(
        use_case=tiers,
        model_version=version,
        request_id="r1",
        predicted_at=T0,
        prediction="3",
        random_key=0.5,
    )
    campaign = campaigns.create_campaign(
        tiers, by=personas["owner"], name="Tiers check", model_version=version, sample_size=1
    )
    url = reverse("reviews:review", args=[tiers.slug, campaign.pk])
    html = login(client, personas, "expert").get(url).content.decode()
    assert '<div class="prediction-value">gold</div>' in html
    assert 'list="known-classes"' in html
    assert '<option value="vip">vip</option>' in html
    assert '<option value="1">bronze</option>' in html


def test_a_listed_class_is_a_correction_the_service_takes_and_a_typo_is_not(personas, tiers):
    from reviews.services import corrections
    from reviews.services.campaigns import create_campaign

    version = make_version(tiers, "2.0", personas["owner"])
    Prediction.objects.create(
        use_case=tiers,
        model_version=version,
        request_id="r9",
        predicted_at=T0,
        prediction="3",
        random_key=0.5,
    )
    campaign = create_campaign(
        tiers, by=personas["owner"], name="Listed", model_version=version, sample_size=1
    )
    # "vip" was never predicted nor in a dataset: listed by the owner, it is a known class
    assert corrections.corrected_value(campaign, "vip", task_type="multiclass") == "vip"
    with pytest.raises(InvalidInput, match="not a known class"):
        corrections.corrected_value(campaign, "gld", task_type="multiclass")


def test_the_confusion_matrix_shows_the_class_names(tiers):
    results = {"confusion_matrix": {"labels": ["1", "3"], "matrix": [[4, 1], [0, 5]]}}
    names = {str(v): tiers.class_label(v) for v in (0, 1, *tiers.known_classes)}
    figures = charts.evaluation_figures("multiclass", results, class_names=names)
    confusion = figures["performance"][-1]["figure"]
    assert list(confusion["data"][0]["x"]) == ["bronze", "gold"]


def test_a_class_called_items_is_listed_like_any_other(client, personas):
    """Templates read the classes as pairs: a class named "items" (or "keys") would shadow
    the dict's method in a template's dotted lookup."""
    odd = usecases.create_use_case(
        by=personas["owner"],
        title="Odd",
        task_type="multiclass",
        class_names={"items": "many", "keys": ""},
    )
    page = login(client, personas, "owner").get(odd.get_absolute_url()).content.decode()
    assert "items = many · keys" in page


def test_classes_read_in_natural_order_on_every_database(personas):
    """jsonb keeps no key order: the classes are shown in natural order everywhere."""
    grades = usecases.create_use_case(
        by=personas["owner"],
        title="Grades",
        task_type="multiclass",
        class_names={"10": "top", "b": "", "2": "low", "a": ""},
    )
    grades.refresh_from_db()
    assert grades.known_classes == ["2", "10", "a", "b"]
    assert grades.class_name_pairs[:2] == [("2", "low"), ("10", "top")]
