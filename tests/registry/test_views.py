"""Registry pages: versions, datasets, predictions and evaluations as users see them
(the persona × URL matrix is in test_registry_views_permissions.py)."""

import io
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.template.defaultfilters import floatformat
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from portal.formatting import format_money, format_p_value
from registry import selectors
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet, StoredTable
from registry.services import evaluations, registering
from tests.conftest import login
from tests.factories import (
    STORES,
    KPIFactory,
    UseCaseFactory,
    ValueModelFactory,
    binary_evaluation_results,
    csv_upload,
    finished_evaluation,
    holdout_csv,
    holdout_label,
    holdout_predictions_csv,
    upload_holdout,
    upload_holdout_predictions,
)
from usecases.catalogue import format_difference, format_metric
from usecases.models import AuditEvent
from usecases.services import definitions, usecases

HTMX = {"HX-Request": "true"}


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def run(version, dataset, by) -> Evaluation:
    """Queue and run an evaluation as the worker would (no Celery here)."""
    evaluation = evaluations.start_evaluation(version, by=by, dataset=dataset)
    evaluations.run_evaluation(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.SUCCEEDED, evaluation.error
    return evaluation


@pytest.fixture
def scientist(personas):
    return personas["data_scientist"]


@pytest.fixture
def dataset(use_case, scientist):
    return upload_holdout(use_case, scientist)


@pytest.fixture
def version(use_case, scientist):
    return registering.register_version(
        use_case,
        by=scientist,
        version="1.4.0",
        framework="LightGBM 4.5",
        description="Adds promotions.",
        parameters={"learning_rate": 0.05, "max_depth": 6},
        tags={"team": "forecasting"},
    )


@pytest.fixture
def predictions(version, dataset, scientist):
    return upload_holdout_predictions(version, dataset, scientist)


@pytest.fixture
def evaluation(predictions, version, dataset, scientist, use_case):
    KPIFactory(use_case=use_case, name="Forecast error", metric="mae", target=1, gate_threshold=2)
    ValueModelFactory(use_case=use_case)
    return run(version, dataset, scientist)


# Versions


def test_the_versions_tab_lists_versions_with_stage_and_latest_evaluation(
    client, personas, use_case, evaluation
):
    html = page(
        login(client, personas, "viewer").get(reverse("registry:versions", args=[use_case.slug]))
    )
    assert 'aria-current="page">Versions</a>' in html
    row = html.split('id="version-table"')[1]
    assert "1.4.0" in row and "Registered" in row and "LightGBM 4.5" in row and "Dana" in row
    assert "Succeeded" in row and "Gates passed" in row and "on holdout" in row
    assert "Register a version" not in html  # a viewer may not


def test_the_versions_tab_explains_itself_when_empty(client, personas, use_case):
    url = reverse("registry:versions", args=[use_case.slug])
    html = page(login(client, personas, "data_scientist").get(url))
    assert "No model versions yet" in html
    assert 'id="version-form"' in html


def test_a_data_scientist_registers_a_version_with_its_metadata(client, personas, use_case):
    login(client, personas, "data_scientist")
    response = client.post(
        reverse("registry:versions", args=[use_case.slug]),
        {
            "version": "2.0.0-rc.1",
            "framework": "scikit-learn 1.9",
            "artifact_uri": "s3://models/demand/2.0.0/",
            "git_commit": "4f2a9c1",
            "mlflow_run_id": "a1b2c3",
            "training_data_ref": "sales 2024-2026",
            "parameters": '{"alpha": 0.1, "layers": [64, 32]}',
            "tags": '{"team": "forecasting", "champion": false}',
        },
    )
    version = ModelVersion.objects.get(use_case=use_case)
    assert response.status_code == 302
    assert (
        response.url
        == version.get_absolute_url()
        == (f"/usecases/{use_case.slug}/model-versions/2.0.0-rc.1/")
    )
    assert version.parameters == {"alpha": 0.1, "layers": [64, 32]}
    assert version.tags == {"team": "forecasting", "champion": False}
    assert version.registered_by == personas["data_scientist"]
    html = page(client.get(version.get_absolute_url()))
    assert "s3://models/demand/2.0.0/" in html and "[64, 32]" in html and "forecasting" in html
    assert "Version 2.0.0-rc.1 is registered." in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"version": "1.4.0"}, "version", "already registered for this use case"),
        ({"version": "2.0", "parameters": "{alpha: 1}"}, "parameters", "not valid JSON"),
        ({"version": "2.0", "parameters": "[1, 2]"}, "parameters", "Give a JSON object"),
        ({"version": "2.0", "tags": '{"owner": {"name": "x"}}'}, "tags", "simple values"),
        ({"version": "a/b"}, "version", "Use letters, digits"),
        ({"version": ""}, "version", "This field is required"),
    ],
)
def test_registration_errors_are_shown_beside_the_field(
    client, personas, use_case, version, data, field, message
):
    login(client, personas, "data_scientist")
    html = page(client.post(reverse("registry:versions", args=[use_case.slug]), data))
    error = html.split(f'id="id_{field}_error"')[1].split("</ul>")[0]
    assert message in error
    assert "The version is not registered" in html
    assert ModelVersion.objects.filter(use_case=use_case).count() == 1


def test_the_version_page_shows_its_predictions_evaluations_and_upload_form(
    client, personas, use_case, evaluation, version
):
    html = page(login(client, personas, "data_scientist").get(version.get_absolute_url()))
    table = html.split('id="prediction-set-table"')[1].split("</table>")[0]
    assert "holdout" in table and ">60<" in table and "Succeeded" in table
    assert "Run again" in table
    assert 'id="prediction-form"' in html and 'enctype="multipart/form-data"' in html
    assert "learning_rate" in html and "0.05" in html


