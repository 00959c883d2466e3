"""A NUL character in an uploaded file's text cell is a row problem (issue 10, review
finding 7): PostgreSQL cannot store one. Before, a multiclass dataset whose label held
"c\\0at" answered 500 on PostgreSQL (its label summary could not be saved), and a NUL in an
id or a segment was stored. Each test runs on the run's database, and once more marked
`postgres` so that CI runs it on PostgreSQL for certain."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from registry.models import EvaluationDataset, ModelVersion, PredictionSet
from registry.services import registering
from tests.factories import UseCaseFactory, csv_upload

BACKENDS = [
    pytest.param("any", id="any-database"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
NUL_MESSAGE = "The value holds a NUL character (\\0), which cannot be stored."
ROWS = {
    "id": ["r1", "r2", "r\x003", "r4"],
    "label": ["cat", "c\x00at", "dog", "cat"],
    "segment": ["north", "south", "north", "\x00"],
}


@pytest.fixture
def animals(personas):
    """A multiclass use case without features, with a version."""
    use_case = UseCaseFactory(
        slug="animals", task_type="multiclass", owner=personas["owner"], feature_schema=[]
    )
    ModelVersion.objects.create(use_case=use_case, version="1.0", registered_by=personas["owner"])
    return use_case


def as_csv(columns: dict[str, list[str]]) -> bytes:
    lines = [",".join(columns)] + [",".join(row) for row in zip(*columns.values(), strict=True)]
    return ("\n".join(lines) + "\n").encode()


def as_parquet(columns: dict[str, list[str]], name: str) -> SimpleUploadedFile:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)  # text columns dictionary-encoded, by default
    return SimpleUploadedFile(name, sink.getvalue(), content_type="application/octet-stream")


def check_backend(backend: str) -> None:
    if backend == "postgresql":
        assert connection.vendor == "postgresql"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_dataset_with_nul_characters_is_a_400_naming_each_row_and_column(
    api, animals, backend, kind
):
    check_backend(backend)
    upload = csv_upload(as_csv(ROWS)) if kind == "csv" else as_parquet(ROWS, "d.parquet")

    response = api("owner").post(
        "/api/v1/usecases/animals/datasets/",
        {"name": "holdout", "file": upload},
        format="multipart",
    )

    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(2, "label"), (3, "id"), (4, "segment")]
    assert {e["message"] for e in errors} == {NUL_MESSAGE}
    assert response.json()["counts"] == {
        "id: NUL character": 1,
        "label: NUL character": 1,
        "segment: NUL character": 1,
    }
    assert not EvaluationDataset.objects.exists()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_predictions_with_a_nul_character_are_a_400(api, animals, personas, backend, kind):
    check_backend(backend)
    clean = {"id": ["r1", "r2"], "label": ["cat", "dog"]}
    dataset = registering.upload_dataset(
        animals,
        by=personas["owner"],
        name="holdout",
        source=io.BytesIO(as_csv(clean)),
        filename="holdout.csv",
    )
    predictions = {"id": ["r1", "r2"], "prediction": ["cat", "d\x00og"]}
    if kind == "csv":
        upload = csv_upload(as_csv(predictions), "p.csv")
    else:
        upload = as_parquet(predictions, "p.parquet")

    response = api("owner").post(
        "/api/v1/usecases/animals/versions/1.0/predictions/",
        {"dataset": dataset.pk, "file": upload},
        format="multipart",
    )

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["row"], error["field"], error["message"]) == (2, "prediction", NUL_MESSAGE)
    assert not PredictionSet.objects.exists()
