"""Logging predictions and outcomes from the client and the `quorum` command: batches,
summed answers, row numbers counted from the first row, CSV sent as it is."""

import datetime
import json

import pytest
from responses import matchers

from quorum_client import QuorumError, cli
from tests.client.conftest import BASE, UC


def answer(rows: int, **changes) -> dict:
    body = {
        "mode": "all_or_nothing",
        "rows": rows,
        "inserted": rows,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "counts": {},
        "rule_violations": [],
    }
    body.update(changes)
    return body


def rows(count: int) -> list[dict]:
    return [
        {
            "version": "1.4.0",
            "request_id": f"r{n}",
            "timestamp": datetime.datetime(2026, 3, 31, 14, 5, tzinfo=datetime.UTC),
            "features": {"store": "S01"},
            "prediction": 1.5,
        }
        for n in range(count)
    ]


def test_log_predictions_sends_json_batches_and_sums_the_answers(quorum, api):
    api.post(f"{UC}/predictions", json=answer(2))
    api.post(f"{UC}/predictions", json=answer(1, inserted=0, duplicates=1))
    total = quorum.log_predictions("demand-forecast", rows(3), batch_size=2)
    assert (total["rows"], total["inserted"], total["duplicates"], total["batches"]) == (3, 2, 1, 2)
    first, second = (json.loads(call.request.body) for call in api.calls)
    assert [len(first), len(second)] == [2, 1]
    assert first[0]["timestamp"] == "2026-03-31T14:05:00+00:00"
    assert api.calls[0].request.headers["Content-Type"] == "application/json"


def test_partial_mode_is_asked_for_in_the_query(quorum, api):
    api.post(
        f"{UC}/predictions",
        match=[matchers.query_param_matcher({"partial": "true"})],
        json=answer(2, mode="partial", inserted=1, rejected=1,
                    errors=[{"row": 2, "field": "score", "message": "bad"}]),
    )  # fmt: skip
    total = quorum.log_predictions("demand-forecast", rows(2), partial=True)
    assert total["mode"] == "partial"
    assert total["errors"] == [{"row": 2, "field": "score", "message": "bad"}]


def test_a_refused_batch_names_rows_from_the_first_row_given(quorum, api):
    api.post(f"{UC}/predictions", json=answer(2))
    api.post(
        f"{UC}/predictions",
        status=400,
        json={
            "detail": "1 bad row of 1: nothing was stored.",
            "errors": [{"row": 1, "field": "version", "message": "unknown"}],
            "counts": {"version: unknown": 1},
        },
    )
    with pytest.raises(QuorumError) as refused:
        quorum.log_predictions("demand-forecast", rows(3), batch_size=2)
    assert refused.value.status == 400
    assert refused.value.errors == [{"row": 3, "field": "version", "message": "unknown"}]
    assert "The 2 rows before were stored" in refused.value.detail


def test_log_outcomes_and_csv_files(quorum, api, tmp_path):
    api.post(
        f"{UC}/outcomes",
        json={"mode": "all_or_nothing", "rows": 1, "matched": 1, "updated_predictions": 2,
              "unknown": 0, "unknown_request_ids": [], "duplicates": 0, "rejected": 0,
              "errors": [], "counts": {}},
    )  # fmt: skip
    total = quorum.log_outcomes("demand-forecast", [{"request_id": "r1", "outcome": 3}])
    assert (total["matched"], total["updated_predictions"]) == (1, 2)
    path = tmp_path / "predictions.csv"
    path.write_text("version,request_id,timestamp,prediction\n1.4.0,r1,2026-03-31,2\n")
    api.post(f"{UC}/predictions", json=answer(1))
    assert quorum.log_predictions_csv("demand-forecast", path)["inserted"] == 1
    request = api.calls[-1].request
    assert request.headers["Content-Type"] == "text/csv"
    assert request.body == path.read_bytes()


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("QUORUM_TOKEN", "s3cret")
    monkeypatch.setenv("QUORUM_URL", BASE)


def test_cli_predictions_log_prints_the_counts_and_rule_violations(api, token, capsys, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(row, default=str) for row in rows(3)))
    violation = {"rule": 4, "field": "price", "summary": "price between 0 and 10",
                 "severity": "warning", "violations": 2, "checked": True}  # fmt: skip
    api.post(f"{UC}/predictions", json=answer(3, inserted=2, duplicates=1,
                                              rule_violations=[violation]))  # fmt: skip
    status = cli.main(["predictions", "log", "demand-forecast", str(path)])
    out = capsys.readouterr().out
    assert status == 0
    assert out.splitlines() == [
        "Logged 3 rows to demand-forecast (all_or_nothing): 2 new, 1 already stored, 0 rejected.",
        "  data-quality rule “price between 0 and 10” (warning): 2 rows",
    ]


def test_cli_outcomes_log_reports_unknown_ids_and_a_refusal_exits_1(api, token, capsys, tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("request_id,outcome\nr1,3\nzz,4\n")
    api.post(
        f"{UC}/outcomes",
        match=[matchers.query_param_matcher({"partial": "true"})],
        json={"mode": "partial", "rows": 2, "matched": 1, "updated_predictions": 1,
              "unknown": 1, "unknown_request_ids": ["zz"], "duplicates": 0, "rejected": 0,
              "errors": [], "counts": {}},
    )  # fmt: skip
    assert cli.main(["outcomes", "log", "demand-forecast", str(path), "--partial"]) == 0
    out = capsys.readouterr().out
    assert "1 requests matched, 1 predictions updated, 1 unknown request ids" in out
    assert "  unknown: zz" in out
    api.post(f"{UC}/outcomes", status=413, json={"detail": "Too many rows."})
    assert cli.main(["outcomes", "log", "demand-forecast", str(path)]) == 1
    assert "Too many rows. (HTTP 413)" in capsys.readouterr().err
