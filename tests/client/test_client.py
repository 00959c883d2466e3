"""quorum_client.Client: each call's method, URL, headers and body; errors; waiting."""

import email.parser
import hashlib
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from quorum_client import Client, EvaluationFailed, EvaluationTimeout, QuorumError
from quorum_client.multipart import MultipartFile
from tests.client.conftest import BASE, UC, evaluation_body

ROW_ERRORS = [
    {"row": n, "field": "score", "message": "must be a number between 0 and 1"}
    for n in range(3, 10)
]


def form_parts(request) -> dict:
    """The multipart/form-data body of a request, as {name: (filename, content type, bytes)}."""
    body = request.body if isinstance(request.body, bytes) else request.body.read()
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser().parsebytes(head + body)
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.get_payload()
    }


def test_the_address_and_token_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("QUORUM_URL", "https://quorum.example.com/")
    monkeypatch.setenv("QUORUM_TOKEN", "from-env")
    client = Client()
    assert client.base_url == "https://quorum.example.com"
    assert client.session.headers["Authorization"] == "Token from-env"
    assert Client(token="given").session.headers["Authorization"] == "Token given"


def test_without_environment_the_client_talks_to_the_local_server():
    client = Client()
    assert client.base_url == "http://127.0.0.1:8000"
    assert "Authorization" not in client.session.headers


def test_register_version_posts_the_fields_as_json_with_the_token(quorum, api):
    api.post(f"{UC}/versions/", status=201, json={"version": "1.4.0", "stage": "registered"})
    version = quorum.register_version(
        "demand-forecast",
        "1.4.0",
        description="Gradient boosting",
        framework="lightgbm",
        parameters={"num_leaves": 31},
        tags={"team": "forecasting"},
        git_commit=None,  # not sent
    )
    assert version == {"version": "1.4.0", "stage": "registered"}
    (call,) = api.calls
    assert call.request.method == "POST"
    assert call.request.headers["Authorization"] == "Token s3cret"
    assert call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {
        "version": "1.4.0",
        "description": "Gradient boosting",
        "framework": "lightgbm",
        "parameters": {"num_leaves": 31},
        "tags": {"team": "forecasting"},
    }


def test_register_version_refuses_a_misspelt_field_before_calling(quorum, api):
    with pytest.raises(TypeError, match="frameworks"):
        quorum.register_version("demand-forecast", "1.4.0", frameworks="lightgbm")
    assert len(api.calls) == 0


def test_get_version_puts_the_name_in_the_path_escaped(quorum, api):
    api.get(f"{UC}/versions/1.4.0%2Bcpu/", json={"version": "1.4.0+cpu"})
    assert quorum.get_version("demand-forecast", "1.4.0+cpu") == {"version": "1.4.0+cpu"}
    assert api.calls[0].request.method == "GET"


def test_upload_dataset_sends_a_multipart_form_with_the_file(quorum, api, tmp_path):
    path = tmp_path / "holdout.csv"
    path.write_bytes(b"id,store,label\nr1,S01,10\nr2,S02,11\n")
    api.post(f"{UC}/datasets/", status=201, json={"id": 7, "name": "holdout", "rows": 2})
    dataset = quorum.upload_dataset("demand-forecast", path, "holdout", "Q3 hold-out")
    assert dataset["id"] == 7
    request = api.calls[0].request
    assert request.headers["Authorization"] == "Token s3cret"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    parts = form_parts(request)
    assert parts["name"][2] == b"holdout"
    assert parts["description"][2] == b"Q3 hold-out"
    assert parts["file"] == ("holdout.csv", "text/csv", path.read_bytes())


