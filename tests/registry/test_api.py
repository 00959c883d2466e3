"""The registry API: versions, evaluation datasets, predictions and evaluations, with their
uploads, error reports, audit events and queued tasks (no Celery: the service is called as
the worker calls it)."""

import io

import pytest
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser

from portal.uploads import FORM_OVERHEAD_BYTES
from registry import uploads
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet, StoredTable
from registry.services import evaluations, registering
from tests.conftest import fields_in
from tests.factories import (
    UseCaseFactory,
    csv_upload,
    dataset_csv,
    predictions_csv,
    register_version,
    upload_dataset,
    upload_predictions,
)
from usecases.models import AuditEvent

UC = "/api/v1/usecases/demand-forecast"
VERSION_BODY = {
    "version": "1.4.0",
    "description": "Gradient boosting on 2 years of sales",
    "artifact_uri": "s3://models/demand/1.4.0",
    "git_commit": "3f2a9c1",
    "mlflow_run_id": "a1b2c3",
    "framework": "lightgbm",
    "parameters": {"num_leaves": 31, "learning_rate": 0.05},
    "training_data_ref": "warehouse.sales_2024_2025",
    "tags": {"team": "forecasting", "champion": False},
}


def stored_counts() -> tuple[int, int, int]:
    return (
        EvaluationDataset.objects.count(),
        PredictionSet.objects.count(),
        StoredTable.objects.count(),
    )


def verbs() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("verb", flat=True))


@pytest.fixture
def scientist(personas):
    return personas["data_scientist"]


@pytest.fixture
def version(use_case, scientist):
    return register_version(use_case, scientist)


@pytest.fixture
def dataset(use_case, scientist):
    return upload_dataset(use_case, scientist)


@pytest.fixture
def predictions(version, dataset, scientist):
    return upload_predictions(version, dataset, scientist)


# Versions


def test_data_scientist_registers_a_version_and_reads_it_back(api, use_case):
    client = api("data_scientist")
    created = client.post(f"{UC}/versions/", VERSION_BODY, format="json")
    assert created.status_code == 201, created.content
    read = client.get(f"{UC}/versions/1.4.0/")
    assert read.status_code == 200
    body = read.json()
    assert body == created.json()
    assert {k: body[k] for k in VERSION_BODY} == VERSION_BODY
    assert body["stage"] == "registered"
    assert body["registered_by"] == "dana"
    assert body["latest_evaluation"] is None
    event = AuditEvent.objects.get()
    assert (event.verb, event.actor_name, event.after["version"]) == (
        "version.registered",
        "dana",
        "1.4.0",
    )


def test_registering_a_version_name_twice_is_a_400_naming_version(api, version):
    response = api("owner").post(f"{UC}/versions/", {"version": "1.4.0"}, format="json")
    assert response.status_code == 400
    assert fields_in(response) == {"version"}
    assert "already registered" in response.json()["detail"]
    assert ModelVersion.objects.count() == 1


