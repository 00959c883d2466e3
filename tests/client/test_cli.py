"""The `quorum` command: arguments, output, progress bar and exit statuses."""

import io
import json

import pytest
from responses import matchers

from quorum_client import cli
from tests.client.conftest import BASE, UC, evaluation_body


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("QUORUM_TOKEN", "s3cret")
    monkeypatch.setenv("QUORUM_URL", BASE)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_versions_register_sends_typed_parameters_and_tags(api, token, capsys, tmp_path):
    params = tmp_path / "params.json"
    params.write_text('{"num_leaves": 31, "learning_rate": 0.1}')
    api.post(f"{UC}/versions/", status=201, json={"version": "1.4.0", "stage": "registered"})
    status, out, _ = run(
        capsys,
        "versions", "register", "demand-forecast", "1.4.0",
        "--framework", "lightgbm",
        "--git-commit", "3f2a9c1",
        "--parameters-file", str(params),
        "--param", "learning_rate=0.05",
        "--param", "layers=[64, 32]",
        "--param", "objective=l1",
        "--tag", "team=forecasting",
        "--tag", "champion=false",
        "--tag", "note=null",
    )  # fmt: skip
    assert status == 0
    assert out == "Registered version 1.4.0 of demand-forecast (stage registered).\n"
    request = api.calls[0].request
    assert request.headers["Authorization"] == "Token s3cret"
    assert json.loads(request.body) == {
        "version": "1.4.0",
        "framework": "lightgbm",
        "git_commit": "3f2a9c1",
        "parameters": {
            "num_leaves": 31,
            "learning_rate": 0.05,
            "layers": [64, 32],
            "objective": "l1",
        },
        "tags": {"team": "forecasting", "champion": False, "note": "null"},
    }


def test_a_parameter_without_equals_sign_is_a_usage_error(api, token, capsys):
    status, _, err = run(capsys, "versions", "register", "uc", "1.0", "--param", "lr")
    assert status == 2
    assert "--param takes key=value, not “lr”" in err
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        [],
        ["datasets", "upload", "uc", "file.csv"],  # --name is required
        ["evaluate", "uc", "1.0", "--dataset", "seven"],
    ],
)
def test_bad_arguments_exit_with_status_2(token, capsys, argv):
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert "usage: quorum" in err


def test_without_a_token_nothing_is_sent_and_the_status_is_2(api, capsys):
    status, _, err = run(capsys, "usecases", "list")
    assert status == 2
    assert "set QUORUM_TOKEN" in err
    assert len(api.calls) == 0


def test_global_options_work_before_and_after_the_command(api, capsys):
    api.get(
        "http://other.test/api/v1/usecases/",
        json={"count": 1, "next": None, "results": [{"slug": "a", "title": "A"}]},
    )
    for argv in (
        ["--url", "http://other.test", "--token", "t", "--json", "usecases", "list"],
        ["usecases", "list", "--url", "http://other.test", "--token", "t", "--json"],
    ):
        status, out, _ = run(capsys, *argv)
        assert status == 0
        assert json.loads(out) == [{"slug": "a", "title": "A"}]
    assert api.calls[0].request.headers["Authorization"] == "Token t"


def test_usecases_list_prints_a_table(api, token, capsys):
    api.get(
        f"{BASE}/api/v1/usecases/",
        json={
            "count": 1,
            "next": None,
            "results": [
                {
                    "slug": "demand-forecast",
                    "title": "Demand forecast",
                    "phase": "pilot",
                    "task_type": "regression",
                    "owner": "olivia",
                }
            ],
        },
    )
    status, out, _ = run(capsys, "usecases", "list")
    assert status == 0
    assert out.splitlines() == [
        "slug             title            phase  task        owner",
        "demand-forecast  Demand forecast  pilot  regression  olivia",
    ]