def test_upload_predictions_names_the_dataset_and_the_version(quorum, api, tmp_path):
    path = tmp_path / "predictions.parquet"
    path.write_bytes(b"PAR1 not really parquet PAR1")
    api.post(
        f"{UC}/versions/1.4.0/predictions/",
        status=201,
        json={"version": "1.4.0", "dataset": 7, "rows": 2, "has_score": False},
    )
    quorum.upload_predictions("demand-forecast", "1.4.0", 7, path)
    parts = form_parts(api.calls[0].request)
    assert parts["dataset"][2] == b"7"
    assert parts["file"] == (
        "predictions.parquet",
        "application/vnd.apache.parquet",
        path.read_bytes(),
    )


def test_an_unreadable_file_is_a_quorum_error_before_any_request(quorum, api, tmp_path):
    with pytest.raises(QuorumError, match="Cannot read .*missing.csv"):
        quorum.upload_dataset("demand-forecast", tmp_path / "missing.csv", "holdout")
    assert len(api.calls) == 0


def test_the_upload_body_reads_the_file_block_by_block(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 100_000)
    sizes = []

    class Spy:
        def __init__(self, file):
            self.file = file

        def fileno(self):
            return self.file.fileno()

        def tell(self):
            return self.file.tell()

        def read(self, size=-1):
            sizes.append(size)
            return self.file.read(size)

    with path.open("rb") as file:
        body = MultipartFile({"name": "big"}, file_field="file", file=Spy(file), filename="b.csv")
        chunks = iter(lambda: body.read(8192), b"")
        total = sum(len(chunk) for chunk in chunks)
    assert total == len(body)
    assert sizes and max(sizes) <= 8192 and -1 not in sizes