@pytest.mark.parametrize("name", ["a/b", '"><script>x</script>'])
def test_a_version_name_with_a_slash_is_refused_and_the_versions_page_still_renders(
    api, client, personas, use_case, name
):
    """Found by the XSS canaries: such a name was stored, then the versions page was a 500."""
    response = api("owner").post(f"{UC}/versions/", {"version": name}, format="json")
    assert (response.status_code, fields_in(response)) == (400, {"version"})
    client.force_login(personas["owner"])
    assert client.get(f"/usecases/{use_case.slug}/model-versions/").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "version"),
        ({"version": ""}, "version"),
        ({"version": "1.4/beta"}, "version"),
        ({"version": "x" * 51}, "version"),
        ({"version": ".."}, "version"),
        ({"version": "2.0", "parameters": [1, 2]}, "parameters"),
        ({"version": "2.0", "tags": "team"}, "tags"),
        ({"version": "2.0", "tags": {"nested": {"a": 1}}}, "tags"),
    ],
)
def test_invalid_version_is_refused_naming_the_field(api, use_case, body, field):
    response = api("data_scientist").post(f"{UC}/versions/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in fields_in(response)
    assert not ModelVersion.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_version_name_unfit_for_urls_gets_the_rule_with_its_percent_sign(api, use_case):
    # The validator's message is %-formatted by Django: a bare "%" in it was a 500.
    response = api("data_scientist").post(f"{UC}/versions/", {"version": "50%"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "version",
            "message": "Use letters, digits and . _ - + (e.g. 1.4.0); no slash, space, ?, # or %.",
        }
    ]


def test_versions_are_listed_newest_first_with_their_latest_evaluation(
    api, use_case, scientist, version, dataset, predictions
):
    register_version(use_case, scientist, "1.5.0")
    evaluation = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    response = api("viewer").get(f"{UC}/versions/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["version"] for row in rows] == ["1.5.0", "1.4.0"]
    assert rows[0]["latest_evaluation"] is None
    assert rows[1]["latest_evaluation"] == {
        "id": evaluation.pk,
        "dataset": dataset.pk,
        "status": "queued",
        "passed_gates": None,
    }


def test_patching_a_version_changes_its_metadata_and_audits_it(api, version):
    response = api("data_scientist").patch(
        f"{UC}/versions/1.4.0/",
        {"description": "Retrained", "tags": {"team": "pricing"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["description"], response.json()["tags"]) == (
        "Retrained",
        {"team": "pricing"},
    )
    version.refresh_from_db()
    assert version.description == "Retrained"
    event = AuditEvent.objects.get(verb="version.updated")
    assert event.before == {"description": "", "tags": {}}
    assert event.after == {"description": "Retrained", "tags": {"team": "pricing"}}


@pytest.mark.parametrize(
    "body",
    [
        {"version": "2.0"},
        {"stage": "production"},
        {"traffic_percent": 50},
        {"stage_changed_at": "2026-12-01T10:00:00Z"},
    ],
)
def test_a_versions_name_and_stage_cannot_be_patched(api, version, body):
    response = api("owner").patch(f"{UC}/versions/1.4.0/", body, format="json")
    assert response.status_code == 400
    assert fields_in(response) == set(body)
    version.refresh_from_db()
    assert (version.version, version.stage, version.traffic_percent) == (
        "1.4.0",
        "registered",
        None,
    )
    assert verbs() == ["version.registered"]


def test_unknown_version_is_a_404(api, version):
    for url in (f"{UC}/versions/9.9/", f"{UC}/versions/9.9/predictions/"):
        response = api("viewer").get(url)
        assert response.status_code == 404
        assert response.json() == {
            "detail": "No such version of this use case.",
            "code": "not_found",
        }


def test_versions_of_another_use_case_are_not_reachable_through_this_one(api, personas):
    other = UseCaseFactory(slug="churn", owner=personas["owner"])
    register_version(other, personas["owner"], "7.0")
    assert api("owner").get(f"{UC}/versions/7.0/").status_code == 404
    assert api("owner").get("/api/v1/usecases/churn/versions/7.0/").status_code == 200


# Datasets


def test_uploading_a_valid_csv_stores_the_dataset_with_its_row_count(api, use_case):
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout 2026-Q3", "description": "Q3", "file": csv_upload(dataset_csv(6))},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["rows"], body["has_segment"], body["uploaded_by"]) == (
        "holdout 2026-Q3",
        6,
        True,
        "dana",
    )
    assert {"id", "store", "price", "label"} <= set(body["columns"])
    assert body["file_format"] == "csv"
    dataset = EvaluationDataset.objects.get()
    assert (dataset.pk, dataset.row_count) == (body["id"], 6)
    assert api("viewer").get(f"{UC}/datasets/{dataset.pk}/").json() == body
    event = AuditEvent.objects.get()
    assert (event.verb, event.after["rows"]) == ("dataset.uploaded", 6)


@pytest.mark.parametrize(
    ("bad", "rows"),
    [
        ({3: {"price": "cheap"}}, {3}),
        ({2: {"label": "lots"}, 5: {"label": "many"}}, {2, 5}),
        ({4: {"id": "r1"}}, {4}),  # a repeated id
    ],
    ids=["non-numeric-feature", "non-numeric-label", "duplicate-id"],
)
def test_a_bad_file_is_a_400_listing_its_rows_and_stores_nothing(api, use_case, bad, rows):
    before = stored_counts()
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(dataset_csv(6, bad=bad))},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"]
    assert rows <= {item.get("row") for item in body["errors"]}
    assert all(item["message"] for item in body["errors"])
    assert isinstance(body["counts"], dict) and body["counts"]
    assert stored_counts() == before
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"id,store,price\nr1,S01,1.0\n", b"id,store,price,label\n"],
    ids=["empty", "no-label-column", "no-rows"],
)
def test_a_file_without_usable_rows_is_a_400_and_stores_nothing(api, use_case, content):
    response = api("data_scientist").post(
        f"{UC}/datasets/", {"name": "holdout", "file": csv_upload(content)}, format="multipart"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"]
    assert body["errors"] and all(item["message"] for item in body["errors"])
    assert stored_counts() == (0, 0, 0)


def test_an_empty_file_is_reported_against_the_file_field(api, use_case):
    response = api("data_scientist").post(
        f"{UC}/datasets/", {"name": "holdout", "file": csv_upload(b"")}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The file has no data rows.",
        "code": "rejected_file",
        "errors": [{"field": "file", "message": "The file has no data rows."}],
        "counts": {},
    }


def test_a_wrong_label_type_is_a_400_naming_the_label(api, personas):
    owner = personas["owner"]
    UseCaseFactory(slug="churn", owner=owner, task_type="binary")
    labelled = b"id,store,price,label\nc1,S01,1.0,1\nc2,S01,1.0,maybe\nc3,S02,2.0,0\n"
    response = api("owner").post(
        "/api/v1/usecases/churn/datasets/",
        {"name": "holdout", "file": csv_upload(labelled)},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert [(item.get("row"), item.get("field")) for item in response.json()["errors"]] == [
        (2, "label")
    ]
    assert stored_counts() == (0, 0, 0)


def test_a_file_with_missing_columns_is_a_400_saying_which(api, use_case):
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(b"id,price,label\nr1,1.0,3\n")},
        format="multipart",
    )
    assert response.status_code == 400
    assert "lacks the column “store”" in response.json()["detail"]
    assert response.json()["counts"] == {"missing columns": 1}
    assert stored_counts() == (0, 0, 0)


