"""`quorum promote`, `quorum promotions …`, `quorum deployment` and `quorum rollback`, and the
client methods under them, against the real API on a live server: the gates, the approvals
and the stage moves are the server's own (the evidence comes from tests/promotions)."""

import json

import pytest
from knox.models import AuthToken

from quorum_client import Client, QuorumError, cli
from quorum_client import client as client_module
from registry.models import ModelVersion
from tests.factories import make_version
from tests.promotions import evidence
from tests.promotions.factories import recording_tasks

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "demand-forecast"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """These tests commit, so promotions queue e-mails and webhooks: record, don't publish."""
    with recording_tasks(monkeypatch) as queued:
        yield queued


@pytest.fixture
def server(live_server, personas, use_case) -> dict:
    """The live server's address, and a token per persona."""
    tokens = {who: AuthToken.objects.create(user)[1] for who, user in personas.items()}
    return {"url": live_server.url, "tokens": tokens}


@pytest.fixture
def evaluated(use_case, personas) -> ModelVersion:
    """Version 2.0.0, registered, with a succeeded evaluation passing the gating KPI: all a
    promotion to shadow needs."""
    by = personas["data_scientist"]
    evidence.gating_kpi(use_case)
    version = make_version(use_case, "2.0.0", by)
    evidence.evaluation(version, evidence.reference(use_case, by), by)
    return version


