"""The client talks to a fake server (the `responses` library): only HTTP is faked."""

from pathlib import Path

import pytest
import responses

from quorum_client import Client

BASE = "http://quorum.test"
UC = f"{BASE}/api/v1/usecases/demand-forecast"


@pytest.fixture(autouse=True)
def _no_quorum_environment(monkeypatch, tmp_path):
    """No address, token or stored login from the machine running the tests: the config
    directory is the test's own (config_home)."""
    for name in ("QUORUM_URL", "QUORUM_TOKEN", "QUORUM_USERNAME", "QUORUM_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def config_home(tmp_path) -> Path:
    """$XDG_CONFIG_HOME of the test: the stored login is config_home / "quorum" / …."""
    return tmp_path / "config"


@pytest.fixture
def api():
    """The fake server; a request to anything not registered fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def quorum(api):
    with Client(BASE, token="s3cret") as client:
        yield client


def evaluation_body(**changes) -> dict:
    """A finished evaluation as the server returns it."""
    body = {
        "id": 12,
        "version": "1.4.0",
        "dataset": 7,
        "dataset_name": "holdout 2026-Q3",
        "status": "succeeded",
        "progress": 100,
        "error": "",
        "worker_seconds": 3.21,
        "champion": None,
        "results": {
            "overall": {
                "mae": {"value": 1.2345, "low": 1.1, "high": 1.4},
                "wape": {"value": 0.172, "low": 0.16, "high": 0.19},
                "confusion_matrix": {"labels": [0, 1], "matrix": [[1, 2], [3, 4]]},
            },
            "segments": {"S01": {"metrics": {"mae": {"value": 1.0, "low": 0.9, "high": 1.1}}}},
        },
        "gates": [
            {
                "name": "MAE",
                "metric": "mae",
                "segment": "",
                "value": 1.2345,
                "threshold": 2.5,
                "direction": "lower",
                "mode": "point",
                "is_gating": True,
                "passed": True,
            },
            {
                "name": "WAPE",
                "metric": "wape",
                "segment": "",
                "value": 0.172,
                "threshold": 0.15,
                "direction": "lower",
                "mode": "bound",
                "is_gating": False,
                "passed": False,
            },
        ],
        "passed_gates": True,
    }
    body.update(changes)
    return body