def test_a_viewer_sees_the_version_page_without_its_buttons(client, personas, version, predictions):
    html = page(login(client, personas, "viewer").get(version.get_absolute_url()))
    assert "holdout" in html
    assert "Evaluate" not in html and 'id="prediction-form"' not in html


def test_uploading_predictions_stores_them_for_the_chosen_dataset(
    client, personas, use_case, version, dataset
):
    login(client, personas, "data_scientist")
    url = reverse("registry:prediction_upload", args=[use_case.slug, version.version])
    response = client.post(
        url, {"dataset": dataset.pk, "file": csv_upload(holdout_predictions_csv())}
    )
    assert response.status_code == 302 and response.url == version.get_absolute_url()
    prediction_set = PredictionSet.objects.get(model_version=version)
    assert (prediction_set.dataset, prediction_set.row_count) == (dataset, 60)
    assert "60 predictions on “holdout” stored." in page(client.get(response.url))


def test_predictions_missing_ids_are_reported_and_not_stored(
    client, personas, use_case, version, dataset
):
    login(client, personas, "data_scientist")
    url = reverse("registry:prediction_upload", args=[use_case.slug, version.version])
    content = holdout_predictions_csv(skip=(7, 9))
    html = page(client.post(url, {"dataset": dataset.pk, "file": csv_upload(content)}))
    report = html.split('id="rejection-report"')[1].split("</section>")[0]
    assert "The file was not stored" in report
    assert "r7" in report and "r9" in report
    assert not PredictionSet.objects.exists()


def test_the_version_page_asks_for_a_dataset_before_predictions(client, personas, version):
    html = page(login(client, personas, "data_scientist").get(version.get_absolute_url()))
    assert "first <a" in html and "upload an evaluation dataset" in html
    assert 'id="prediction-form"' not in html


def test_an_unknown_version_is_not_found(client, personas, use_case, version):
    url = reverse("registry:version_detail", args=[use_case.slug, "9.9.9"])
    assert login(client, personas, "owner").get(url).status_code == 404


# Datasets


def test_a_data_scientist_uploads_a_csv_dataset(client, personas, use_case):
    login(client, personas, "data_scientist")
    response = client.post(
        reverse("registry:datasets", args=[use_case.slug]),
        {
            "name": "holdout 2026-Q3",
            "description": "Last quarter",
            "file": csv_upload(holdout_csv()),
        },
    )
    dataset = EvaluationDataset.objects.get(use_case=use_case)
    assert response.status_code == 302 and response.url == dataset.get_absolute_url()
    assert (dataset.name, dataset.row_count, dataset.has_segment) == ("holdout 2026-Q3", 60, True)
    assert dataset.columns == ["id", "store", "price", "label", "segment"]
    html = page(client.get(response.url))
    assert "“holdout 2026-Q3” is stored: 60 rows." in html
    assert 'data-chart="label-chart-data"' in html and "vendor/plotly.min.js" in html
    figure = json.loads(
        html.split('id="label-chart-data" type="application/json">')[1].split("<")[0]
    )
    assert figure["data"][0]["type"] == "bar" and sum(figure["data"][0]["y"]) == 60
    assert "<code>segment</code>" in html


def test_a_bad_csv_is_reported_row_by_row_and_nothing_is_stored(client, personas, use_case):
    login(client, personas, "data_scientist")
    content = holdout_csv(bad_price_rows=(2, 5))
    html = page(
        client.post(
            reverse("registry:datasets", args=[use_case.slug]),
            {"name": "holdout", "file": csv_upload(content)},
        )
    )
    report = html.split('id="rejection-report"')[1].split("</section>")[0]
    assert "The file was not stored" in report and "2 bad rows" in report
    rows = report.split("<tbody>")[-1]
    assert '<td class="num">2</td>' in rows and '<td class="num">5</td>' in rows
    assert "<code>price</code>" in rows and "cheap" in rows
    counts = report.split("rejection-counts")[1].split("</table>")[0]
    assert "price: not a number" in counts and '<td class="num">2</td>' in counts
    assert not EvaluationDataset.objects.exists() and not StoredTable.objects.exists()
    assert 'value="holdout"' in html  # the form keeps what was typed


def test_a_file_with_wrong_columns_is_refused_with_a_message(client, personas, use_case):
    login(client, personas, "data_scientist")
    content = holdout_csv(header="id,shop,price,label,segment")
    html = page(
        client.post(
            reverse("registry:datasets", args=[use_case.slug]),
            {"name": "holdout", "file": csv_upload(content)},
        )
    )
    assert "“store”" in html and "“shop”" in html
    assert not EvaluationDataset.objects.exists()


def test_a_dataset_name_is_unique_within_a_use_case(client, personas, use_case, dataset):
    login(client, personas, "data_scientist")
    html = page(
        client.post(
            reverse("registry:datasets", args=[use_case.slug]),
            {"name": "holdout", "file": csv_upload(holdout_csv())},
        )
    )
    assert "already has a dataset named “holdout”" in html
    assert EvaluationDataset.objects.count() == 1


def test_the_dataset_list_shows_counts_and_an_empty_state(client, personas, use_case):
    login(client, personas, "viewer")
    url = reverse("registry:datasets", args=[use_case.slug])
    html = page(client.get(url))
    assert "No evaluation datasets yet" in html and 'id="dataset-form"' not in html
    upload_holdout(use_case, personas["data_scientist"])
    row = page(client.get(url)).split('id="dataset-table"')[1]
    assert "holdout" in row and ">60<" in row and ">5<" in row


