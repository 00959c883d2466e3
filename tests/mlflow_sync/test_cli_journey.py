"""README "From MLflow", as a data science team runs it: `quorum login`, `quorum mlflow
link`, `quorum mlflow import --wait` against a live Quorum and a real `mlflow server`; then
a promotion in Quorum, and MLflow's aliases read back with MLflow's own client."""

from __future__ import annotations

import json

import pytest

from mlflow_sync import tasks
from mlflow_sync.services import scheduling
from quorum_client import cli
from registry.models import ModelVersion
from tests.mlflow_sync.test_integration import aliases_in_mlflow, promote, register_model

pytestmark = [
    pytest.mark.mlflow,
    pytest.mark.usefixtures("allow_loopback"),
    pytest.mark.django_db(transaction=True),
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_team_links_imports_and_promotes_and_mlflows_aliases_follow(
    live_server, use_case, personas, mlflow_server, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # the stored login goes here
    monkeypatch.delenv("QUORUM_URL", raising=False)
    monkeypatch.delenv("QUORUM_TOKEN", raising=False)
    # The worker's part runs inline here (tests/mlflow_sync/test_integration.py runs the
    # sync in a real worker).
    monkeypatch.setattr(tasks.import_link, "delay", scheduling.import_now)
    monkeypatch.setattr(tasks.sync_aliases, "delay", lambda pk: scheduling.sync_attempt(pk, 0))
    name = register_model(mlflow_server, versions=3)
    owner = personas["owner"]
    owner.set_password("owner-pass-123")
    owner.save()
    monkeypatch.setenv("QUORUM_USERNAME", owner.username)
    monkeypatch.setenv("QUORUM_PASSWORD", "owner-pass-123")

    status, _, err = run(capsys, "--url", live_server.url, "login")
    assert status == 0, err
    slug = use_case.slug
    status, out, err = run(
        capsys, "mlflow", "link", slug, "--tracking-uri", mlflow_server.uri, "--model", name
    )
    assert status == 0, err
    assert "MLflow answered" in out
    status, out, err = run(capsys, "mlflow", "import", slug, "--wait")
    assert status == 0, err
    assert "3 new, 0 changed, 0 unchanged, 0 marked deleted" in out

    status, out, err = run(capsys, "mlflow", "versions", slug, "--json")
    assert status == 0, err
    versions = json.loads(out)
    assert [v["version"] for v in versions] == ["3", "2", "1"]
    assert versions[0]["run_metrics"] == {"val_auc": pytest.approx(0.83)}

    promote(use_case, personas, ModelVersion.objects.get(use_case=use_case, version="2"), "shadow")
    assert aliases_in_mlflow(mlflow_server, name) == {"shadow": "2"}
    status, out, err = run(capsys, "mlflow", "status", slug)
    assert status == 0, err
    assert "succeeded" in out and "alias shadow → version 2" in out

    status, _, err = run(
        capsys, "mlflow", "link", slug, "--tracking-uri", mlflow_server.uri, "--model", "not-there"
    )
    assert status == cli.API_ERROR and "unlink first to link another model" in err
    status, _, err = run(capsys, "mlflow", "status", "no-such-use-case")
    assert status == cli.NOT_FOUND, err