def test_a_file_in_another_format_is_a_400(api, use_case):
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(dataset_csv(), "holdout.xlsx")},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert stored_counts() == (0, 0, 0)


def test_a_dataset_name_is_unique_per_use_case(api, dataset):
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(dataset_csv())},
        format="multipart",
    )
    assert response.status_code == 400
    assert fields_in(response) == {"name"}
    assert stored_counts() == (1, 0, 1)


def test_a_dataset_upload_needs_a_name_and_a_file(api, use_case):
    response = api("data_scientist").post(f"{UC}/datasets/", {}, format="multipart")
    assert response.status_code == 400
    assert fields_in(response) == {"name", "file"}


def test_a_dataset_upload_must_be_multipart(api, use_case):
    response = api("data_scientist").post(f"{UC}/datasets/", {"name": "x"}, format="json")
    assert response.status_code == 415
    assert "detail" in response.json()


def test_a_file_over_the_limit_is_a_413_and_stores_nothing(api, use_case, settings):
    settings.MAX_UPLOAD_BYTES = 100
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(dataset_csv(20))},
        format="multipart",
    )
    assert response.status_code == 413
    assert list(response.json()) == ["detail", "code"]
    assert response.json()["code"] == "too_large"
    assert response.json()["detail"].startswith("The file is larger than")
    assert stored_counts() == (0, 0, 0)


def test_a_file_over_the_row_limit_is_a_413_and_stores_nothing(api, use_case, monkeypatch):
    read_dataset = uploads.read_dataset
    monkeypatch.setattr(
        uploads, "read_dataset", lambda *args, **kwargs: read_dataset(*args, **kwargs, max_rows=5)
    )
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(dataset_csv(6))},
        format="multipart",
    )
    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": "The file has more than 5 rows, the limit: nothing was stored.",
        "code": "too_large",
    }
    assert stored_counts() == (0, 0, 0)