def test_the_dataset_page_shows_rule_warnings(client, personas, use_case):
    from tests.factories import RuleFactory

    RuleFactory(use_case=use_case, field="price", params={"min": 0, "max": 3}, severity="warning")
    dataset = upload_holdout(use_case, personas["data_scientist"])
    html = page(login(client, personas, "viewer").get(dataset.get_absolute_url()))
    table = html.split('id="violation-table"')[1].split("</table>")[0]
    assert "price between 0 and 3" in table and "Warning" in table
    violations = dataset.rule_violations[0]["violations"]
    assert violations > 0 and f'<td class="num">{violations}</td>' in table


def test_the_dataset_page_counts_rules_by_severity_and_says_why_one_was_not_checked(
    client, personas, use_case
):
    from tests.factories import RuleFactory

    RuleFactory(use_case=use_case, field="price", params={"min": 0, "max": 3}, severity="warning")
    RuleFactory(use_case=use_case, field="store", kind="not_null", params={}, severity="error")
    dataset = upload_holdout(use_case, personas["data_scientist"])
    # A rule stored before its reason was recorded: "not checked", never a made-up reason.
    stale = [
        *dataset.rule_violations,
        {"summary": "age at most 120", "field": "age", "severity": "warning", "checked": False},
    ]
    EvaluationDataset.objects.filter(pk=dataset.pk).update(rule_violations=stale)
    html = page(login(client, personas, "viewer").get(dataset.get_absolute_url()))
    summary = html.split('id="severity-summary"')[1].split("</ul>")[0]
    warnings = dataset.rule_violations[0]["violations"]
    assert "Error</span>\n              1 rule: 0 rows violating" in summary
    assert f"2 rules: {warnings} rows violating, 1 not checked" in summary
    row = html.split("age at most 120")[1].split("</tr>")[0]
    assert "not checked</td>" in row and "no column" not in row


def test_a_rule_on_a_column_the_dataset_lacks_says_no_column(client, personas, use_case):
    """The dataset has no score column: its rule is listed, not checked, with that reason."""
    from tests.factories import RuleFactory

    RuleFactory(use_case=use_case, field="score", kind="not_null", params={}, severity="error")
    dataset = upload_holdout(use_case, personas["data_scientist"])
    html = page(login(client, personas, "viewer").get(dataset.get_absolute_url()))
    row = html.split("score never empty")[1].split("</tr>")[0]
    assert "not checked: no column “score”</td>" in row


def test_a_classification_dataset_draws_the_count_of_each_class(client, personas):
    use_case = UseCaseFactory(owner=personas["owner"], task_type="binary", feature_schema=[])
    content = b"id,label\n" + b"".join(f"r{i},{int(i % 3 == 0)}\n".encode() for i in range(30))
    dataset = registering.upload_dataset(
        use_case, by=personas["owner"], name="d", source=io.BytesIO(content), filename="d.csv"
    )
    html = page(login(client, personas, "owner").get(dataset.get_absolute_url()))
    figure = json.loads(
        html.split('id="label-chart-data" type="application/json">')[1].split("<")[0]
    )
    assert figure["data"][0]["x"] == ["0", "1"] and figure["data"][0]["y"] == [20, 10]


def test_deleting_a_dataset_asks_first_then_removes_its_predictions(
    client, personas, use_case, dataset, predictions
):
    login(client, personas, "data_scientist")
    url = reverse("registry:dataset_delete", args=[use_case.slug, dataset.pk])
    html = page(client.get(url))
    assert "Delete the dataset “holdout”?" in html and "1 prediction set " in html
    response = client.post(url)
    assert response.status_code == 302
    assert response.url == reverse("registry:datasets", args=[use_case.slug])
    assert not EvaluationDataset.objects.exists() and not PredictionSet.objects.exists()
    assert not StoredTable.objects.exists()
    assert AuditEvent.objects.filter(verb="dataset.deleted").count() == 1


# Evaluations


def test_evaluating_from_the_version_page_queues_it_and_opens_its_page(
    client, personas, use_case, version, dataset, predictions, django_capture_on_commit_callbacks
):
    login(client, personas, "data_scientist")
    url = reverse("registry:evaluation_start", args=[use_case.slug, version.version])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, {"dataset": dataset.pk})
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302 and response.url == evaluation.get_absolute_url()
    assert evaluation.status == Evaluation.Status.QUEUED
    assert len(callbacks) == 1  # the Celery task, sent once the row is committed
    html = page(client.get(response.url))
    assert 'hx-trigger="every 1s"' in html and "<progress" in html and "Queued" in html


def test_an_evaluation_without_predictions_is_refused_on_the_version_page(
    client, personas, use_case, version, dataset
):
    login(client, personas, "data_scientist")
    url = reverse("registry:evaluation_start", args=[use_case.slug, version.version])
    html = page(client.post(url, {"dataset": dataset.pk}))
    assert "Upload version 1.4.0&#x27;s predictions for “holdout” first." in html
    assert not Evaluation.objects.exists()


def test_the_polled_status_is_a_fragment_that_stops_polling_once_finished(
    client, personas, use_case, version, dataset, predictions
):
    evaluation = evaluations.start_evaluation(
        version, by=personas["data_scientist"], dataset=dataset
    )
    login(client, personas, "viewer")
    fragment = page(client.get(evaluation.get_absolute_url(), headers=HTMX))
    assert fragment.lstrip().startswith('<div id="evaluation-status"')
    assert "<html" not in fragment and "<nav" not in fragment
    assert 'hx-trigger="every 1s"' in fragment and 'value="0"' in fragment
    Evaluation.objects.filter(pk=evaluation.pk).update(status="running", progress=40)
    fragment = page(client.get(evaluation.get_absolute_url(), headers=HTMX))
    assert 'value="40"' in fragment and "40 %" in fragment and "Running" in fragment
    Evaluation.objects.filter(pk=evaluation.pk).update(status="queued", progress=0)
    evaluations.run_evaluation(evaluation.pk)
    fragment = page(client.get(evaluation.get_absolute_url(), headers=HTMX))
    assert "hx-trigger" not in fragment
    assert "Succeeded" in fragment and 'id="metrics-table"' in fragment
    assert 'data-chart="chart-predicted-actual"' in fragment


