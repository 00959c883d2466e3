"""quorum_client against the real API on a live server: the paths, methods, multipart fields
and answers the client relies on are the server's (tests/client fakes the server)."""

import pytest
from knox.models import AuthToken

from quorum_client import Client
from quorum_client.errors import QuorumError
from registry import tasks
from registry.models import Evaluation, EvaluationDataset
from registry.services import evaluations
from tests.factories import dataset_csv, predictions_csv

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quorum(live_server, personas, use_case, kpi):
    """A client of the live server with the data scientist's token."""
    _, token = AuthToken.objects.create(personas["data_scientist"])
    with Client(live_server.url, token=token) as client:
        yield client


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Evaluation ids sent to the worker, which the test then runs as the worker would."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_evaluation_task, "delay", lambda pk: sent.append(pk))
    return sent


def test_a_data_scientist_registers_uploads_evaluates_and_reads_the_results(
    quorum, queued, tmp_path
):
    slug = "demand-forecast"
    version = quorum.register_version(slug, "1.4.0+cpu", framework="lightgbm", tags={"a": 1})
    assert (version["version"], version["stage"]) == ("1.4.0+cpu", "registered")
    assert quorum.get_version(slug, "1.4.0+cpu")["tags"] == {"a": 1}
    assert [v["version"] for v in quorum.list_versions(slug)] == ["1.4.0+cpu"]

    data = tmp_path / "holdout.csv"
    data.write_bytes(dataset_csv(6))
    sent_bytes = []
    dataset = quorum.upload_dataset(
        slug, data, "holdout", "Q3", on_upload=lambda sent, total: sent_bytes.append(total)
    )
    assert (dataset["name"], dataset["rows"], dataset["description"]) == ("holdout", 6, "Q3")
    assert sent_bytes and [d["id"] for d in quorum.list_datasets(slug)] == [dataset["id"]]

    predictions = tmp_path / "predictions.csv"
    predictions.write_bytes(predictions_csv([f"r{n}" for n in range(1, 7)]))
    uploaded = quorum.upload_predictions(slug, "1.4.0+cpu", dataset["id"], predictions)
    assert (uploaded["version"], uploaded["dataset"], uploaded["rows"]) == (
        "1.4.0+cpu",
        dataset["id"],
        6,
    )

    started = quorum.start_evaluation(slug, "1.4.0+cpu", dataset["id"])
    assert (started["status"], started["progress"]) == ("queued", 0)
    assert queued == [started["id"]]
    assert evaluations.run_evaluation(started["id"]) is True  # the worker's part
    seen = []
    finished = quorum.wait_for_evaluation(slug, started["id"], on_progress=seen.append)
    assert (finished["status"], finished["progress"], finished["passed_gates"]) == (
        "succeeded",
        100,
        True,
    )
    assert finished["results"]["overall"]["mae"]["value"] == pytest.approx(0.5)
    assert [gate["name"] for gate in finished["gates"]] == ["Forecast error"]
    assert finished["worker_seconds"] is not None and finished["champion"] is None
    assert [e["id"] for e in quorum.list_evaluations(slug, status="succeeded")] == [started["id"]]
    assert quorum.list_evaluations(slug, version="9.9") == []


def test_a_rejected_upload_raises_with_the_bad_rows_and_stores_nothing(quorum, tmp_path):
    data = tmp_path / "holdout.csv"
    data.write_bytes(dataset_csv(6, bad={3: {"price": "cheap"}}))
    with pytest.raises(QuorumError) as raised:
        quorum.upload_dataset("demand-forecast", data, "holdout")
    error = raised.value
    assert error.status == 400
    assert [(item["row"], item["field"]) for item in error.errors] == [(3, "price")]
    assert error.counts
    assert not EvaluationDataset.objects.exists()


def test_an_evaluation_without_predictions_is_refused_with_the_servers_reason(
    quorum, personas, tmp_path
):
    quorum.register_version("demand-forecast", "1.0")
    data = tmp_path / "holdout.csv"
    data.write_bytes(dataset_csv(3))
    dataset = quorum.upload_dataset("demand-forecast", data, "holdout")
    with pytest.raises(QuorumError) as raised:
        quorum.start_evaluation("demand-forecast", "1.0", dataset["id"])
    assert raised.value.status == 409
    assert "Upload version 1.0's predictions" in raised.value.detail
    assert not Evaluation.objects.exists()