def test_a_body_too_large_for_any_allowed_file_is_refused_before_it_is_read(
    api, use_case, settings, monkeypatch
):
    settings.MAX_UPLOAD_BYTES = 100
    read = []
    monkeypatch.setattr(DjangoMultiPartParser, "parse", lambda *args: read.append(1) or {})
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(b"x" * (FORM_OVERHEAD_BYTES + 101))},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The file is larger than 100 bytes; split it or sample it.",
        "code": "too_large",
    }
    assert not read
    assert stored_counts() == (0, 0, 0)


def test_deleting_a_dataset_removes_its_predictions_and_evaluations_and_audits_it(
    api, use_case, scientist, version, dataset, predictions
):
    evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    response = api("owner").delete(f"{UC}/datasets/{dataset.pk}/")
    assert response.status_code == 204
    assert stored_counts() == (0, 0, 0)
    assert not Evaluation.objects.exists()
    event = AuditEvent.objects.filter(verb="dataset.deleted").get()
    assert (event.actor_name, event.before) == ("olivia", {"name": "holdout", "rows": 6})


# Predictions


def test_uploading_predictions_for_every_row_of_a_dataset(api, version, dataset):
    ids = [f"r{n}" for n in range(1, 7)]
    response = api("data_scientist").post(
        f"{UC}/versions/1.4.0/predictions/",
        {"dataset": dataset.pk, "file": csv_upload(predictions_csv(ids), "p.csv")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("version", "dataset", "rows", "has_score")} == {
        "version": "1.4.0",
        "dataset": dataset.pk,
        "rows": 6,
        "has_score": False,
    }
    assert PredictionSet.objects.get().row_count == 6
    listed = api("viewer").get(f"{UC}/versions/1.4.0/predictions/").json()["results"]
    assert listed == [body]
    assert verbs()[-1] == "predictions.uploaded"


@pytest.mark.parametrize(
    "ids",
    [
        ["r1", "r2", "r3", "r4"],  # r5, r6 missing
        ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],  # r7 is not in the dataset
        ["r1", "r2", "r3", "r4", "r5", "r6", "r6"],  # r6 twice
    ],
    ids=["missing", "extra", "repeated"],
)
def test_predictions_whose_ids_do_not_match_the_dataset_are_a_400_and_store_nothing(
    api, version, dataset, ids
):
    before = stored_counts()
    response = api("data_scientist").post(
        f"{UC}/versions/1.4.0/predictions/",
        {"dataset": dataset.pk, "file": csv_upload(predictions_csv(ids), "p.csv")},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] and body["errors"] and body["counts"]
    assert stored_counts() == before
    assert verbs() == ["version.registered", "dataset.uploaded"]


def test_missing_prediction_ids_are_named_in_the_report(api, version, dataset):
    ids = ["r1", "r2", "r3", "r4"]
    response = api("data_scientist").post(
        f"{UC}/versions/1.4.0/predictions/",
        {"dataset": dataset.pk, "file": csv_upload(predictions_csv(ids), "p.csv")},
        format="multipart",
    )
    assert response.status_code == 400
    assert "r5" in response.content.decode() and "r6" in response.content.decode()


def test_predictions_for_a_dataset_of_another_use_case_are_a_400_naming_dataset(
    api, personas, version
):
    other = UseCaseFactory(slug="churn", owner=personas["owner"])
    foreign = upload_dataset(other, personas["owner"], "theirs")
    response = api("owner").post(
        f"{UC}/versions/1.4.0/predictions/",
        {"dataset": foreign.pk, "file": csv_upload(predictions_csv(["r1"]), "p.csv")},
        format="multipart",
    )
    assert response.status_code == 400
    assert fields_in(response) == {"dataset"}
    assert f"no dataset {foreign.pk}" in response.json()["detail"]
    assert not PredictionSet.objects.exists()