def test_a_failed_evaluation_shows_its_error(
    client, personas, use_case, version, dataset, predictions
):
    evaluation = evaluations.start_evaluation(
        version, by=personas["data_scientist"], dataset=dataset
    )
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status="failed", error="The labels are all empty."
    )
    html = page(login(client, personas, "data_scientist").get(evaluation.get_absolute_url()))
    assert "Failed" in html and "The labels are all empty." in html
    # No progress polling (the notification bell's slow poll is the page's own).
    assert 'hx-trigger="every 1s"' not in html and "Run again" in html


def test_a_succeeded_evaluation_shows_metrics_gates_value_segments_and_charts(
    client, personas, evaluation
):
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    metrics = html.split('id="metrics-table"')[1].split("</table>")[0]
    for name in ("MAE", "RMSE", "MAPE", "WAPE", "Bias"):
        assert f">{name}<" in metrics
    mae = evaluation.results["overall"]["mae"]
    assert f"{mae['value']:.4g}" in metrics
    mape = evaluation.results["overall"]["mape"]["value"]
    assert f"{mape * 100:.1f} %" in metrics.split(">MAPE<")[1]  # a fraction, shown in %
    gates = html.split('id="gates-table"')[1].split("</table>")[0]
    assert "Forecast error" in gates and "Pass" in gates
    assert 'id="business-value"' in html and "EUR" in html
    segments = html.split('id="segments-table"')[1].split("</table>")[0]
    assert all(store in segments for store in STORES)
    for chart in ("predicted-actual", "residuals", "segments"):
        assert f'data-chart="chart-{chart}"' in html
        assert f'id="chart-{chart}" type="application/json"' in html
    assert "vendor/plotly.min.js" in html and "Run again" not in html  # a viewer
    assert "<script>" not in html


def test_running_again_creates_a_new_evaluation_and_a_second_press_is_refused(
    client, personas, use_case, evaluation
):
    login(client, personas, "data_scientist")
    url = reverse("registry:evaluation_rerun", args=[use_case.slug, evaluation.pk])
    response = client.post(url)
    rerun = Evaluation.objects.current().get()
    assert rerun.pk != evaluation.pk and rerun.status == Evaluation.Status.QUEUED
    assert response.status_code == 302 and response.url == rerun.get_absolute_url()
    response = client.post(url)  # while the new one is queued: refused, and said so
    html = page(client.get(response.url))
    assert "already queued or running" in html
    assert Evaluation.objects.count() == 2


def test_the_leaderboard_ranks_versions_per_dataset_by_the_gating_kpi(
    client, personas, use_case, evaluation, version, dataset, scientist
):
    better = registering.register_version(use_case, by=scientist, version="1.5.0")
    upload_holdout_predictions(better, dataset, scientist, error=0.5)
    run(better, dataset, scientist)
    worse = registering.register_version(use_case, by=scientist, version="1.3.0")
    upload_holdout_predictions(worse, dataset, scientist, error=4.0)
    run(worse, dataset, scientist)
    html = page(
        login(client, personas, "viewer").get(reverse("registry:evaluations", args=[use_case.slug]))
    )
    board = html.split('id="leaderboard"')[1].split("</section>")[0]
    assert "Ranked by <strong>MAE</strong>" in board and "“Forecast error”" in board
    assert board.index("1.5.0") < board.index("1.4.0") < board.index("1.3.0")
    assert "1 / 1 passed" in board and "0 / 1 passed" in board


def test_without_kpis_the_leaderboard_ranks_by_the_task_types_usual_metric(
    client, personas, use_case, predictions, version, dataset, scientist
):
    run(version, dataset, scientist)
    html = page(
        login(client, personas, "viewer").get(reverse("registry:evaluations", args=[use_case.slug]))
    )
    assert "Ranked by <strong>MAE</strong>" in html and "no KPI gates promotion" in html


def test_the_evaluations_tab_explains_itself_when_empty(client, personas, use_case):
    html = page(
        login(client, personas, "viewer").get(reverse("registry:evaluations", args=[use_case.slug]))
    )
    assert "No finished evaluation yet" in html and "No evaluations yet" in html


# The evaluation page from results that follow docs/evaluation-results.md: a binary evaluation
# computed by the metrics engine (tests/factories.py), a hand-built multiclass one, null
# metrics, gates that fail or were not measured, a champion comparison. The page must show
# the stored figures, formatted as everywhere else.


def estimate(value, spread: float = 0.02) -> dict:
    if value is None:
        return {"value": None, "low": None, "high": None}
    return {"value": value, "low": value - spread, "high": value + spread}


def multiclass_results() -> dict:
    metrics = {"accuracy": 0.81, "precision": 0.78, "recall": 0.76, "f1": 0.77, "log_loss": None}
    return {
        "task_type": "multiclass",
        "rows": 900,
        "overall": {k: estimate(v) for k, v in metrics.items()},
        "segments": {},
        "business_value": None,
        "confusion_matrix": {
            "labels": ["bronze", "silver", "gold"],
            "matrix": [[280, 15, 5], [30, 240, 30], [10, 40, 250]],
        },
        "comparison": None,
        "charts": {},
        "method": {},
    }


def figure(html: str, chart_id: str) -> dict:
    return json.loads(
        html.split(f'id="{chart_id}" type="application/json">')[1].split("</script>")[0]
    )


def interval(metric: str, entry: dict, currency: str = "") -> str:
    """An estimate's 95 % interval as the metrics table shows it."""
    low, high = (
        format_metric(metric, entry[end], currency, like=entry["value"]) for end in ("low", "high")
    )
    return f"{low} – {high}"