def test_datasets_upload_prints_the_id_to_use_next(api, token, capsys, tmp_path):
    path = tmp_path / "holdout.csv"
    path.write_text("id,label\nr1,1\n")
    api.post(
        f"{UC}/datasets/",
        status=201,
        json={
            "id": 7,
            "name": "holdout",
            "rows": 1200,
            "rule_violations": [
                {"rule": 1, "description": "age 18..120", "severity": "warning", "violations": 3},
                {"rule": 2, "description": "price > 0", "severity": "error", "violations": 0},
            ],
        },
    )
    status, out, _ = run(
        capsys, "datasets", "upload", "demand-forecast", str(path), "--name", "holdout"
    )
    assert status == 0
    assert out.splitlines() == [
        "Uploaded dataset 7 “holdout” to demand-forecast: 1,200 rows.",
        "  data-quality rule “age 18..120” (warning): 3 rows",
        "Next: quorum predictions upload demand-forecast VERSION FILE --dataset 7",
    ]


def test_predictions_upload_sends_the_dataset_id(api, token, capsys, tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("id,prediction\nr1,1.5\n")
    api.post(
        f"{UC}/versions/1.4.0/predictions/",
        status=201,
        json={"version": "1.4.0", "dataset": 7, "rows": 1, "has_score": True},
    )
    status, out, _ = run(
        capsys, "predictions", "upload", "demand-forecast", "1.4.0", str(path), "--dataset", "7"
    )
    assert status == 0
    assert out == "Uploaded version 1.4.0's predictions for dataset 7: 1 rows with scores.\n"
    assert b'name="dataset"\r\n\r\n7\r\n' in api.calls[0].request.body


def test_an_api_error_exits_1_with_the_detail_and_the_first_rows(api, token, capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id\n")
    body = {
        "detail": "The file has 3 bad rows; nothing was stored.",
        "errors": [
            {"row": 2, "field": "label", "message": "not a number: “abc”"},
            {"row": 5, "field": "id", "message": "duplicate of row 4"},
            {"message": "column price is missing"},
        ],
        "counts": {"label type": 1, "duplicate id": 1},
    }
    api.post(f"{UC}/datasets/", status=400, json=body)
    argv = ["datasets", "upload", "demand-forecast", str(path), "--name", "bad"]
    status, out, err = run(capsys, *argv)
    assert status == 1
    assert out == ""
    assert err.splitlines() == [
        "quorum: The file has 3 bad rows; nothing was stored. (HTTP 400)",
        "  row 2, label: not a number: “abc”",
        "  row 5, id: duplicate of row 4",
        "  column price is missing",
        "  counts: label type: 1, duplicate id: 1",
    ]
    status, out, _ = run(capsys, *argv, "--json")
    assert status == 1 and json.loads(out) == body


def queue_evaluation(api, *polls: dict) -> None:
    api.post(
        f"{UC}/evaluations/",
        status=202,
        json=evaluation_body(status="queued", progress=0, results={}, gates=[]),
        match=[matchers.json_params_matcher({"version": "1.4.0", "dataset": 7})],
    )
    for poll in polls:
        api.get(f"{UC}/evaluations/12/", json=poll)


def test_evaluate_waits_with_a_progress_bar_then_prints_metrics_and_gates(api, token, capsys):
    queue_evaluation(
        api,
        evaluation_body(status="queued", progress=0, results={}, gates=[]),
        evaluation_body(status="running", progress=45, results={}, gates=[]),
        evaluation_body(status="running", progress=45, results={}, gates=[]),
        evaluation_body(),
    )
    argv = ["evaluate", "demand-forecast", "1.4.0", "--dataset", "7", "--poll", "0"]
    status, out, err = run(capsys, *argv)
    assert status == 0  # a failed gate that is only reported does not fail the command
    assert err.splitlines() == [
        "Evaluation 12 of version 1.4.0 on dataset 7 queued.",
        "[--------------------]   0 % queued",
        "[#########-----------]  45 % running",  # once: a log gets a line per change
        "[####################] 100 % succeeded",
    ]
    assert out.splitlines() == [
        "Evaluation 12: version 1.4.0 on “holdout 2026-Q3” (dataset 7): succeeded in 3.2 s "
        "of worker time",
        "",
        "metric  value  95 % interval",
        "mae     1.234  [1.1, 1.4]",
        "wape    0.172  [0.16, 0.19]",
        "",
        "KPI gates",
        "KPI   metric  segment  value  gate            result",
        "MAE   mae              1.234  ≤ 2.5           PASS",
        "WAPE  wape             0.172  ≤ 0.15 (bound)  FAIL (not gating)",
        "Gates: PASS, every gating KPI passed.",
    ]


def test_fail_on_gates_turns_a_failed_gating_kpi_into_status_3(api, token, capsys):
    queue_evaluation(api, evaluation_body(passed_gates=False))
    argv = ["evaluate", "demand-forecast", "1.4.0", "--dataset", "7", "--poll", "0"]
    assert run(capsys, *argv)[0] == 0
    queue_evaluation(api, evaluation_body(passed_gates=False))
    status, out, _ = run(capsys, *argv, "--fail-on-gates")
    assert status == 3
    assert "Gates: FAIL, a gating KPI failed." in out


def test_a_failed_evaluation_exits_3_with_the_servers_error(api, token, capsys):
    queue_evaluation(
        api,
        evaluation_body(status="running", progress=30, results={}, gates=[]),
        evaluation_body(
            status="failed", progress=30, error="Predictions contain NaN.", results={}, gates=[]
        ),
    )
    argv = ["evaluate", "demand-forecast", "1.4.0", "--dataset", "7", "--poll", "0"]
    status, out, err = run(capsys, *argv)
    assert status == 3
    assert "[######--------------]  30 % running" in err
    assert "[######--------------]  30 % failed" in err
    assert out.splitlines() == [
        "Evaluation 12: version 1.4.0 on “holdout 2026-Q3” (dataset 7): failed in 3.2 s of "
        "worker time",
        "Error: Predictions contain NaN.",
    ]


def test_evaluate_json_prints_only_the_final_evaluation_on_stdout(api, token, capsys):
    queue_evaluation(api, evaluation_body())
    argv = ["--json", "evaluate", "demand-forecast", "1.4.0", "--dataset", "7", "--poll", "0"]
    status, out, err = run(capsys, *argv)
    assert status == 0
    assert json.loads(out) == evaluation_body()
    assert "100 % succeeded" in err


def test_quiet_leaves_stderr_empty(api, token, capsys):
    queue_evaluation(api, evaluation_body())
    argv = ["evaluate", "demand-forecast", "1.4.0", "--dataset", "7", "--poll", "0", "-q"]
    status, _, err = run(capsys, *argv)
    assert (status, err) == (0, "")


def test_no_wait_queues_and_returns_at_once(api, token, capsys):
    queue_evaluation(api)
    status, out, _ = run(
        capsys, "evaluate", "demand-forecast", "1.4.0", "--dataset", "7", "--no-wait"
    )
    assert status == 0
    assert out.splitlines() == [
        "Evaluation 12 queued: version 1.4.0 on dataset 7.",
        "Follow it with: quorum evaluations show demand-forecast 12 --wait",
    ]
    assert [call.request.method for call in api.calls] == ["POST"]


def test_giving_up_waiting_exits_4(api, token, capsys):
    queue_evaluation(api, evaluation_body(status="running", progress=10, results={}, gates=[]))
    argv = ["evaluate", "demand-forecast", "1.4.0", "--dataset", "7", "--poll", "5"]
    status, _, err = run(capsys, *argv, "--timeout", "1")
    assert status == 4
    assert "has not finished after 1 s (status running, 10 %); it goes on" in err


def test_evaluations_show_prints_the_results_and_the_status(api, token, capsys):
    api.get(f"{UC}/evaluations/12/", json=evaluation_body())
    status, out, _ = run(capsys, "evaluations", "show", "demand-forecast", "12")
    assert status == 0
    assert "mae     1.234  [1.1, 1.4]" in out
    api.get(
        f"{UC}/evaluations/13/",
        json=evaluation_body(id=13, status="running", progress=60, results={}, gates=[]),
    )
    status, out, _ = run(capsys, "evaluations", "show", "demand-forecast", "13")
    assert status == 0
    assert out.startswith(
        "Evaluation 13: version 1.4.0 on “holdout 2026-Q3” (dataset 7): running, 60 %"
    )


def test_evaluations_show_of_a_failed_one_exits_3(api, token, capsys):
    api.get(f"{UC}/evaluations/12/", json=evaluation_body(status="failed", error="Boom."))
    status, out, _ = run(capsys, "evaluations", "show", "demand-forecast", "12")
    assert status == 3
    assert "Error: Boom." in out


def test_the_comparison_with_production_is_printed(api, token, capsys):
    results = evaluation_body()["results"]
    results["comparison"] = {
        "mae": {"difference": -0.5, "low": -0.6, "high": -0.4, "p_value": 0.001}
    }
    api.get(f"{UC}/evaluations/12/", json=evaluation_body(results=results, champion="1.3.0"))
    _, out, _ = run(capsys, "evaluations", "show", "demand-forecast", "12")
    assert "Against production version 1.3.0\nmetric  difference  95 % interval  p-value\n" in out
    assert "mae     -0.5        [-0.6, -0.4]   0.001" in out


def test_evaluations_list_filters_and_prints_a_table(api, token, capsys):
    api.get(
        f"{UC}/evaluations/",
        match=[matchers.query_param_matcher({"status": "failed"})],
        json={
            "count": 1,
            "next": None,
            "results": [evaluation_body(status="failed", finished_at="2026-11-23T10:00:00Z")],
        },
    )
    status, out, _ = run(capsys, "evaluations", "list", "demand-forecast", "--status", "failed")
    assert status == 0
    assert out.splitlines()[1].split() == [
        "12", "1.4.0", "holdout", "2026-Q3", "failed", "100", "%", "PASS", "2026-11-23T10:00:00",
    ]  # fmt: skip


def test_the_progress_bar_fills_by_twentieths():
    assert cli.progress_bar(0, "queued") == "[--------------------]   0 % queued"
    assert cli.progress_bar(45, "running") == "[#########-----------]  45 % running"
    assert cli.progress_bar(99, "running") == "[###################-]  99 % running"
    assert cli.progress_bar(None, "succeeded") == "[####################] 100 % succeeded"


def test_on_a_terminal_the_progress_bar_redraws_one_line():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    display = cli.ProgressDisplay(terminal)
    display.evaluation({"status": "running", "progress": 5})
    display.evaluation({"status": "running", "progress": 5})
    display.evaluation({"status": "succeeded", "progress": 100})
    display.done()
    assert terminal.getvalue() == (
        "\r[#-------------------]   5 % running\r[####################] 100 % succeeded\n"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-99_900.0, "-99,900"),
        (123_456.7, "123,457"),
        (1.23456, "1.235"),
        (0.172, "0.172"),
        (0.000123456, "0.0001235"),
        (2.5, "2.5"),
        (0.0, "0"),
        (float("nan"), "–"),
        (float("inf"), "–"),
        (7, "7"),
    ],
)
def test_numbers_print_in_plain_notation_never_as_exponents(value, text):
    assert cli.number(value) == text