def test_a_regression_models_predictions_take_no_score_column(api, version, dataset):
    ids = [f"r{n}" for n in range(1, 7)]
    response = api("data_scientist").post(
        f"{UC}/versions/1.4.0/predictions/",
        {"dataset": dataset.pk, "file": csv_upload(predictions_csv(ids, score=True), "p.csv")},
        format="multipart",
    )
    assert response.status_code == 400
    assert "unexpected column “score”" in response.json()["detail"]
    assert response.json()["counts"] == {"unexpected columns": 1}
    assert not PredictionSet.objects.exists()


def test_a_classifiers_predictions_may_carry_a_score(api, personas):
    owner = personas["owner"]
    churn = UseCaseFactory(slug="churn", owner=owner, task_type="binary")
    labelled = "id,store,price,label\n" + "".join(f"c{n},S01,1.0,{n % 2}\n" for n in range(4))
    dataset = registering.upload_dataset(
        churn, by=owner, name="holdout", source=io.BytesIO(labelled.encode()), filename="h.csv"
    )
    register_version(churn, owner, "1.0")
    scored = "id,prediction,score\n" + "".join(f"c{n},{n % 2},0.{n}\n" for n in range(4))
    response = api("owner").post(
        "/api/v1/usecases/churn/versions/1.0/predictions/",
        {"dataset": dataset.pk, "file": csv_upload(scored.encode(), "p.csv")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["rows"], response.json()["has_score"]) == (4, True)


def test_uploading_predictions_again_replaces_the_first_set(api, version, dataset, predictions):
    ids = [f"r{n}" for n in range(1, 7)]
    response = api("data_scientist").post(
        f"{UC}/versions/1.4.0/predictions/",
        {"dataset": dataset.pk, "file": csv_upload(predictions_csv(ids), "retrained.csv")},
        format="multipart",
    )
    assert response.status_code == 201
    replacement = PredictionSet.objects.get()
    assert replacement.pk != predictions.pk
    assert replacement.source_filename == "retrained.csv"
    assert StoredTable.objects.count() == 2  # the dataset's and the new predictions'
    assert verbs()[-1] == "predictions.replaced"


# Evaluations


def test_starting_an_evaluation_queues_it_and_schedules_the_task_on_commit(
    api, version, dataset, predictions, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api("data_scientist").post(
            f"{UC}/evaluations/", {"version": "1.4.0", "dataset": dataset.pk}, format="json"
        )
    assert response.status_code == 202, response.content
    body = response.json()
    evaluation = Evaluation.objects.get()
    assert (body["id"], body["status"], body["progress"], body["version"], body["dataset"]) == (
        evaluation.pk,
        "queued",
        0,
        "1.4.0",
        dataset.pk,
    )
    assert len(callbacks) == 1
    task = callbacks[0]  # functools.partial(task.delay, evaluation_id)
    assert (task.func.__self__.name, task.args) == ("usecases.run_evaluation", (evaluation.pk,))
    event = AuditEvent.objects.get(verb="evaluation.queued")
    assert (event.actor_name, event.after) == ("dana", {"version": "1.4.0", "dataset": "holdout"})


def test_starting_an_evaluation_twice_while_it_is_queued_is_a_409(
    api, version, dataset, predictions, django_capture_on_commit_callbacks
):
    client = api("data_scientist")
    body = {"version": "1.4.0", "dataset": dataset.pk}
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(f"{UC}/evaluations/", body, format="json").status_code == 202
        second = client.post(f"{UC}/evaluations/", body, format="json")
    assert second.status_code == 409
    assert second.json() == {
        "detail": "This evaluation is already queued or running.",
        "code": "conflict",
    }
    assert len(callbacks) == 1
    assert Evaluation.objects.count() == 1


def test_a_finished_evaluation_started_again_is_a_new_one_and_the_old_one_is_superseded(
    api, scientist, version, dataset, predictions, django_capture_on_commit_callbacks
):
    first = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    Evaluation.objects.filter(pk=first.pk).update(status="failed", error="Out of memory")
    with django_capture_on_commit_callbacks() as callbacks:
        response = api("owner").post(
            f"{UC}/evaluations/", {"version": "1.4.0", "dataset": dataset.pk}, format="json"
        )
    assert response.status_code == 202
    body = response.json()
    assert body["id"] != first.pk
    assert (body["status"], body["error"], body["superseded_at"], body["superseded_by"]) == (
        "queued",
        "",
        None,
        None,
    )
    assert len(callbacks) == 1
    old = api("viewer").get(f"{UC}/evaluations/{first.pk}/").json()
    assert (old["status"], old["error"], old["superseded_by"]) == (
        "failed",
        "Out of memory",
        body["id"],
    )
    assert old["superseded_at"] is not None
    listed = api("viewer").get(f"{UC}/evaluations/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]


def test_an_evaluation_without_predictions_is_a_409(api, version, dataset):
    response = api("data_scientist").post(
        f"{UC}/evaluations/", {"version": "1.4.0", "dataset": dataset.pk}, format="json"
    )
    assert response.status_code == 409
    assert "Upload version 1.4.0's predictions" in response.json()["detail"]
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "9.9", "dataset": "{dataset}"}, "version"),
        ({"version": "1.4.0", "dataset": 999999}, "dataset"),
        ({"version": "1.4.0"}, "dataset"),
        ({"dataset": "{dataset}"}, "version"),
    ],
)
def test_an_evaluation_of_an_unknown_version_or_dataset_is_a_400_naming_it(
    api, version, dataset, body, field
):
    body = {k: dataset.pk if v == "{dataset}" else v for k, v in body.items()}
    response = api("data_scientist").post(f"{UC}/evaluations/", body, format="json")
    assert response.status_code == 400
    assert fields_in(response) == {field}


