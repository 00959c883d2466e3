"""Permission matrix of the registry pages: persona × URL → the exact status code.

Reads need VIEW (every member, Managers, Admins); writes need MANAGE_MODELS (owner, data
scientist, Admin). Outsiders get 404 on every URL, anonymous visitors the login page.
"""

import io

import pytest
from django.urls import reverse

from registry.models import Evaluation
from registry.services import evaluations, registering
from tests.conftest import PERSONAS, login
from tests.factories import (
    csv_upload,
    holdout_csv,
    holdout_predictions_csv,
    upload_holdout,
    upload_holdout_predictions,
)
from usecases.models import AuditEvent


def expect(**overrides) -> dict[str, int]:
    return {"anonymous": 302, "outsider": 404} | overrides


READ = expect(viewer=200, data_scientist=200, expert=200, owner=200, manager=200, admin=200)
MODELS_PAGE = expect(viewer=403, data_scientist=200, expert=403, owner=200, manager=403, admin=200)
MODELS_WRITE = expect(viewer=403, data_scientist=302, expert=403, owner=302, manager=403, admin=302)
POLICY_WRITE = expect(viewer=403, data_scientist=403, expert=403, owner=302, manager=403, admin=302)


@pytest.fixture
def registry_rows(use_case, personas):
    """A version with predictions on a dataset and a finished evaluation (not run: the
    matrix needs rows, not metrics)."""
    scientist = personas["data_scientist"]
    dataset = upload_holdout(use_case, scientist, rows=10)
    version = registering.register_version(use_case, by=scientist, version="1.4.0")
    upload_holdout_predictions(version, dataset, scientist, rows=10)
    evaluation = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    Evaluation.objects.filter(pk=evaluation.pk).update(status=Evaluation.Status.SUCCEEDED)
    return {"dataset": dataset, "version": version, "evaluation": evaluation}


def url(name: str, use_case, rows) -> str:
    args = [use_case.slug]
    if name in (
        "registry:version_detail",
        "registry:prediction_upload",
        "registry:evaluation_start",
    ):
        args.append(rows["version"].version)
    elif name.startswith("registry:dataset_"):
        args.append(rows["dataset"].pk)
    elif name.startswith("registry:evaluation_"):
        args.append(rows["evaluation"].pk)
    return reverse(name, args=args)


PAGES = [
    ("registry:versions", READ),
    ("registry:version_detail", READ),
    ("registry:datasets", READ),
    ("registry:dataset_detail", READ),
    ("registry:evaluations", READ),
    ("registry:evaluation_detail", READ),
    ("registry:dataset_delete", MODELS_PAGE),
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(("name", "statuses"), PAGES, ids=[n for n, _ in PAGES])
def test_registry_pages_answer_each_persona_with_the_status_its_role_allows(
    client, personas, use_case, registry_rows, name, statuses, who
):
    login(client, personas, who)
    response = client.get(url(name, use_case, registry_rows))
    assert response.status_code == statuses[who]
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))


def test_the_polled_fragment_is_checked_like_the_page(client, personas, use_case, registry_rows):
    evaluation_url = url("registry:evaluation_detail", use_case, registry_rows)
    for who, status in (("outsider", 404), ("viewer", 200), ("anonymous", 302)):
        client.logout()
        login(client, personas, who)
        assert client.get(evaluation_url, headers={"HX-Request": "true"}).status_code == status


def write_body(name: str, rows) -> dict:
    """A valid POST body for each write (files are built afresh for every request)."""
    if name == "registry:versions":
        return {"version": "2.0.0"}
    if name == "registry:datasets":
        return {"name": "another", "file": csv_upload(holdout_csv(10))}
    if name == "registry:prediction_upload":
        return {"dataset": rows["dataset"].pk, "file": csv_upload(holdout_predictions_csv(10))}
    if name == "registry:evaluation_start":
        return {"dataset": rows["dataset"].pk}
    return {}


WRITES = [
    "registry:versions",
    "registry:datasets",
    "registry:prediction_upload",
    "registry:evaluation_start",
    "registry:evaluation_rerun",
    "registry:dataset_delete",
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("name", WRITES)
def test_registry_writes_are_allowed_exactly_to_those_who_manage_models(
    client, personas, use_case, registry_rows, name, who
):
    login(client, personas, who)
    events_before = AuditEvent.objects.count()
    response = client.post(url(name, use_case, registry_rows), write_body(name, registry_rows))
    assert response.status_code == MODELS_WRITE[who]
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))
    # A write let through leaves its audit event; a refused one changes nothing.
    written = MODELS_WRITE[who] == 302 and who != "anonymous"
    assert AuditEvent.objects.count() == events_before + written


@pytest.mark.parametrize("who", PERSONAS)
def test_marking_the_reference_dataset_is_allowed_exactly_to_those_who_set_the_policy(
    client, personas, use_case, registry_rows, who
):
    login(client, personas, who)
    response = client.post(url("registry:dataset_reference", use_case, registry_rows))
    assert response.status_code == POLICY_WRITE[who]
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))
    registry_rows["dataset"].refresh_from_db()
    assert registry_rows["dataset"].is_reference is (
        POLICY_WRITE[who] == 302 and who != "anonymous"
    )
    assert AuditEvent.objects.filter(verb="dataset.marked_reference").count() == (
        1 if registry_rows["dataset"].is_reference else 0
    )


@pytest.mark.parametrize(
    "name",
    [
        "registry:prediction_upload",
        "registry:evaluation_start",
        "registry:dataset_reference",
    ],
)
def test_post_only_registry_urls_refuse_get_the_same_way_for_anyone(
    client, personas, use_case, registry_rows, name
):
    login(client, personas, "outsider")
    assert client.get(url(name, use_case, registry_rows)).status_code == 405


def test_rows_of_another_use_case_are_not_found_through_this_one(
    client, personas, use_case, registry_rows
):
    from tests.factories import UseCaseFactory

    other = UseCaseFactory(owner=personas["owner"])
    login(client, personas, "owner")
    for name in (
        "registry:version_detail",
        "registry:dataset_detail",
        "registry:evaluation_detail",
    ):
        assert client.get(url(name, other, registry_rows)).status_code == 404
    dataset = registering.upload_dataset(
        other,
        by=personas["owner"],
        name="theirs",
        source=io.BytesIO(holdout_csv(10)),
        filename="d.csv",
    )
    upload = url("registry:prediction_upload", use_case, registry_rows)
    html = client.post(
        upload, {"dataset": dataset.pk, "file": csv_upload(holdout_predictions_csv(10))}
    )
    assert "Select a valid choice" in html.content.decode()
