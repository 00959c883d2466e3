"""`quorum campaigns …` against the real API on a live server: a campaign is sampled, the
wait shows a progress bar while an expert reviews through the API, then the results and the
corrections export are the server's own."""

import csv
import io
import json

import pytest
import requests
from knox.models import AuthToken

from quorum_client import cli
from quorum_client import client as client_module
from tests.factories import log_predictions, make_version

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "demand-forecast"


@pytest.fixture
def server(live_server, personas, use_case) -> dict:
    tokens = {who: AuthToken.objects.create(user)[1] for who, user in personas.items()}
    version = make_version(use_case, "2.0.0", personas["data_scientist"])
    log_predictions(version, 30)
    return {"url": live_server.url, "tokens": tokens}


def quorum(capsys, server, who: str, *argv: str) -> tuple[int, str, str]:
    status = cli.main(["--url", server["url"], "--token", server["tokens"][who], *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def review_next(server, campaign_id: int, verdict: str, **extra) -> None:
    """The expert claims the next item and reviews it, as the review page does."""
    url = f"{server['url']}/api/v1/usecases/{SLUG}/review-campaigns/{campaign_id}"
    headers = {"Authorization": f"Token {server['tokens']['expert']}"}
    claimed = requests.post(f"{url}/claim", headers=headers, timeout=10)
    assert claimed.status_code == 200, claimed.text
    body = {"slot": claimed.json()["slot"], "verdict": verdict, **extra}
    reviewed = requests.post(f"{url}/reviews", json=body, headers=headers, timeout=10)
    assert reviewed.status_code == 201, reviewed.text


def create(capsys, server) -> int:
    status, out, err = quorum(
        capsys,
        server,
        "data_scientist",
        "--json",
        "campaigns", "create", SLUG,
        "--name", "Q3 check",
        "--version", "2.0.0",
        "--sample-size", "3",
        "--reason-tag", "stock-out",
        "--reason-tag", "holiday",
        "--instructions", "Compare with the shelf.",
    )  # fmt: skip
    assert status == 0, err
    campaign = json.loads(out)
    assert (campaign["item_count"], campaign["reason_tags"]) == (3, ["stock-out", "holiday"])
    return campaign["id"]


def test_a_campaign_is_created_followed_until_complete_and_its_results_read(
    capsys, server, monkeypatch, tmp_path
):
    campaign_id = create(capsys, server)
    status, out, _ = quorum(capsys, server, "viewer", "campaigns", "list", SLUG)
    row = next(line for line in out.splitlines() if line.startswith(f"{campaign_id} "))
    assert status == 0 and row.split()[:4] == [str(campaign_id), "Q3", "check", "2.0.0"]

    verdicts = iter(
        [("correct", {}), ("incorrect", {"corrected_value": 5.5, "reason_tags": ["holiday"]})]
    )
    polls = []

    def sleep(seconds):  # between polls, the expert reviews one more item
        polls.append(seconds)
        verdict, extra = next(verdicts, ("correct", {}))
        review_next(server, campaign_id, verdict, **extra)

    monkeypatch.setattr(client_module.time, "sleep", sleep)
    status, out, err = quorum(
        capsys, server, "viewer", "campaigns", "progress", SLUG, str(campaign_id), "--wait",
        "--poll", "0.5",
    )  # fmt: skip
    assert status == 0, err
    assert polls == [0.5, 0.5, 0.5]
    assert err.splitlines() == [
        "[--------------------]   0 % open (0 of 3 reviews)",
        "[######--------------]  33 % open (1 of 3 reviews)",
        "[#############-------]  66 % open (2 of 3 reviews)",
        "[####################] 100 % open (3 of 3 reviews)",
    ]
    assert "3 of 3 reviews (100 %) on 3 items" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("erik")] == [
        ["erik", "3"]
    ]

    status, out, _ = quorum(
        capsys, server, "viewer", "campaigns", "results", SLUG, str(campaign_id)
    )
    assert status == 0
    assert "Verdicts: 2 correct, 1 incorrect, 0 unsure" in out
    assert "Acceptance (unsure left out): 66.7 % [" in out and "(2 of 3)" in out
    assert "Agreement: no item was reviewed twice." in out

    path = tmp_path / "corrections.csv"
    status, _, err = quorum(
        capsys, server, "viewer", "campaigns", "corrections", SLUG, str(campaign_id), "-o",
        str(path),
    )  # fmt: skip
    assert status == 0 and f"to {path}" in err
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert sorted(row["verdict"] for row in rows) == ["correct", "correct", "incorrect"]
    assert [row["corrected_value"] for row in rows if row["verdict"] == "incorrect"] == ["5.5"]

    status, out, _ = quorum(
        capsys, server, "viewer", "campaigns", "corrections", SLUG, str(campaign_id)
    )
    assert status == 0 and out.replace("\r\n", "\n") == path.read_text().replace("\r\n", "\n")
    status, out, _ = quorum(
        capsys, server, "viewer", "--json", "campaigns", "corrections", SLUG, str(campaign_id)
    )
    assert [row["reason_tags"] for row in json.loads(out) if row["verdict"] == "incorrect"] == [
        ["holiday"]
    ]

    status, _, err = quorum(capsys, server, "viewer", "campaigns", "close", SLUG, str(campaign_id))
    assert status == cli.FORBIDDEN
    status, out, _ = quorum(
        capsys, server, "data_scientist", "campaigns", "close", SLUG, str(campaign_id)
    )
    assert (status, out) == (0, f"Closed campaign {campaign_id} “Q3 check”.\n")


def test_waiting_gives_up_after_the_timeout_with_status_4(capsys, server, monkeypatch):
    campaign_id = create(capsys, server)
    monkeypatch.setattr(client_module.time, "sleep", lambda seconds: None)
    status, out, err = quorum(
        capsys, server, "viewer", "-q", "--json", "campaigns", "progress", SLUG,
        str(campaign_id), "--wait", "--timeout", "0",
    )  # fmt: skip
    assert status == cli.WAIT_TIMEOUT == 4
    assert err == (
        f"quorum: Campaign {campaign_id} is not complete after 0 s (0 of 3 reviews); "
        "reviewing goes on.\n"
    )
    assert json.loads(out)["progress"]["reviews_needed"] == 3


def test_a_sample_larger_than_the_log_is_refused_with_the_field(capsys, server):
    status, _, err = quorum(
        capsys, server, "data_scientist", "campaigns", "create", SLUG, "--name", "Big",
        "--version", "2.0.0", "--sample-size", "500",
    )  # fmt: skip
    assert status == 1 and "sample_size" in err and "(HTTP 400)" in err
    status, _, err = quorum(capsys, server, "viewer", "campaigns", "results", SLUG, "999")
    assert status == cli.NOT_FOUND
