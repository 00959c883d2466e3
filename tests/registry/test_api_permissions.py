"""Registry endpoints × personas → the exact status code, and lists that cost the same
number of queries for 3 rows or 30.

Rules (usecases/permissions.py): every reader of the use case reads the registry; versions,
datasets, predictions and evaluations are written by MANAGE_MODELS (owner, data scientist,
admin), the reference dataset marked by SET_POLICY (owner, admin). The expert and the manager
read only. Anonymous 401, outsiders 404.
"""

import pytest

from registry.models import Evaluation
from registry.services import evaluations
from tests.conftest import PERSONAS, expected_status, queries_for
from tests.factories import (
    csv_upload,
    dataset_csv,
    predictions_csv,
    register_version,
    upload_dataset,
    upload_predictions,
)

READERS = {"viewer", "data_scientist", "expert", "owner", "manager", "admin"}
MODELLERS = {"data_scientist", "owner", "admin"}
POLICY_SETTERS = {"owner", "admin"}

UC = "/api/v1/usecases/demand-forecast"


def json(body):
    return lambda ids: (
        {k: ids["dataset"] if v == "{dataset}" else v for k, v in body.items()},
        "json",
    )


def new_dataset(ids):
    return {"name": "fresh", "file": csv_upload(dataset_csv(4))}, "multipart"


def new_predictions(ids):
    rows = [f"r{n}" for n in range(1, 7)]
    return {"dataset": ids["dataset"], "file": csv_upload(predictions_csv(rows))}, "multipart"


# (endpoint id, method, path, body, who may, status when allowed). Paths may name {dataset}
# and {evaluation}, filled in from the `registry` fixture; bodies are made per request.
ENDPOINTS = [
    ("version-list", "get", f"{UC}/versions/", None, READERS, 200),
    ("version-create", "post", f"{UC}/versions/", json({"version": "3.0"}), MODELLERS, 201),
    ("version-retrieve", "get", f"{UC}/versions/1.4.0/", None, READERS, 200),
    (
        "version-patch",
        "patch",
        f"{UC}/versions/1.4.0/",
        json({"description": "Retrained"}),
        MODELLERS,
        200,
    ),
    ("dataset-list", "get", f"{UC}/datasets/", None, READERS, 200),
    ("dataset-create", "post", f"{UC}/datasets/", new_dataset, MODELLERS, 201),
    ("dataset-retrieve", "get", f"{UC}/datasets/{{dataset}}/", None, READERS, 200),
    ("dataset-delete", "delete", f"{UC}/datasets/{{dataset}}/", None, MODELLERS, 204),
    (
        "dataset-reference",
        "post",
        f"{UC}/datasets/{{dataset}}/reference",
        None,
        POLICY_SETTERS,
        200,
    ),
    ("predictions-list", "get", f"{UC}/versions/1.4.0/predictions/", None, READERS, 200),
    (
        "predictions-create",
        "post",
        f"{UC}/versions/1.4.0/predictions/",
        new_predictions,
        MODELLERS,
        201,
    ),
    ("evaluation-list", "get", f"{UC}/evaluations/", None, READERS, 200),
    (
        "evaluation-create",
        "post",
        f"{UC}/evaluations/",
        json({"version": "2.0", "dataset": "{dataset}"}),
        MODELLERS,
        202,
    ),
    ("evaluation-retrieve", "get", f"{UC}/evaluations/{{evaluation}}/", None, READERS, 200),
]


@pytest.fixture
def registry(use_case, personas):
    """Versions 1.4.0 and 2.0 with predictions on the dataset "holdout"; 1.4.0's evaluation
    on it is queued."""
    scientist = personas["data_scientist"]
    dataset = upload_dataset(use_case, scientist)
    versions = [register_version(use_case, scientist, name) for name in ("1.4.0", "2.0")]
    for version in versions:
        upload_predictions(version, dataset, scientist)
    evaluation = evaluations.start_evaluation(versions[0], by=scientist, dataset=dataset)
    return {"dataset": dataset.pk, "evaluation": evaluation.pk}


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "ok"),
    [pytest.param(*endpoint[1:], id=endpoint[0]) for endpoint in ENDPOINTS],
)
def test_registry_endpoint_answers_each_persona_as_its_role_allows(
    api, registry, who, method, path, body, allowed, ok
):
    data, encoding = body(registry) if body else (None, None)
    response = getattr(api(who), method)(path.format(**registry), data, format=encoding)
    assert response.status_code == expected_status(who, allowed, ok), response.content


def add_evaluated_versions(use_case, dataset, user, n: int) -> None:
    """n more versions, each with an evaluation on `dataset` (rows made directly: what is
    counted is the listing, not the uploads)."""
    for _ in range(n):
        version = register_version(use_case, user, f"0.{use_case.versions.count() + 1}")
        Evaluation.objects.create(
            use_case=use_case, model_version=version, dataset=dataset, requested_by=user
        )


@pytest.mark.parametrize("path", ["versions/", "evaluations/"])
def test_listing_versions_or_evaluations_costs_the_same_queries_for_3_or_30(
    api, use_case, personas, path
):
    scientist = personas["data_scientist"]
    dataset = upload_dataset(use_case, scientist)
    client = api("viewer")
    add_evaluated_versions(use_case, dataset, scientist, 3)
    few = queries_for(client, f"{UC}/{path}", 3)
    add_evaluated_versions(use_case, dataset, scientist, 27)
    assert queries_for(client, f"{UC}/{path}", 30) == few


def test_listing_datasets_costs_the_same_queries_for_3_or_30(api, use_case, personas):
    client = api("viewer")
    for n in range(3):
        upload_dataset(use_case, personas["data_scientist"], f"holdout {n}", rows=2)
    few = queries_for(client, f"{UC}/datasets/", 3)
    for n in range(3, 30):
        upload_dataset(use_case, personas["owner"], f"holdout {n}", rows=2)
    assert queries_for(client, f"{UC}/datasets/", 30) == few
