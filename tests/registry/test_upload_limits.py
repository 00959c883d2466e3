"""Uploads that would exhaust a worker (issue 10): a Parquet dictionary bomb, values too wide
or too large to hold exactly, and browser uploads over the size limit, refused while they
arrive with the 413 page instead of being written out whole first."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from django.test import Client
from django.urls import reverse

from portal.uploads import FORM_OVERHEAD_BYTES
from registry.models import EvaluationDataset, PredictionSet, StoredTable
from tables.io import MAX_VALUE_BYTES
from tests.conftest import login
from tests.factories import csv_upload, dataset_csv, register_version, upload_dataset
from usecases.models import AuditEvent

UC = "/api/v1/usecases/demand-forecast"
CAP = 4_000  # MAX_UPLOAD_BYTES in the browser tests: small, so they stay fast


def parquet_upload(table: pa.Table, name: str = "holdout.parquet", **options):
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return SimpleUploadedFile(name, sink.getvalue(), content_type="application/octet-stream")


def holdout(rows: int, **columns) -> pa.Table:
    """A dataset of the `use_case` fixture (id, store, price, label), some columns given."""
    table = {
        "id": pa.array([f"r{i}" for i in range(1, rows + 1)]),
        "store": pa.array(["S01", "S02"] * (rows // 2)),
        "price": pa.array(np.full(rows, 2.5)),
        "label": pa.array(np.arange(rows) / 3),
    }
    return pa.table(table | columns)


def stored() -> tuple[int, int, int]:
    return (
        EvaluationDataset.objects.count(),
        PredictionSet.objects.count(),
        StoredTable.objects.count(),
    )


# --- Data files, through the API ----------------------------------------------------------


def test_a_parquet_dictionary_bomb_is_a_413_and_stores_nothing(api, use_case):
    # 200,000 × a 10,000-character store name, dictionary-encoded: ~1 MB, 2 GB decoded.
    # Before: accepted, after 8 s at a 4 GB peak.
    rows = 200_000
    store = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), ["S" * 10_000])
    table = holdout(rows, store=store, label=pa.array(np.ones(rows)))
    upload = parquet_upload(table, store_schema=False, compression="zstd")
    assert upload.size < 2 * 1024**2

    response = api("data_scientist").post(
        f"{UC}/datasets/", {"name": "bomb", "file": upload}, format="multipart"
    )

    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": "The file is larger than 200 MB uncompressed, the limit: nothing was stored.",
        "code": "too_large",
    }
    assert stored() == (0, 0, 0)
    assert not AuditEvent.objects.exists()


def test_a_value_wider_than_the_cap_is_a_400_naming_its_row_and_column(api, use_case):
    stores = ["S01", "S" * (MAX_VALUE_BYTES + 1), "S02", "S01"]
    upload = parquet_upload(holdout(4, store=pa.array(stores)), use_dictionary=False)

    response = api("data_scientist").post(
        f"{UC}/datasets/", {"name": "wide", "file": upload}, format="multipart"
    )

    assert response.status_code == 400, response.content
    [item] = response.json()["errors"]
    assert (item["row"], item["field"]) == (2, "store")
    assert "more than the 32 KB a value may hold" in item["message"]
    assert stored() == (0, 0, 0)


def test_an_int64_beyond_2_53_in_a_number_feature_is_a_400_naming_its_row(api, use_case):
    # Before: a 500 (Arrow refuses to cast such an integer to a float).
    prices = pa.array([3, 2**53 + 1, 4, -(2**62)], pa.int64())
    upload = parquet_upload(holdout(4, price=prices))

    response = api("data_scientist").post(
        f"{UC}/datasets/", {"name": "big", "file": upload}, format="multipart"
    )

    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [(item["row"], item["field"]) for item in errors] == [(2, "price"), (4, "price")]
    assert "too large a whole number to be held exactly" in errors[0]["message"]
    assert response.json()["counts"] == {"price: too large to be exact": 2}
    assert stored() == (0, 0, 0)


def test_an_int64_beyond_2_53_as_a_regression_prediction_is_a_400_too(api, use_case, personas):
    scientist = personas["data_scientist"]
    register_version(use_case, scientist)
    dataset = upload_dataset(use_case, scientist, rows=2)
    predictions = pa.table({"id": ["r1", "r2"], "prediction": pa.array([12, -(2**60)])})

    response = api("data_scientist").post(
        f"{UC}/versions/1.4.0/predictions/",
        {"dataset": dataset.pk, "file": parquet_upload(predictions, "p.parquet")},
        format="multipart",
    )

    assert response.status_code == 400, response.content
    [item] = response.json()["errors"]
    assert (item["row"], item["field"]) == (2, "prediction")
    assert PredictionSet.objects.count() == 0


# --- Browser uploads over the size limit --------------------------------------------------


@pytest.fixture
def capped(settings, written, tmp_path):
    """A small upload limit; every file goes to a temporary file in `tmp_path`."""
    settings.MAX_UPLOAD_BYTES = CAP
    return tmp_path


def upload_urls(use_case, version) -> dict[str, tuple[str, dict]]:
    """Each browser upload's URL and its form fields besides the file."""
    return {
        "dataset": (reverse("registry:datasets", args=[use_case.slug]), {"name": "holdout"}),
        "predictions": (
            reverse("registry:prediction_upload", args=[use_case.slug, version.version]),
            {"dataset": "1"},
        ),
    }