def test_a_binary_evaluation_draws_roc_precision_recall_calibration_and_confusion_matrix(
    client, personas, churn
):
    results = binary_evaluation_results()
    evaluation = finished_evaluation(churn, personas["data_scientist"], results)
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    for chart in (
        "roc",
        "precision-recall",
        "calibration",
        "confusion-matrix",
        "value-by-threshold",
        "segments",
    ):
        assert f'data-chart="chart-{chart}"' in html
    assert 'data-chart="chart-predicted-actual"' not in html  # regression only
    confusion = figure(html, "chart-confusion-matrix")["data"][0]
    assert confusion["type"] == "heatmap"
    assert confusion["z"] == results["confusion_matrix"]["matrix"]
    assert "True positives" in str(confusion["text"])
    roc_auc = results["overall"]["roc_auc"]
    roc = figure(html, "chart-roc")["data"][0]
    assert roc["x"] == results["charts"]["roc"]["fpr"]
    assert f"AUC {format_metric('roc_auc', roc_auc['value'])}" in roc["name"]
    segments = figure(html, "chart-segments")
    bars = [trace for trace in segments["data"] if trace["type"] == "bar"]
    shown = [trace for trace in bars if trace.get("visible") is not False]
    assert [trace["name"] for trace in shown] == ["ROC AUC"]  # the first gating KPI's metric
    assert shown[0]["x"] == ["business", "retail"] == sorted(results["segments"])
    assert "error_y" in shown[0]
    metrics = html.split('id="metrics-table"')[1].split("</table>")[0]
    row = metrics.split(">ROC AUC<")[1].split("</tr>")[0]
    assert format_metric("roc_auc", roc_auc["value"]) in row
    assert interval("roc_auc", roc_auc) in row


def test_the_business_value_shows_the_total_and_the_best_threshold(client, personas, churn):
    results = binary_evaluation_results()
    business = results["business_value"]
    total, per_row, best = business["total"], business["per_row"], business["best_total"]
    assert best > total["value"]  # the data leaves money on the table at threshold 0.5
    evaluation = finished_evaluation(churn, personas["data_scientist"], results)
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    value = html.split('id="business-value"')[1].split("</section>")[0]
    assert format_money(total["value"], "EUR") in value
    assert format_money(per_row["value"], "EUR") in value
    assert interval("business_value", total, "EUR") in value
    assert interval("business_value", per_row, "EUR") in value
    assert "Best threshold" in value and format_money(best, "EUR") in value
    assert floatformat(business["best_threshold"], "-3") in value
    gain = format_money(best - total["value"], "EUR")
    assert f"would add an estimated <strong>{gain}</strong>" in value
    curve = figure(html, "chart-value-by-threshold")["data"]
    assert curve[0]["x"] == results["charts"]["value_by_threshold"]["threshold"]
    assert [trace["name"] for trace in curve[1:]] == [
        "Threshold used: 0.50",
        f"Best threshold: {business['best_threshold']:.2f}",
    ]


def test_undefined_metrics_show_a_dash_and_unmeasured_gates_say_why(client, personas, churn):
    results = binary_evaluation_results(probabilities=False)
    assert results["overall"]["log_loss"]["value"] is None  # scores that are not probabilities
    roc_auc = results["overall"]["roc_auc"]["value"]
    business_precision = results["segments"]["business"]["metrics"]["precision"]
    # the data passes the ROC AUC gate (≥ 0.85) and fails the business precision gate: the
    # lower end of its interval misses 0.7
    assert roc_auc >= 0.85 and business_precision["low"] < 0.7
    evaluation = finished_evaluation(churn, personas["data_scientist"], results)
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    metrics = html.split('id="metrics-table"')[1].split("</table>")[0]
    log_loss = metrics.split(">Log loss<")[1].split("</tr>")[0]
    assert "—" in log_loss and "None" not in metrics
    gates = html.split('id="gates-table"')[1].split("</table>")[0]
    calibration = gates.split("Calibration")[1].split("</tr>")[0]
    # not gating, so it blocks nothing; undefined, so it is neither a pass nor a fail
    assert "Incomplete" in calibration and "not measured on this data" in calibration
    assert "Fail" not in calibration and "gate-incomplete" in calibration
    assert "informational" in calibration
    ranking = gates.split("Ranking quality")[1].split("</tr>")[0]
    assert "Pass" in ranking and "ROC AUC ≥ 0.850" in ranking
    assert format_metric("roc_auc", roc_auc) in ranking
    business = gates.split("Precision on business clients")[1].split("</tr>")[0]
    assert "Failed" in business and "gate-fail" in business and "segment business" in business
    assert "worse end of the 95 % interval" in business
    assert interval("precision", business_precision) in business
    assert "1 of 2 fails" in html and "Promotion is blocked" in html