def test_an_upload_goes_over_the_wire_with_a_content_length(tmp_path):
    """A real socket (not `responses`): urllib3 streams the body, the server gets all of it."""
    received = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            received.update(headers=dict(self.headers), length=length, body=body)
            answer = json.dumps({"id": 1, "rows": 3}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = tmp_path / "holdout.csv"
        content = b"id,label\n" + b"".join(b"r%d,%d\n" % (n, n) for n in range(300_000))
        path.write_bytes(content)
        seen = []
        client = Client(f"http://127.0.0.1:{server.server_port}", token="t")
        answer = client.upload_dataset(
            "uc", path, "holdout", on_upload=lambda sent, total: seen.append((sent, total))
        )
    finally:
        server.shutdown()
        server.server_close()
    assert answer == {"id": 1, "rows": 3}
    assert "Transfer-Encoding" not in received["headers"]
    assert received["length"] == len(received["body"]) == seen[-1][0] == seen[-1][1]
    assert len(seen) > 1  # told as it went
    file_part = received["body"].split(b"\r\n\r\n", 3)[3]
    assert hashlib.sha256(file_part[: len(content)]).digest() == hashlib.sha256(content).digest()


def test_start_evaluation_posts_the_version_and_the_dataset(quorum, api):
    api.post(
        f"{UC}/evaluations/",
        status=202,
        json={"id": 12, "status": "queued", "progress": 0},
        match=[matchers.json_params_matcher({"version": "1.4.0", "dataset": 7})],
    )
    assert quorum.start_evaluation("demand-forecast", "1.4.0", 7)["status"] == "queued"


def test_get_evaluation_reads_it_by_id(quorum, api):
    api.get(f"{UC}/evaluations/12/", json=evaluation_body())
    assert quorum.get_evaluation("demand-forecast", 12)["passed_gates"] is True


def test_list_use_cases_follows_the_pages(quorum, api):
    api.get(
        f"{BASE}/api/v1/usecases/",
        json={"count": 3, "next": f"{BASE}/api/v1/usecases/?page=2", "results": [{"slug": "a"}]},
        match=[matchers.query_string_matcher("")],
    )
    api.get(
        f"{BASE}/api/v1/usecases/",
        json={"count": 3, "next": None, "results": [{"slug": "b"}, {"slug": "c"}]},
        match=[matchers.query_string_matcher("page=2")],
    )
    assert [u["slug"] for u in quorum.list_use_cases()] == ["a", "b", "c"]


def test_list_evaluations_sends_only_the_filters_given(quorum, api):
    api.get(
        f"{UC}/evaluations/",
        json={"count": 0, "next": None, "results": []},
        match=[matchers.query_param_matcher({"version": "1.4.0", "dataset": "7"})],
    )
    assert quorum.list_evaluations("demand-forecast", version="1.4.0", dataset=7) == []


def test_a_rejected_upload_raises_with_its_row_errors_and_counts(quorum, api, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,score\n")
    api.post(
        f"{UC}/datasets/",
        status=400,
        json={
            "detail": "7 rows break the checks; nothing was stored.",
            "errors": ROW_ERRORS,
            "counts": {"score is a number": 7, "duplicate id": 0},
        },
    )
    with pytest.raises(QuorumError) as raised:
        quorum.upload_dataset("demand-forecast", path, "bad")
    error = raised.value
    assert error.status == 400
    assert error.detail == "7 rows break the checks; nothing was stored."
    assert error.errors == ROW_ERRORS
    assert error.counts == {"score is a number": 7, "duplicate id": 0}
    assert str(error).splitlines() == [
        "7 rows break the checks; nothing was stored. (HTTP 400)",
        "  row 3, score: must be a number between 0 and 1",
        "  row 4, score: must be a number between 0 and 1",
        "  row 5, score: must be a number between 0 and 1",
        "  row 6, score: must be a number between 0 and 1",
        "  row 7, score: must be a number between 0 and 1",
        "  … and 2 more",
        "  counts: score is a number: 7, duplicate id: 0",
    ]


def test_a_field_error_names_the_field(quorum, api):
    api.post(
        f"{UC}/versions/",
        status=400,
        json={
            "detail": "Invalid input. version: Version “1.4.0” is already registered.",
            "errors": [{"field": "version", "message": "Version “1.4.0” is already registered."}],
        },
    )
    with pytest.raises(QuorumError) as raised:
        quorum.register_version("demand-forecast", "1.4.0")
    assert raised.value.errors[0]["field"] == "version"
    # The one error is the detail's own sentence: the message says it once.
    assert str(raised.value) == (
        "Invalid input. version: Version “1.4.0” is already registered. (HTTP 400)"
    )


def test_each_field_error_is_listed_with_its_field(quorum, api):
    api.post(
        f"{UC}/versions/",
        status=400,
        json={
            "detail": "Invalid input. version: Give the version a name.",
            "errors": [
                {"field": "version", "message": "Give the version a name."},
                {"field": "tags.team", "message": "Not a simple value."},
            ],
        },
    )
    with pytest.raises(QuorumError) as raised:
        quorum.register_version("demand-forecast", "")
    assert str(raised.value).splitlines()[1:] == ["  tags.team: Not a simple value."]


def test_a_request_without_token_is_told_where_to_get_one(api):
    api.get(
        f"{BASE}/api/v1/usecases/",
        status=401,
        json={"detail": "Authentication credentials were not provided."},
    )
    with pytest.raises(QuorumError, match="Set QUORUM_TOKEN") as raised:
        Client(BASE).list_use_cases()
    assert raised.value.status == 401
    assert "Authorization" not in api.calls[0].request.headers


def test_an_error_page_that_is_not_json_is_reported_readably(quorum, api):
    api.get(
        f"{UC}/evaluations/12/",
        status=502,
        body="<html><body><h1>502 Bad Gateway</h1></body></html>",
        content_type="text/html",
    )
    with pytest.raises(QuorumError, match="Bad Gateway") as raised:
        quorum.get_evaluation("demand-forecast", 12)
    assert raised.value.status == 502 and raised.value.errors == []


def test_a_success_that_is_not_json_means_a_wrong_address(quorum, api):
    api.get(f"{BASE}/api/v1/usecases/", body="<html>login</html>", content_type="text/html")
    with pytest.raises(QuorumError, match="not JSON: is the URL a Quorum server"):
        quorum.list_use_cases()


def test_a_redirect_is_reported_not_followed(quorum, api):
    api.post(
        f"{UC}/versions/",
        status=301,
        headers={"Location": "https://quorum.test/api/v1/usecases/demand-forecast/versions/"},
    )
    with pytest.raises(QuorumError, match="redirected to https://quorum.test/"):
        quorum.register_version("demand-forecast", "1.4.0")
    assert len(api.calls) == 1


def test_an_unreachable_server_is_a_quorum_error_without_status(quorum, api):
    api.get(f"{BASE}/api/v1/usecases/", body=requests.ConnectionError("refused"))
    with pytest.raises(QuorumError, match="Cannot reach the Quorum server") as raised:
        quorum.list_use_cases()
    assert raised.value.status is None


def test_wait_polls_until_succeeded_and_reports_each_poll(quorum, api):
    url = f"{UC}/evaluations/12/"
    api.get(url, json=evaluation_body(status="queued", progress=0, results={}, gates=[]))
    api.get(url, json=evaluation_body(status="running", progress=45, results={}, gates=[]))
    api.get(url, json=evaluation_body())
    seen = []
    evaluation = quorum.wait_for_evaluation(
        "demand-forecast", 12, poll_seconds=0, on_progress=lambda e: seen.append(e["progress"])
    )
    assert evaluation["status"] == "succeeded"
    assert evaluation["results"]["overall"]["mae"]["value"] == 1.2345
    assert seen == [0, 45, 100]
    assert len(api.calls) == 3


def test_a_failed_evaluation_raises_with_the_servers_message(quorum, api):
    api.get(
        f"{UC}/evaluations/12/",
        json=evaluation_body(status="failed", progress=30, error="Predictions contain NaN."),
    )
    with pytest.raises(EvaluationFailed, match="Predictions contain NaN.") as raised:
        quorum.wait_for_evaluation("demand-forecast", 12, poll_seconds=0)
    assert raised.value.evaluation["progress"] == 30
    assert isinstance(raised.value, QuorumError)


def test_waiting_gives_up_after_the_timeout(quorum, api):
    api.get(f"{UC}/evaluations/12/", json=evaluation_body(status="running", progress=10))
    with pytest.raises(EvaluationTimeout, match="has not finished after 1 s"):
        quorum.wait_for_evaluation("demand-forecast", 12, poll_seconds=5, timeout=1)
    assert len(api.calls) == 1


def test_waiting_survives_a_few_failed_polls(quorum, api):
    url = f"{UC}/evaluations/12/"
    api.get(url, status=503, json={"detail": "Service unavailable."})
    api.get(url, body=requests.ConnectionError("restarting"))
    api.get(url, json=evaluation_body())
    assert quorum.wait_for_evaluation("demand-forecast", 12, poll_seconds=0)["id"] == 12


def test_waiting_stops_on_repeated_or_final_errors(quorum, api):
    url = f"{UC}/evaluations/12/"
    api.get(url, status=503, json={"detail": "Service unavailable."})
    with pytest.raises(QuorumError, match="Service unavailable"):
        quorum.wait_for_evaluation("demand-forecast", 12, poll_seconds=0)
    assert len(api.calls) == 4  # the first try and three retries
    api.replace(responses.GET, url, status=404, json={"detail": "No such evaluation."})
    with pytest.raises(QuorumError, match="No such evaluation"):
        quorum.wait_for_evaluation("demand-forecast", 12, poll_seconds=0)
    assert len(api.calls) == 5


def test_the_client_imports_and_runs_without_django(tmp_path):
    """Installed with the project, usable with no Django settings: a clean interpreter."""
    code = (
        "import sys, quorum_client, quorum_client.cli\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('django', 'usecases')]\n"
        "print(quorum_client.Client('http://x').base_url)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "http://x\n"
    command = Path(sys.executable).parent / "quorum"
    done = subprocess.run(
        [command, "--help"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "evaluate" in done.stdout
