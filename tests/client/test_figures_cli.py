"""`quorum evaluations results` and `quorum monitoring …` against a fake server: the tables
they print, the filters they send, --json, and the exit statuses of refusals."""

import json

import pytest
from responses import matchers

from quorum_client import cli
from tests.client.conftest import BASE, UC, evaluation_body

MONITORING = f"{UC}/monitoring"


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("QUORUM_TOKEN", "s3cret")
    monkeypatch.setenv("QUORUM_URL", BASE)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def with_intervals(body: dict) -> dict:
    body["gates"][0].update(low=1.1, high=1.4, target=1.5)
    body["gates"][1].update(low=0.16, high=0.19, target=0.12)
    return body


def test_evaluation_results_print_the_kpi_table_with_intervals_and_gates(api, token, capsys):
    api.get(f"{UC}/evaluations/12/", json=with_intervals(evaluation_body(finished_at=None)))
    status, out, _ = run(capsys, "evaluations", "results", "demand-forecast", "12")
    assert status == 0
    assert out.splitlines()[1:] == [
        "KPI   metric  segment  value  95 % interval  target  gate            result",
        "MAE   mae              1.234  [1.1, 1.4]     1.5     ≤ 2.5           PASS",
        "WAPE  wape             0.172  [0.16, 0.19]   0.12    ≤ 0.15 (bound)  FAIL (not gating)",
        "Gates: PASS, every gating KPI passed.",
    ]
    status, out, _ = run(capsys, "evaluations", "results", "demand-forecast", "12", "--json")
    body = json.loads(out)
    assert body["passed_gates"] is True and [g["low"] for g in body["gates"]] == [1.1, 0.16]
    assert "results" not in body


def test_evaluation_results_of_a_running_one_say_so_and_can_wait(api, token, capsys):
    url = f"{UC}/evaluations/12/"
    api.get(url, json=evaluation_body(status="running", progress=45, results={}, gates=[]))
    status, out, _ = run(capsys, "evaluations", "results", "demand-forecast", "12")
    assert status == 0
    assert out.endswith(": running (45 %); no KPI results.\n")
    api.replace("GET", url, json=with_intervals(evaluation_body()))
    status, out, err = run(
        capsys, "evaluations", "results", "demand-forecast", "12", "--wait", "--poll", "0",
        "--fail-on-gates",
    )  # fmt: skip
    assert status == 0 and "MAE   mae" in out
    assert "100 % succeeded" in err


def day(version: str, date: str) -> dict:
    return {
        "version": version,
        "day": date,
        "n_predictions": 10000,
        "n_with_outcome": 8200,
        "kpis": [
            {
                "kpi": 1,
                "name": "Forecast error",
                "metric": "mae",
                "value": 1.31,
                "low": 1.2,
                "high": 1.45,
                "n": 8200,
                "gate_threshold": 2.5,
            }
        ],
        "violation_rate": 0.004,
        "refused_rate": 0.0,
        "quality": [],
    }


def test_monitoring_days_sends_the_filters_and_prints_days_then_kpis(api, token, capsys):
    api.get(
        f"{MONITORING}/days/",
        json={"count": 1, "next": None, "results": [day("1.4.0", "2026-11-30")]},
        match=[
            matchers.query_param_matcher(
                {"version": "1.4.0", "start": "2026-11-01", "end": "2026-11-30"}
            )
        ],
    )
    status, out, _ = run(
        capsys, "monitoring", "days", "demand-forecast", "--version", "1.4.0",
        "--start", "2026-11-01", "--end", "2026-11-30",
    )  # fmt: skip
    assert status == 0
    assert out.splitlines() == [
        "day         version  predictions  with outcome  rule violations  refused",
        "2026-11-30  1.4.0    10,000       8,200         0.4 %            0.0 %",
        "",
        "day         version  KPI             value  95 % interval  n      gate",
        "2026-11-30  1.4.0    Forecast error  1.31   [1.2, 1.45]    8,200  2.5",
    ]


def test_monitoring_weeks_comparison_and_alerts(api, token, capsys):
    week = {**day("1.4.0", "")["kpis"][0], "version": "1.4.0", "week": "2026-11-23"}
    api.get(f"{MONITORING}/weeks/", json=[week])
    comparison = {
        "version": "1.5.0",
        "stage": "shadow",
        "day": "2026-11-30",
        "baseline": "1.4.0",
        "n_paired": 9000,
        "n_disagree": 450,
        "disagreement_rate": 0.05,
        "mean_abs_difference": 0.3,
        "n_with_outcome": 7000,
        "differences": [
            {
                "kpi": 1,
                "name": "Forecast error",
                "metric": "mae",
                "direction": "lower",
                "challenger": 1.2,
                "baseline": 1.31,
                "difference": -0.11,
                "low": -0.15,
                "high": -0.07,
                "p_value": 0.0004,
                "n": 7000,
            }
        ],
    }
    api.get(f"{MONITORING}/comparison/", json=[comparison])
    alert = {
        "id": 4,
        "version": "1.4.0",
        "kind": "drift",
        "subject": "price",
        "subject_label": "price",
        "value": 0.31,
        "threshold": 0.2,
        "day": "2026-11-29",
        "last_seen_day": "2026-11-30",
        "status": "open",
    }
    api.get(
        f"{MONITORING}/alerts/",
        json=[alert],
        match=[matchers.query_param_matcher({"status": "open", "kind": "drift"})],
    )
    _, out, _ = run(capsys, "monitoring", "weeks", "demand-forecast")
    assert out.splitlines()[1] == (
        "2026-11-23  1.4.0    Forecast error  1.31   [1.2, 1.45]    8,200  2.5"
    )
    _, out, _ = run(capsys, "monitoring", "comparison", "demand-forecast")
    assert "2026-11-30  1.5.0 (shadow)  1.4.0       9,000   5.0 %     7,000" in out
    assert "Forecast error  1.2         1.31        -0.11       [-0.15, -0.07]  0.0004" in out
    status, out, _ = run(
        capsys, "monitoring", "alerts", "demand-forecast", "--status", "open", "--kind", "drift"
    )
    assert status == 0
    assert out.splitlines()[1].split() == [
        "4", "1.4.0", "drift", "price", "0.31", "0.2", "2026-11-29", "2026-11-30", "open"
    ]  # fmt: skip


def test_acknowledging_an_alert_posts_the_note(api, token, capsys):
    api.post(
        f"{MONITORING}/alerts/4/acknowledge",
        json={
            "id": 4,
            "kind": "drift",
            "subject_label": "price",
            "status": "acknowledged",
            "acknowledged_at": "2026-12-01T09:00:00Z",
        },
        match=[matchers.json_params_matcher({"note": "Looking at the price feed."})],
    )
    status, out, _ = run(
        capsys, "monitoring", "acknowledge", "demand-forecast", "4", "--note",
        "Looking at the price feed.",
    )  # fmt: skip
    assert status == 0
    assert out == "Alert 4 (drift, price) is acknowledged since 2026-12-01 09:00:00.\n"


@pytest.mark.parametrize(
    ("http_status", "exit_status"),
    [(400, 1), (401, 6), (403, 7), (404, 8), (409, 1), (429, 9), (500, 1)],
)
def test_each_refusal_exits_with_the_status_that_names_it(
    api, token, capsys, http_status, exit_status
):
    api.get(f"{MONITORING}/days/", status=http_status, json={"detail": "No."})
    status, _, err = run(capsys, "monitoring", "days", "demand-forecast")
    assert status == exit_status
    assert f"(HTTP {http_status})" in err