def test_the_champion_comparison_shows_difference_interval_p_value_and_verdict(
    client, personas, churn
):
    results = binary_evaluation_results(probabilities=False, champion=True)
    roc_auc, precision = results["comparison"]["roc_auc"], results["comparison"]["precision"]
    # the champion ranks clearly worse and flags about as precisely
    assert roc_auc["low"] > 0
    assert precision["low"] < 0 < precision["high"] and precision["p_value"] >= 0.05
    scientist = personas["data_scientist"]
    champion = registering.register_version(churn, by=scientist, version="1.0.0")
    ModelVersion.objects.filter(pk=champion.pk).update(stage="production")
    evaluation = finished_evaluation(churn, scientist, results, champion=champion)
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    table = html.split('id="comparison-table"')[1].split("</table>")[0]
    assert "Compared with production (v1.0.0)" in html
    for metric, label, verdict in (
        ("roc_auc", "ROC AUC", "Better"),
        ("precision", "Precision", "No clear difference"),
    ):
        entry = results["comparison"][metric]
        row = table.split(f">{label}<")[1].split("</tr>")[0]
        difference = entry["difference"]
        low, high = (
            format_difference(metric, entry[end], like=difference) for end in ("low", "high")
        )
        assert format_metric(metric, entry["champion"]) in row
        assert format_difference(metric, difference) in row and f"{low} to {high}" in row
        floor = 2 / (results["method"]["resamples"] + 1)
        assert escape(format_p_value(entry["p_value"], floor=floor)) in row and verdict in row
    assert "—" in table.split(">Log loss<")[1].split("</tr>")[0]
    # ROC AUC clearly better: its p-value is the bootstrap's floor, which it cannot go under.
    assert roc_auc["p_value"] == pytest.approx(floor)
    assert "&lt; 0.002" in table.split(">ROC AUC<")[1].split("</tr>")[0]


def test_a_multiclass_evaluation_draws_its_confusion_matrix_without_business_value(
    client, personas
):
    use_case = UseCaseFactory(owner=personas["owner"], task_type="multiclass", feature_schema=[])
    evaluation = finished_evaluation(use_case, personas["owner"], multiclass_results())
    html = page(login(client, personas, "owner").get(evaluation.get_absolute_url()))
    assert 'data-chart="chart-confusion-matrix"' in html and 'data-chart="chart-roc"' not in html
    assert figure(html, "chart-confusion-matrix")["data"][0]["x"] == ["bronze", "silver", "gold"]
    assert ">F1 (macro)<" in html and 'id="business-value"' not in html
    assert 'id="segments-table"' not in html
    assert "No KPI gates promotion" in html


def test_an_evaluation_with_empty_results_still_shows_its_page(client, personas, churn):
    evaluation = finished_evaluation(churn, personas["data_scientist"], {})
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    assert "No metrics were stored for this evaluation" in html
    assert "Succeeded" in html and "The use case had no KPIs when this evaluation ran" in html


def test_the_figures_leave_out_charts_whose_data_is_missing():
    from registry import charts

    results = binary_evaluation_results()
    results["charts"] = {"roc": None, "pr": {"recall": [0, 1], "precision": [1]}}
    results["confusion_matrix"] = None
    results["segments"] = {"a": {"rows": 3, "metrics": {"roc_auc": None}}}
    figures = charts.evaluation_figures("binary", results)
    assert figures["performance"] == [] and figures["value"] is None
    assert figures["segments"]["id"] == "chart-segments"
    assert charts.evaluation_figures("regression", {}) == {
        "performance": [],
        "value": None,
        "segments": None,
    }


# Use case form: the decision threshold of binary classification


def test_a_binary_use_case_edits_its_decision_threshold(client, personas):
    use_case = UseCaseFactory(owner=personas["owner"], task_type="binary", feature_schema=[])
    login(client, personas, "owner")
    url = reverse("usecases:edit", args=[use_case.slug])
    form = page(client.get(url))
    assert 'data-task-types="binary"' in form and 'value="0.5"' in form
    data = {
        "title": use_case.title,
        "task_type": "binary",
        "priority": "medium",
        "risk_tier": "low",
        "feature_schema": "[]",
        "owner": "olivia",
    }
    html = page(client.post(url, data | {"decision_threshold": "1.5"}))
    assert "less than or equal to 1" in html
    assert client.post(url, data | {"decision_threshold": "0.35"}).status_code == 302
    use_case.refresh_from_db()
    assert use_case.decision_threshold == 0.35
    assert "Decision threshold" in page(client.get(use_case.get_absolute_url()))


def test_a_regression_use_case_ignores_the_threshold_input(client, personas, use_case):
    login(client, personas, "owner")
    data = {
        "title": use_case.title,
        "task_type": "regression",
        "priority": "medium",
        "risk_tier": "low",
        "feature_schema": "[]",
        "owner": "olivia",
        "decision_threshold": "7",
    }
    response = client.post(reverse("usecases:edit", args=[use_case.slug]), data)
    assert response.status_code == 302
    use_case.refresh_from_db()
    assert use_case.decision_threshold == 0.5


# Query counts: 3 or 30 rows cost the same


def queries(client, url: str, **kwargs) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, **kwargs)
    assert response.status_code == 200
    return len(context)


def add_versions(use_case, dataset, by, n: int) -> None:
    """Versions with predictions on `dataset` and a finished evaluation (rows, not runs)."""
    for _ in range(n):
        number = ModelVersion.objects.filter(use_case=use_case).count()
        version = registering.register_version(use_case, by=by, version=f"0.{number}")
        upload_holdout_predictions(version, dataset, by)
        Evaluation.objects.create(
            use_case=use_case,
            model_version=version,
            dataset=dataset,
            requested_by=by,
            status=Evaluation.Status.SUCCEEDED,
            results={"overall": {"mae": {"value": number, "low": 0, "high": number + 1}}},
            gates=[{"name": "MAE", "is_gating": True, "passed": number % 2 == 0}],
            passed_gates=number % 2 == 0,
        )


def test_registry_pages_cost_the_same_queries_for_3_or_30_versions(
    client, personas, use_case, dataset, scientist
):
    login(client, personas, "viewer")
    urls = [
        reverse("registry:versions", args=[use_case.slug]),
        reverse("registry:evaluations", args=[use_case.slug]),
        reverse("registry:datasets", args=[use_case.slug]),
        dataset.get_absolute_url(),
    ]
    add_versions(use_case, dataset, scientist, 3)
    few = [queries(client, url) for url in urls]
    add_versions(use_case, dataset, scientist, 27)
    assert [queries(client, url) for url in urls] == few