def test_evaluations_are_listed_newest_first_and_filtered(
    api, use_case, scientist, version, dataset, predictions
):
    other_version = register_version(use_case, scientist, "2.0")
    upload_predictions(other_version, dataset, scientist)
    first = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    second = evaluations.start_evaluation(other_version, by=scientist, dataset=dataset)
    Evaluation.objects.filter(pk=first.pk).update(status="failed", error="Out of memory")
    client = api("viewer")

    def listed(query: str = "") -> list[int]:
        response = client.get(f"{UC}/evaluations/{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert listed() == [second.pk, first.pk]
    assert listed("?version=1.4.0") == [first.pk]
    assert listed(f"?dataset={dataset.pk}") == [second.pk, first.pk]
    assert listed("?status=queued") == [second.pk]
    assert listed("?status=failed&version=2.0") == []
    row = client.get(f"{UC}/evaluations/").json()["results"][1]
    assert (row["status"], row["error"]) == ("failed", "Out of memory")
    assert "results" not in row
    bad = client.get(f"{UC}/evaluations/?status=sleeping")
    assert bad.status_code == 400 and fields_in(bad) == {"status"}
    for dataset_id in ("one", 10**30):  # the second once overflowed SQLite: a 500
        bad = client.get(f"{UC}/evaluations/?dataset={dataset_id}")
        assert bad.status_code == 400 and fields_in(bad) == {"dataset"}


def test_evaluation_detail_shows_what_a_client_polls(api, scientist, version, dataset, predictions):
    evaluation = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    body = api("viewer").get(f"{UC}/evaluations/{evaluation.pk}/").json()
    assert {
        "status",
        "progress",
        "error",
        "attempts",
        "worker_seconds",
        "threshold",
        "champion",
        "results",
        "gates",
        "passed_gates",
        "created_at",
        "started_at",
        "finished_at",
    } <= set(body)
    assert (body["status"], body["results"], body["gates"], body["champion"]) == (
        "queued",
        {},
        [],
        None,
    )


def test_an_evaluation_run_by_the_worker_shows_its_results(
    api, use_case, kpi, scientist, version, dataset, predictions
):
    evaluation = evaluations.start_evaluation(version, by=scientist, dataset=dataset)
    assert evaluations.run_evaluation(evaluation.pk) is True  # as the Celery task does
    response = api("viewer").get(f"{UC}/evaluations/{evaluation.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["progress"], body["attempts"], body["error"]) == (
        "succeeded",
        100,
        1,
        "",
    )
    # labels 11..16, predictions 10.5..15.5: every error is 0.5
    assert body["results"]["overall"]["mae"]["value"] == pytest.approx(0.5)
    assert [gate["name"] for gate in body["gates"]] == ["Forecast error"]
    assert body["passed_gates"] is True
    assert body["finished_at"] and body["worker_seconds"] is not None
    listed = api("viewer").get(f"{UC}/versions/").json()["results"][0]
    assert listed["latest_evaluation"]["status"] == "succeeded"
    assert listed["latest_evaluation"]["passed_gates"] is True


def test_evaluations_of_another_use_case_are_404_here(api, personas, use_case):
    other = UseCaseFactory(slug="churn", owner=personas["owner"])
    foreign_dataset = upload_dataset(other, personas["owner"], "theirs")
    foreign_version = register_version(other, personas["owner"], "1.0")
    upload_predictions(foreign_version, foreign_dataset, personas["owner"])
    evaluation = evaluations.start_evaluation(
        foreign_version, by=personas["owner"], dataset=foreign_dataset
    )
    assert api("owner").get(f"{UC}/evaluations/{evaluation.pk}/").status_code == 404
    assert api("owner").get(f"{UC}/datasets/{foreign_dataset.pk}/").status_code == 404
    assert api("owner").delete(f"{UC}/datasets/{foreign_dataset.pk}/").status_code == 404
    assert EvaluationDataset.objects.filter(pk=foreign_dataset.pk).exists()


# The use case's decision threshold


def test_the_decision_threshold_is_shown_and_editable_within_zero_to_one(api, use_case):
    client = api("expert")
    assert client.get(f"{UC}/").json()["decision_threshold"] == 0.5
    changed = client.patch(f"{UC}/", {"decision_threshold": 0.3}, format="json")
    assert changed.status_code == 200
    assert changed.json()["decision_threshold"] == 0.3
    for bad in (1.5, -0.1, "half"):
        refused = client.patch(f"{UC}/", {"decision_threshold": bad}, format="json")
        assert refused.status_code == 400
        assert fields_in(refused) == {"decision_threshold"}
    use_case.refresh_from_db()
    assert use_case.decision_threshold == 0.3
    assert AuditEvent.objects.get(verb="usecase.updated").after == {"decision_threshold": 0.3}


def test_a_succeeded_evaluation_carries_the_pages_texts_for_clients_to_print(
    api, client, personas, churn
):
    """One formatter (issue 11, item 12): the API's `display` is the page's own text."""
    from django.utils.html import escape

    from registry.models import ModelVersion as Version
    from tests.conftest import login
    from tests.factories import binary_evaluation_results, finished_evaluation

    results = binary_evaluation_results(probabilities=False, champion=True)
    scientist = personas["data_scientist"]
    champion = registering.register_version(churn, by=scientist, version="1.0.0")
    Version.objects.filter(pk=champion.pk).update(stage="production")
    evaluation = finished_evaluation(churn, scientist, results, champion=champion)
    body = api("viewer").get(f"/api/v1/usecases/{churn.slug}/evaluations/{evaluation.pk}/")
    display = body.json()["display"]
    assert display["currency"] == "EUR"
    html = login(client, personas, "viewer").get(evaluation.get_absolute_url()).content.decode()
    for entry in display["metrics"].values():
        assert escape(entry["value"]) in html
    assert display["comparison"]["roc_auc"]["p_value"] == "< 0.002"
    assert display["business_value"]["total"].endswith("EUR")
    assert {gate["result"] for gate in display["gates"]} <= {
        "passed",
        "failed",
        "incomplete",
        "misses target",
    }
    assert [g["name"] for g in display["gates"]] == [g["name"] for g in evaluation.gates]
    listed = api("viewer").get(f"/api/v1/usecases/{churn.slug}/evaluations/").json()
    assert "display" not in listed["results"][0]  # the list leaves it out, as the results
