"""The reference dataset: the owner marks one evaluation dataset per use case as the holdout
promotions are gated on (DESIGN.md "Deployment stages and promotion"); the promotions app
reads it through registry.selectors.reference_dataset."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from registry import selectors
from registry.models import EvaluationDataset
from registry.services import reference
from tests.conftest import login
from tests.factories import UseCaseFactory, csv_upload, dataset_csv, upload_dataset
from usecases.models import AuditEvent

UC = "/api/v1/usecases/demand-forecast"
BUTTON = "Use as reference for promotion"
BADGE = "Reference for promotion</span>"


@pytest.fixture
def datasets(use_case, personas):
    """“older” then “newer”, uploaded by the data scientist."""
    scientist = personas["data_scientist"]
    return [upload_dataset(use_case, scientist, name) for name in ("older", "newer")]


def marked(use_case) -> list[str]:
    return list(use_case.datasets.filter(is_reference=True).values_list("name", flat=True))


# Service and selector


def test_marking_a_dataset_unmarks_the_previous_one_and_audits_both_names(
    use_case, personas, datasets
):
    older, newer = datasets
    owner = personas["owner"]
    reference.mark_reference(older, by=owner)
    returned = reference.mark_reference(newer, by=owner)
    assert returned.is_reference and marked(use_case) == ["newer"]
    events = AuditEvent.objects.filter(verb="dataset.marked_reference").order_by("pk")
    assert [(e.before, e.after) for e in events] == [
        ({"reference": None}, {"reference": "older"}),
        ({"reference": "older"}, {"reference": "newer"}),
    ]
    assert (events[1].target_id, events[1].actor_name, events[1].use_case_slug) == (
        str(newer.pk),
        owner.username,
        use_case.slug,
    )


def test_marking_the_reference_again_changes_nothing(use_case, personas, datasets):
    reference.mark_reference(datasets[0], by=personas["owner"])
    reference.mark_reference(datasets[0], by=personas["owner"])
    assert marked(use_case) == ["older"]
    assert AuditEvent.objects.filter(verb="dataset.marked_reference").count() == 1


def test_the_database_allows_one_reference_dataset_per_use_case(use_case, personas, datasets):
    EvaluationDataset.objects.filter(pk=datasets[0].pk).update(is_reference=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        EvaluationDataset.objects.filter(pk=datasets[1].pk).update(is_reference=True)
    other = UseCaseFactory(owner=personas["owner"])
    theirs = upload_dataset(other, personas["owner"], "theirs")
    EvaluationDataset.objects.filter(pk=theirs.pk).update(is_reference=True)  # another use case
    assert marked(use_case) == ["older"] and marked(other) == ["theirs"]


def test_the_reference_dataset_is_the_marked_one_else_the_newest_else_none(
    use_case, personas, datasets
):
    older, newer = datasets
    assert selectors.reference_dataset(use_case) == newer
    reference.mark_reference(older, by=personas["owner"])
    assert selectors.reference_dataset(use_case) == older
    empty = UseCaseFactory(owner=personas["owner"])
    assert selectors.reference_dataset(empty) is None


# Pages


def test_the_owner_sees_the_button_and_marks_the_dataset(client, personas, use_case, datasets):
    older = datasets[0]
    login(client, personas, "owner")
    html = client.get(older.get_absolute_url()).content.decode()
    assert BUTTON in html and BADGE not in html
    action = reverse("registry:dataset_reference", args=[use_case.slug, older.pk])
    assert f'action="{action}"' in html and "csrfmiddlewaretoken" in html
    response = client.post(action)
    assert response.status_code == 302 and response.url == older.get_absolute_url()
    html = client.get(response.url).content.decode()
    assert "“older” is the reference for promotion." in html
    assert BADGE in html and BUTTON not in html
    listing = client.get(reverse("registry:datasets", args=[use_case.slug])).content.decode()
    rows = listing.split('id="dataset-table"')[1].split("</tr>")
    assert [BADGE in row for row in rows[1:3]] == [False, True]  # newest first


@pytest.mark.parametrize(
    ("who", "shown"),
    [("owner", True), ("admin", True), ("data_scientist", False), ("expert", False),
     ("manager", False), ("viewer", False)],
)  # fmt: skip
def test_only_those_who_set_the_policy_see_the_button(client, personas, datasets, who, shown):
    html = login(client, personas, who).get(datasets[0].get_absolute_url()).content.decode()
    assert (BUTTON in html) is shown


def test_the_badge_shows_to_every_reader(client, personas, use_case, datasets):
    reference.mark_reference(datasets[0], by=personas["owner"])
    login(client, personas, "viewer")
    assert BADGE in client.get(datasets[0].get_absolute_url()).content.decode()
    assert BADGE in client.get(reverse("registry:datasets", args=[use_case.slug])).content.decode()


# API


def test_the_api_marks_the_reference_and_shows_it_read_only(api, use_case, personas, datasets):
    older, newer = datasets
    response = api("owner").post(f"{UC}/datasets/{older.pk}/reference")
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["is_reference"]) == (older.pk, True)
    listed = api("viewer").get(f"{UC}/datasets/").json()["results"]
    assert [(row["name"], row["is_reference"]) for row in listed] == [
        ("newer", False),
        ("older", True),
    ]
    api("admin").post(f"{UC}/datasets/{newer.pk}/reference")
    assert marked(use_case) == ["newer"]


def test_a_dataset_of_another_use_case_is_not_found_here(api, personas, use_case, datasets):
    other = UseCaseFactory(owner=personas["owner"])
    theirs = upload_dataset(other, personas["owner"], "theirs")
    response = api("owner").post(f"{UC}/datasets/{theirs.pk}/reference")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such dataset on this use case."
    assert marked(other) == [] and marked(use_case) == []


def test_is_reference_cannot_be_set_by_uploading(api, use_case):
    body = {"name": "sneaky", "file": csv_upload(dataset_csv(4)), "is_reference": "true"}
    response = api("owner").post(f"{UC}/datasets/", body, format="multipart")
    assert response.status_code == 201 and response.json()["is_reference"] is False
    assert marked(use_case) == []


def test_the_reference_endpoint_is_documented(api):
    schema = api("viewer").get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/usecases/{use_case_slug}/datasets/{id}/reference"]
    post = operation["post"]
    assert {"200", "400", "401", "403", "404"} <= set(post["responses"])
    assert "reference for promotion" in post["description"]
    dataset = schema["components"]["schemas"]["Dataset"]["properties"]["is_reference"]
    assert dataset["readOnly"] is True