def quorum(capsys, server, who: str, *argv: str) -> tuple[int, str, str]:
    """Run the command as `who`; its exit status, stdout and stderr."""
    status = cli.main(["--url", server["url"], "--token", server["tokens"][who], *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def promote(capsys, server, *argv: str) -> tuple[int, str, str]:
    return quorum(capsys, server, "data_scientist", "promote", SLUG, *argv)


def opened_id(out: str) -> str:
    """The id in 'Opened promotion request 12: …'."""
    return out.split("Opened promotion request ", 1)[1].split(":", 1)[0]


def test_promote_approve_and_the_deployment_shows_the_version(capsys, server, evaluated):
    status, out, _ = promote(capsys, server, "2.0.0", "--to", "shadow", "--rationale", "Better.")
    assert status == 0, out
    assert f"version 2.0.0 of {SLUG}, registered → shadow." in out
    assert "kind        status  summary\nevaluation  passed" in out
    assert "Waits for 1 expert." in out
    request_id = opened_id(out)

    status, out, _ = quorum(capsys, server, "viewer", "promotions", "list", SLUG)
    assert status == 0
    row = next(line for line in out.splitlines() if line.startswith(f"{request_id} "))
    assert row.split()[:7] == [request_id, "2.0.0", "registered", "→", "shadow", "pending", "dana"]

    status, out, _ = quorum(
        capsys, server, "expert", "promotions", "approve", SLUG, request_id, "--comment", "Fine."
    )
    assert status == 0, out
    assert f"Promotion request {request_id}: version 2.0.0, registered → shadow: executed" in out
    assert "erik        approve  expert" in out and "Fine." in out

    status, out, _ = quorum(capsys, server, "viewer", "deployment", SLUG)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"Deployment of {SLUG}"
    assert lines[2].startswith("production  –")
    assert lines[4].startswith("shadow      2.0.0")

    status, out, _ = quorum(capsys, server, "viewer", "--json", "deployment", SLUG)
    assert json.loads(out)["shadow"][0]["version"] == "2.0.0"


def test_a_request_whose_gate_is_not_passed_opens_with_status_5(capsys, server, use_case):
    make_version(use_case, "2.0.0", use_case.owner)
    status, out, _ = promote(capsys, server, "2.0.0", "--to", "shadow", "--rationale", "Go.")
    assert status == cli.PROMOTION_BLOCKED == 5
    assert "evaluation  incomplete  No evaluation dataset" in out
    assert "Not every gate is passed" in out
    request_id = opened_id(out)
    status, out, _ = quorum(capsys, server, "expert", "promotions", "approve", SLUG, request_id)
    assert status == 5
    assert "registered → shadow: refused" in out
    assert "Outcome: The gates are not all passed at execution" in out
    assert use_case.versions.get().stage == "registered"


def test_a_manager_override_lets_the_approval_execute(capsys, server, use_case):
    make_version(use_case, "2.0.0", use_case.owner)
    _, out, _ = promote(capsys, server, "2.0.0", "--to", "shadow", "--rationale", "Go.")
    request_id = opened_id(out)
    status, out, _ = quorum(
        capsys, server, "manager", "promotions", "override", SLUG, request_id,
        "--justification", "Evaluated offline.",
    )  # fmt: skip
    assert status == 0
    assert "Gates overridden by maria: Evaluated offline." in out
    status, out, _ = quorum(capsys, server, "expert", "promotions", "approve", SLUG, request_id)
    assert status == 0 and ": executed" in out


def test_reject_needs_a_comment_and_withdraw_ends_ones_own_request(capsys, server, evaluated):
    _, out, _ = promote(capsys, server, "2.0.0", "--to", "shadow", "--rationale", "Go.")
    request_id = opened_id(out)
    status, _, err = quorum(capsys, server, "expert", "promotions", "reject", SLUG, request_id)
    assert status == 2 and "--comment" in err  # refused before anything is sent
    status, out, _ = quorum(
        capsys, server, "expert", "promotions", "reject", SLUG, request_id, "--comment", "Not yet."
    )
    assert status == 0 and ": rejected" in out and "Outcome: Not yet." in out

    _, out, _ = promote(capsys, server, "2.0.0", "--to", "shadow", "--rationale", "Again.")
    request_id = opened_id(out)
    status, out, _ = quorum(
        capsys, server, "data_scientist", "promotions", "withdraw", SLUG, request_id
    )
    assert status == 0 and ": withdrawn" in out
    status, out, _ = quorum(capsys, server, "viewer", "promotions", "show", SLUG, request_id)
    assert status == 0 and "Requested by dana" in out and "Again." in out


def test_bad_fields_are_printed_with_their_names(capsys, server, evaluated):
    status, out, err = promote(capsys, server, "2.0.0", "--to", "canary", "--rationale", "Go.")
    assert status == 1 and out == ""
    assert (
        "quorum: Invalid input. target_stage: A version in registered may only be promoted to "
        "shadow. (HTTP 400)\n  traffic_percent: A canary takes 1–50 % of traffic." in err
    )
    status, out, err = promote(
        capsys, server, "2.0.0", "--to", "shadow", "--rationale", "Go.", "--json"
    )
    assert status == 0
    body = json.loads(out)
    assert body["status"] == "pending"
    status, out, err = promote(capsys, server, "2.0.0", "--to", "shadow", "--rationale", "Go.")
    assert status == 1 and "already has a request waiting for approval. (HTTP 409)" in err
    request_id = str(body["id"])
    status, _, err = quorum(
        capsys, server, "data_scientist", "promotions", "approve", SLUG, request_id
    )
    assert status == cli.FORBIDDEN == 7
    assert "Nobody approves or rejects their own request. (HTTP 403)" in err
    status, _, err = quorum(capsys, server, "viewer", "promotions", "show", SLUG, "999")
    assert status == cli.NOT_FOUND == 8 and "(HTTP 404)" in err


def test_the_client_gets_304_and_no_body_while_the_deployment_is_unchanged(server, evaluated):
    with Client(server["url"], token=server["tokens"]["viewer"]) as client:
        body, etag = client.deployment(SLUG)
        assert body == {"use_case": SLUG, "production": None, "canary": None, "shadow": []}
        assert etag
        assert client.deployment(SLUG, etag=etag) == (None, etag)
        evidence.at_stage(evaluated, "shadow")
        changed, new_etag = client.deployment(SLUG, etag=etag)
    assert [v["version"] for v in changed["shadow"]] == ["2.0.0"]
    assert new_etag != etag


def test_deployment_watch_prints_only_when_the_deployment_changes(
    capsys, server, evaluated, monkeypatch
):
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        if len(polls) == 2:
            evidence.at_stage(evaluated, "shadow")
        if len(polls) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(client_module.time, "sleep", sleep)
    status, out, err = quorum(capsys, server, "viewer", "deployment", SLUG, "--watch", "0.5")
    assert status == cli.INTERRUPTED
    assert polls == [0.5] * 4
    assert out.count(f"Deployment of {SLUG}") == 2  # 4 polls, 2 answers: 2 were 304
    assert "shadow      2.0.0" in out.split(f"Deployment of {SLUG}")[2]


def test_rollback_returns_the_previous_production_version(capsys, server, use_case, personas):
    for name in ("2.0.0", "3.0.0"):
        evidence.ready_version(use_case, personas, name, stage="canary")
        _, out, _ = promote(capsys, server, name, "--to", "production", "--rationale", "Go.")
        status, out, _ = quorum(
            capsys, server, "expert", "promotions", "approve", SLUG, opened_id(out)
        )
        assert status == 0 and "canary → production: executed" in out
    status, out, err = quorum(capsys, server, "data_scientist", "rollback", SLUG, "--reason", "x")
    assert status == cli.FORBIDDEN and "(HTTP 403)" in err
    status, out, _ = quorum(
        capsys, server, "owner", "rollback", SLUG, "--reason", "Errors in 3.0.0."
    )
    assert status == 0, out
    assert out.startswith(f"Rolled back {SLUG}.\nDeployment of {SLUG}\n")
    assert "production  2.0.0" in out
    with Client(server["url"], token=server["tokens"]["viewer"]) as client:
        body, _ = client.deployment(SLUG)
    assert body["production"]["version"] == "2.0.0"
    assert use_case.versions.get(version="3.0.0").stage == "archived"


def test_client_methods_raise_quorum_errors_with_the_field(server, evaluated):
    with Client(server["url"], token=server["tokens"]["data_scientist"]) as client:
        with pytest.raises(QuorumError) as raised:
            client.request_promotion(SLUG, "2.0.0", "shadow", rationale=" ")
        assert raised.value.status == 400
        assert [item["field"] for item in raised.value.errors] == ["rationale"]
        opened = client.request_promotion(SLUG, "2.0.0", "shadow", rationale="Go.")
        assert client.get_promotion(SLUG, opened["id"])["gates"][0]["status"] == "passed"
        assert [p["id"] for p in client.list_promotions(SLUG)] == [opened["id"]]
        assert client.withdraw_promotion(SLUG, opened["id"])["status"] == "withdrawn"