@pytest.mark.parametrize("form", ["dataset", "predictions"])
def test_a_browser_upload_over_the_cap_is_stopped_at_the_cap_with_the_413_page(
    client, personas, use_case, capped, written, form
):
    version = register_version(use_case, personas["data_scientist"])
    url, fields = upload_urls(use_case, version)[form]
    login(client, personas, "data_scientist")
    content = dataset_csv(400)  # ~9 KB: the body passes the Content-Length check, not the cap
    assert CAP < len(content) < CAP + FORM_OVERHEAD_BYTES

    response = client.post(url, {**fields, "file": csv_upload(content)})

    assert response.status_code == 413
    html = response.content.decode()
    assert "This file is too large" in html and "4,000 bytes" in html
    assert 'class="topbar"' in html  # the product's page, not a bare error
    assert written and max(written) <= CAP  # nothing past the cap reached the disk
    assert not list(capped.iterdir())  # and what did is deleted
    assert stored() == (0, 0, 0)


def test_a_body_too_large_for_any_file_is_refused_from_its_length_before_it_is_read(
    client, personas, use_case, capped, monkeypatch
):
    parsed = []
    monkeypatch.setattr(MultiPartParser, "parse", lambda self: parsed.append(1))
    login(client, personas, "data_scientist")
    content = b"x" * (CAP + FORM_OVERHEAD_BYTES + 1)

    response = client.post(
        reverse("registry:datasets", args=[use_case.slug]),
        {"name": "holdout", "file": csv_upload(content)},
    )

    assert response.status_code == 413
    assert "This file is too large" in response.content.decode()
    assert not parsed
    assert stored() == (0, 0, 0)


def test_a_browser_upload_within_the_cap_is_stored_through_a_temporary_file(
    client, personas, use_case, written
):
    login(client, personas, "data_scientist")

    response = client.post(
        reverse("registry:datasets", args=[use_case.slug]),
        {"name": "holdout", "file": csv_upload(dataset_csv(400))},
    )

    assert response.status_code == 302, response.content.decode()[:500]
    assert EvaluationDataset.objects.get().row_count == 400
    assert written == [len(dataset_csv(400))]


def test_the_upload_views_still_check_the_csrf_token(personas, use_case):
    client = Client(enforce_csrf_checks=True)
    login(client, personas, "data_scientist")
    url = reverse("registry:datasets", args=[use_case.slug])

    forged = client.post(url, {"name": "holdout", "file": csv_upload(dataset_csv(6))})
    client.get(url)  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    genuine = client.post(
        url, {"csrfmiddlewaretoken": token, "name": "holdout", "file": csv_upload(dataset_csv(6))}
    )

    assert forged.status_code == 403
    assert genuine.status_code == 302
    assert EvaluationDataset.objects.count() == 1