def test_the_version_page_costs_the_same_queries_for_3_or_30_datasets(
    client, personas, use_case, version, scientist
):
    login(client, personas, "data_scientist")

    def add(n: int) -> None:
        for _ in range(n):
            dataset = upload_holdout(
                use_case, scientist, f"d{EvaluationDataset.objects.count()}", 5
            )
            upload_holdout_predictions(version, dataset, scientist, rows=5)
            evaluations.start_evaluation(version, by=scientist, dataset=dataset)

    add(3)
    few = queries(client, version.get_absolute_url())
    add(27)
    assert queries(client, version.get_absolute_url()) == few


def test_the_evaluation_page_costs_the_same_queries_whatever_the_segments(
    client, personas, use_case, scientist, evaluation
):
    login(client, personas, "viewer")
    few = queries(client, evaluation.get_absolute_url())
    few_htmx = queries(client, evaluation.get_absolute_url(), headers=HTMX)
    many = registering.register_version(use_case, by=scientist, version="9.0")
    lines = ["id,store,price,label,segment"] + [
        f"r{i},S01,1.5,{holdout_label(i)},store-{i % 30}" for i in range(1, 121)
    ]
    dataset = registering.upload_dataset(
        use_case,
        by=scientist,
        name="30 stores",
        source=io.BytesIO("\n".join(lines).encode()),
        filename="d.csv",
    )
    registering.upload_predictions(
        many,
        by=scientist,
        dataset=dataset,
        source=io.BytesIO(holdout_predictions_csv(120)),
        filename="p.csv",
    )
    other = run(many, dataset, scientist)
    assert len(other.results["segments"]) == 30
    assert queries(client, other.get_absolute_url()) == few
    assert queries(client, other.get_absolute_url(), headers=HTMX) == few_htmx


# Gates in three states, definitions changed since (issue 11, items 7 and 8)


def gate_row(html: str, name: str) -> str:
    return html.split('id="gates-table"')[1].split(name)[1].split("</tr>")[0]


def test_an_informational_kpi_that_misses_its_target_is_neutral_not_red(client, personas, churn):
    KPI = churn.kpis.model
    KPI.objects.filter(use_case=churn, name="Calibration").update(
        target=0.00005, gate_threshold=0.0001
    )
    results = binary_evaluation_results()
    evaluation = finished_evaluation(churn, personas["data_scientist"], results)
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    calibration = gate_row(html, "Calibration")
    assert "Misses target" in calibration and "gate-neutral" in calibration
    assert "does not block" in calibration and "gate-fail" not in calibration


def test_a_chart_writes_a_metric_as_the_tables_do(client, personas, churn):
    """One formatter (issue 11, item 12): the ROC chart's legend reads the AUC exactly as the
    metrics table and the gates table print it."""
    results = binary_evaluation_results()
    evaluation = finished_evaluation(churn, personas["data_scientist"], results)
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    shown = format_metric("roc_auc", results["overall"]["roc_auc"]["value"])
    metrics = html.split('id="metrics-table"')[1].split("</table>")[0]
    assert shown in metrics.split(">ROC AUC<")[1].split("</tr>")[0]
    assert shown in gate_row(html, "Ranking quality")
    roc = json.loads(html.split('id="chart-roc" type="application/json">')[1].split("</script>")[0])
    assert f"This version (AUC {shown})" in [trace.get("name") for trace in roc["data"]]


def test_a_gating_kpi_that_cannot_be_measured_is_incomplete_and_blocks(client, personas, churn):
    """Log loss is undefined for scores that are not probabilities: as a gating KPI it is
    Incomplete (never Passed), and the evaluation's headline says promotion is blocked."""
    KPI = churn.kpis.model
    KPI.objects.filter(use_case=churn, name="Calibration").update(is_gating=True)
    KPI.objects.filter(use_case=churn, name="Precision on business clients").update(
        gate_threshold=0.0
    )
    results = binary_evaluation_results(probabilities=False)
    evaluation = finished_evaluation(churn, personas["data_scientist"], results)
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    calibration = gate_row(html, "Calibration")
    assert "gate-incomplete" in calibration and "not measured on this data" in calibration
    assert "Passed" not in calibration and "informational" not in calibration
    assert "1 gating KPI not measurable on this data: promotion is blocked" in html
    assert "Propose it for promotion" not in html and "Can be proposed" not in html


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("kpi", "the KPIs"),
        ("new kpi", "the KPIs"),
        ("value model", "the value model"),
        ("threshold", "the decision threshold"),
    ],
)
def test_an_evaluation_whose_definitions_changed_says_so_and_offers_no_promotion(
    client, personas, churn, change, words
):
    evaluation = finished_evaluation(churn, personas["data_scientist"], binary_evaluation_results())
    browser = login(client, personas, "data_scientist")
    html = page(browser.get(evaluation.get_absolute_url()))
    assert 'id="changed-notice"' not in html and "Out of date" not in html
    if change == "kpi":
        kpi = churn.kpis.get(name="Ranking quality")
        definitions.update_kpi(kpi, by=personas["owner"], target=0.97)
    elif change == "new kpi":
        definitions.create_kpi(
            churn,
            by=personas["owner"],
            name="Recall",
            metric="recall",
            target=0.5,
            gate_threshold=0.4,
        )
    elif change == "value model":
        definitions.save_value_model(churn, by=personas["owner"], cost_false_positive=Decimal(7))
    else:
        usecases.update_use_case(churn, by=personas["owner"], decision_threshold=0.4)
    assert selectors.definitions_changed(Evaluation.objects.get(pk=evaluation.pk)) == [words]
    html = page(browser.get(evaluation.get_absolute_url()))
    assert 'id="changed-notice"' in html and words in html
    assert "Out of date" in html and "Propose it for promotion" not in html
    assert "this one is kept, marked superseded" in html


