"""fuzz/run.py's own bookkeeping (`make fuzz`, docs/security.md "Fuzzing"): each run starts
from an empty var/fuzz/, the summary reads any access log without crashing, and the
configuration keeps the run's token alive and MLflow's calls on the machine."""

import importlib.util
import json
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = {"paths": {"/api/v1/usecases/": {"get": {}, "post": {}}}}


@pytest.fixture
def fuzz_run(tmp_path, monkeypatch):
    """fuzz/run.py as a module, writing under a temporary folder instead of var/fuzz/."""
    spec = importlib.util.spec_from_file_location("fuzz_run", ROOT / "fuzz" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / "fuzz")
    return module


def test_a_run_starts_from_an_empty_folder(fuzz_run):
    # Before: only *.log files were deleted, so the last run's events.ndjson (its failures)
    # fed the next run's table when schemathesis did not write a new one.
    out = fuzz_run.OUT
    (out / "static").mkdir(parents=True)
    for name in ("events.ndjson", "junit.xml", "summary.json", "access.log", "static/app.css"):
        (out / name).write_text("old")
    fuzz_run.clear_outputs()
    assert out.is_dir() and list(out.iterdir()) == []
    assert fuzz_run.failed_checks() == {}


def test_the_summary_skips_and_counts_lines_it_does_not_understand(fuzz_run, capsys):
    # Before: ValueError ("not enough values to unpack") on the first odd line.
    fuzz_run.OUT.mkdir(parents=True)
    lines = [
        "200 12 GET /api/v1/usecases/ HTTP/1.1",
        "",
        "[2026-12-04 10:00:00 +0000] [42] [INFO] Booting worker",
        "201 30 POST /api/v1/usecases/ HTTP/1.1",
        "500 7 POST /api/v1/usecases/ HTTP/1.1",
        "404 3 GET /api/v1/nothing/ HTTP/1.1",
        "400 0 -",  # a request line gunicorn could not read: still counted, by its status
        "OK",
    ]
    (fuzz_run.OUT / "access.log").write_text("\n".join(lines) + "\n")
    summary = fuzz_run.summarise(SCHEMA)
    assert summary["requests"] == 5
    assert summary["5xx"] == 1
    assert summary["skipped_lines"] == 3
    assert summary["operations"]["POST /api/v1/usecases/"]["requests"] == 2
    assert "not understood, left out of the table: 3" in capsys.readouterr().out
    assert json.loads((fuzz_run.OUT / "summary.json").read_text())["skipped_lines"] == 3


SEED = {
    "token": "olivia-token",
    "slugs": ["bank-churn", "parcel-routing"],
    "versions": ["1.0.0"],
    "ids": dict.fromkeys(
        ["kpis", "rules", "datasets", "evaluations", "members", "campaigns", "promotions"], [1]
    ),
    "request_ids": ["r-1"],
    "scratch": {
        "usecase_delete": "delete-me",
        "deleter_token": "deleter-token",
        "usecase_unlink": "unlink-me",
        "revoke_token": "revoke-token",
        "usecase_phase": "phase-changes",
        "kpi": 2,
        "rule": 2,
        "members": [2, 3],
        "dataset": 2,
        "campaign": 2,
    },
}


def test_what_revokes_or_unlinks_never_gets_the_token_every_other_operation_needs(fuzz_run):
    # DELETE /api/v1/auth/token revokes the token it is sent with: with Olivia's, every later
    # request of the run would get 401.
    fuzz_run.OUT.mkdir(parents=True)
    config = tomllib.loads(fuzz_run.write_config(SEED).read_text())
    assert config["headers"] == {"Authorization": "Token ${QUORUM_FUZZ_TOKEN}"}
    blocks = {block.get("include-operation-id"): block for block in config["operations"]}
    revoke = blocks["v1_auth_token_destroy"]
    assert revoke["headers"] == {"Authorization": "Token ${QUORUM_FUZZ_REVOKE_TOKEN}"}
    unlink = blocks["v1_usecases_mlflow_destroy"]
    assert unlink["headers"] == {"Authorization": "Token ${QUORUM_FUZZ_DELETER_TOKEN}"}
    assert unlink["parameters"] == {"path.use_case_slug": {"dictionary": "unlink_usecase"}}
    assert config["dictionaries"]["unlink_usecase"]["values"] == ["unlink-me"]


def test_the_server_lets_token_logins_through_and_calls_no_private_mlflow(fuzz_run):
    env = fuzz_run.server_env("sqlite:///fuzz.sqlite3")
    assert env["THROTTLE_RATE_TOKEN_LOGIN"] == "100000/minute"
    assert env["MLFLOW_ALLOWED_HOSTS"] == ""
    assert env["WEBHOOK_ALLOW_PRIVATE_HOSTS"] == "false"
    assert float(env["MLFLOW_TIMEOUT_SECONDS"]) < fuzz_run.REQUEST_TIMEOUT_SECONDS
