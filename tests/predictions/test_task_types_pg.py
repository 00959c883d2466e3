"""Every task type through the prediction log and the outcomes endpoint (issue 10, item 6).

Outcomes of a multiclass use case always answered 500 on PostgreSQL: the class name, already
a Python string, was parsed as JSON before its error was computed; the SQLite run could not
see it. Each test runs on whatever database the run uses, and once more marked `postgres`,
so that CI (QUORUM_REQUIRE_PG=1) runs the matrix on PostgreSQL for certain.
"""

import json

import pytest
from django.db import connection

from predictions.models import Prediction
from registry.models import ModelVersion
from tests.factories import UseCaseFactory

BACKENDS = [
    pytest.param("any", id="any-database"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]

# One prediction and its outcome per task type, as JSON and as CSV cells, and the error
# the outcome gives it (|prediction − outcome|, |score − outcome|, 0/1).
TASKS = {
    "regression": {
        "prediction": 10.5,
        "score": None,
        "outcome": 12.0,
        "error": 1.5,
        "csv": ("10.5", "", "12"),
    },
    "binary": {"prediction": 1, "score": 0.8, "outcome": 0, "error": 0.8, "csv": ("1", "0.8", "0")},
    "multiclass": {
        "prediction": "cat",
        "score": 0.7,
        "outcome": "dog",
        "error": 1.0,
        "csv": ("cat", "0.7", "dog"),
    },
}


@pytest.fixture
def case(personas, request):
    """A use case of the task type the test asks for (indirect), with versions 1.0 and 2.0."""
    task = request.param
    use_case = UseCaseFactory(
        slug=f"{task}-case", task_type=task, owner=personas["owner"], feature_schema=[]
    )
    for name in ("1.0", "2.0"):
        ModelVersion.objects.create(
            use_case=use_case, version=name, registered_by=personas["owner"]
        )
    return use_case, TASKS[task]


def url(use_case, endpoint: str) -> str:
    return f"/api/v1/usecases/{use_case.slug}/{endpoint}"


def prediction_row(task: dict, request_id: str = "req-1", version: str = "1.0") -> dict:
    row = {
        "version": version,
        "request_id": request_id,
        "timestamp": "2026-03-31T14:05:00Z",
        "prediction": task["prediction"],
        "features": {"store": "S01"},
    }
    if task["score"] is not None:
        row["score"] = task["score"]
    return row


def post_json(client, address: str, rows: list):
    return client.post(address, json.dumps(rows), content_type="application/json")


def check_backend(backend: str) -> None:
    if backend == "postgresql":
        assert connection.vendor == "postgresql"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(TASKS), indirect=True)
@pytest.mark.parametrize("body", ["json", "csv"])
def test_predictions_of_every_task_type_are_logged_and_listed(api, case, backend, body):
    check_backend(backend)
    use_case, task = case
    client = api("owner")
    if body == "json":
        response = post_json(client, url(use_case, "predictions"), [prediction_row(task)])
    else:
        prediction, score, _ = task["csv"]
        header = "version,request_id,timestamp,prediction,score\n"
        text = f"{header}1.0,req-1,2026-03-31T14:05:00Z,{prediction},{score}\n"
        response = client.post(url(use_case, "predictions"), text, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["inserted"] == 1
    listed = client.get(url(use_case, "predictions")).json()["results"]
    assert [(row["prediction"], row["score"]) for row in listed] == [
        (task["prediction"], task["score"])
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(TASKS), indirect=True)
@pytest.mark.parametrize("body", ["json", "csv"])
def test_outcomes_of_every_task_type_attach_with_their_error(api, case, backend, body):
    # Before, on PostgreSQL: 500 for multiclass (the class name parsed as JSON).
    check_backend(backend)
    use_case, task = case
    client = api("owner")
    assert (
        post_json(client, url(use_case, "predictions"), [prediction_row(task)]).status_code == 200
    )
    if body == "json":
        rows = [{"request_id": "req-1", "outcome": task["outcome"]}]
        response = post_json(client, url(use_case, "outcomes"), rows)
    else:
        text = f"request_id,outcome\nreq-1,{task['csv'][2]}\n"
        response = client.post(url(use_case, "outcomes"), text, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["updated_predictions"] == 1
    stored = Prediction.objects.get(use_case=use_case)
    assert stored.outcome == task["outcome"]
    assert stored.error == pytest.approx(task["error"])
    listed = client.get(url(use_case, "predictions")).json()["results"]
    assert listed[0]["outcome"] == task["outcome"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(TASKS), indirect=True)
def test_a_late_prediction_of_every_task_type_gets_the_known_outcome(api, case, backend):
    check_backend(backend)
    use_case, task = case
    client = api("owner")
    post_json(client, url(use_case, "predictions"), [prediction_row(task)])
    post_json(
        client, url(use_case, "outcomes"), [{"request_id": "req-1", "outcome": task["outcome"]}]
    )
    late = prediction_row(task, version="2.0")
    response = post_json(client, url(use_case, "predictions"), [late])
    assert response.status_code == 200, response.content
    shadow = Prediction.objects.get(use_case=use_case, model_version__version="2.0")
    assert shadow.outcome == task["outcome"]
    assert shadow.error == pytest.approx(task["error"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(TASKS), indirect=True)
def test_an_outcome_of_the_wrong_type_is_a_400_naming_it(api, case, backend):
    check_backend(backend)
    use_case, task = case
    client = api("owner")
    post_json(client, url(use_case, "predictions"), [prediction_row(task)])
    wrong = {"regression": "dog", "binary": "dog", "multiclass": {"a": 1}}[use_case.task_type]
    response = post_json(
        client, url(use_case, "outcomes"), [{"request_id": "req-1", "outcome": wrong}]
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["outcome"]
    assert Prediction.objects.get(use_case=use_case).outcome is None