def test_binary_predictions_whose_columns_disagree_say_how_many_and_which_is_used(
    client, api, personas, churn
):
    """Threshold 0.3: a 0 at score 0.4 and a 1 at score 0.2 disagree; the score is used."""
    churn.decision_threshold = 0.3
    churn.save()
    by = personas["data_scientist"]
    labels = b"id,label\n" + b"".join(f"r{i},{i % 2}\n".encode() for i in range(10))
    dataset = registering.upload_dataset(
        churn, by=by, name="holdout", source=io.BytesIO(labels), filename="d.csv"
    )
    version = registering.register_version(churn, by=by, version="2.0.0")
    rows = [(1, 0.9), (0, 0.4), (1, 0.2)] + [(0, 0.1)] * 7
    content = "id,prediction,score\n" + "".join(f"r{i},{p},{s}\n" for i, (p, s) in enumerate(rows))
    login(client, personas, "data_scientist")
    url = reverse("registry:prediction_upload", args=[churn.slug, version.version])
    response = client.post(url, {"dataset": dataset.pk, "file": csv_upload(content.encode())})
    assert response.status_code == 302
    html = page(client.get(response.url))
    assert "2 rows of 10 have a 0/1 prediction that is not what their score gives" in html
    assert "decision threshold (0.3" in html and "the prediction column is not used" in html
    assert "2 rows where the 0/1 prediction is not what the score gives" in html
    assert PredictionSet.objects.get(model_version=version).disagreeing_rows == 2
    listed = api("viewer").get(f"/api/v1/usecases/{churn.slug}/versions/2.0.0/predictions/")
    assert listed.json()["results"][0]["disagreeing_rows"] == 2


def test_running_again_is_confirmed_with_what_it_does(client, personas, use_case, evaluation):
    login(client, personas, "data_scientist")
    url = reverse("registry:evaluation_rerun", args=[use_case.slug, evaluation.pk])
    assert f'href="{url}"' in page(client.get(evaluation.get_absolute_url()))
    confirm = page(client.get(url))
    assert "again?" in confirm and "A new evaluation starts on a worker" in confirm
    assert f"This one (evaluation {evaluation.pk}) is kept" in confirm
    assert "marked superseded" in confirm and "Keep this one" in confirm
    assert Evaluation.objects.count() == 1  # asking starts nothing
    login(client, personas, "viewer")
    assert client.get(url).status_code == 403


# Business value by segment, sticky segment tables, the best threshold's caveat (item 11)


def test_a_segments_business_value_is_drawn_against_its_own_reference_not_the_total():
    from registry import charts

    results = binary_evaluation_results()
    figure = charts.evaluation_figures("binary", results, segment_metric="business_value")
    traces = figure["segments"]["figure"]["data"]
    reference = next(t for t in traces if str(t.get("name", "")).startswith("At the average"))
    total, rows = results["overall"]["business_value"]["value"], results["rows"]
    segments = results["segments"]
    expected = [total / rows * segments[name]["rows"] for name in sorted(segments)]
    assert reference["y"] == pytest.approx(expected)
    assert sum(reference["y"]) == pytest.approx(total)  # the shares add up to the total
    assert reference["mode"] == "markers" and reference["visible"] is True
    bars = traces[traces.index(reference) - 1]  # each metric: its bars, then its reference
    assert bars["type"] == "bar" and bars["visible"] is True


def test_the_best_threshold_carries_its_caveat_and_segment_tables_keep_their_column(
    client, personas, churn
):
    evaluation = finished_evaluation(churn, personas["data_scientist"], binary_evaluation_results())
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    assert "would add an estimated" in html
    caveat = html.split('id="best-threshold-caveat"')[1].split("</span>")[0]
    assert "Measured on the same rows it was chosen on" in caveat
    assert 'class="table-wrap segments-wrap" tabindex="0" role="region"' in html


def test_the_confusion_matrix_names_the_classes(client, personas, churn):
    """Issue 11, item 2: "will churn" and "stays", not a bare 1 and 0."""
    churn.positive_label, churn.negative_label = "will churn", "stays"
    churn.save()
    evaluation = finished_evaluation(churn, personas["data_scientist"], binary_evaluation_results())
    html = page(login(client, personas, "viewer").get(evaluation.get_absolute_url()))
    matrix = figure(html, "chart-confusion-matrix")["data"][0]
    assert matrix["x"] == matrix["y"] == ["stays", "will churn"]
    assert "of actual will churn" in json.dumps(matrix["text"])


def test_the_leaderboard_compares_versions_on_the_same_gating_kpis(
    client, personas, use_case, evaluation, version, dataset, scientist
):
    """Issue 11, item 7: an evaluation measured before a gating KPI was added shows "Other
    KPIs: run again", not a gate count beside versions measured on the current set."""
    later = registering.register_version(use_case, by=scientist, version="1.5.0")
    upload_holdout_predictions(later, dataset, scientist, error=0.5)
    definitions.create_kpi(
        use_case, by=personas["owner"], name="WAPE", metric="wape", target=0.1, gate_threshold=0.5
    )
    run(later, dataset, scientist)  # measured on both gating KPIs
    html = page(
        login(client, personas, "viewer").get(reverse("registry:evaluations", args=[use_case.slug]))
    )
    board = html.split('id="leaderboard"')[1].split("</section>")[0]
    rows = [row.split("</tr>")[0] for row in board.split("<tr")[1:]]
    newer = next(row for row in rows if ">1.5.0<" in row)
    older = next(row for row in rows if ">1.4.0<" in row)
    assert "/ 2 passed" in newer and "Other KPIs" not in newer
    assert "Other KPIs: run again" in older and "passed" not in older