def test_a_succeeded_evaluation_prints_the_servers_own_texts(api, token, capsys):
    """The server sends its page's texts (`display`): units, currency, the p-value floor."""
    display = {
        "currency": "EUR",
        "metrics": {
            "business_value": {
                "label": "Business value",
                "value": "−99,900 EUR",
                "interval": "−120,000 to −80,100 EUR",
            },
            "wape": {"label": "WAPE", "value": "17.2 %", "interval": "16.0 to 19.0 %"},
        },
        "comparison": {
            "wape": {
                "label": "WAPE",
                "challenger": "17.2 %",
                "champion": "19.0 %",
                "difference": "−1.8 pp",
                "interval": "−2.4 to −1.2 pp",
                "p_value": "< 0.002",
                "verdict": "better",
            }
        },
        "gates": [
            {
                "name": "WAPE",
                "metric": "WAPE",
                "segment": "",
                "value": "17.2 %",
                "rule": "WAPE ≤ 15.0 %",
                "result": "misses target",
            }
        ],
        "business_value": {"total": "−99,900 EUR", "interval": "−120,000 to −80,100 EUR"},
    }
    api.get(f"{UC}/evaluations/12/", json=evaluation_body(display=display, champion="1.3.0"))
    status, out, _ = run(capsys, "evaluations", "show", "demand-forecast", "12")
    assert status == 0
    lines = out.splitlines()
    assert "Business value  −99,900 EUR  −120,000 to −80,100 EUR" in lines
    assert "Business value: −99,900 EUR (−120,000 to −80,100 EUR)" in lines
    assert "Against production version 1.3.0" in lines
    assert any("−1.8 pp" in line and "< 0.002" in line and "better" in line for line in lines)
    assert any(line.startswith("WAPE") and "misses target" in line for line in lines)
    assert "e+0" not in out
