"""The model registry in headless Chromium: a data scientist uploads predictions, starts an
evaluation and watches it finish; a viewer reads a classification evaluation's charts.

Celery is not eager here and no worker runs, so the evaluation task's `delay` is replaced by
a thread of this process that plays the worker: it waits a moment (the page shows the queued
evaluation and polls), then runs the same service a worker runs, against the same database.
Screenshots land in test-results/ (tests/e2e/conftest.py).
"""

import io
import threading
import time

import numpy as np
import pytest
from django.db import connection

from registry import tasks
from registry.models import Evaluation, ModelVersion
from registry.services import evaluations, registering
from tests.e2e.conftest import log_in, shot
from tests.factories import (
    KPIFactory,
    ValueModelFactory,
    binary_evaluation_results,
    finished_evaluation,
)

pytestmark = pytest.mark.e2e

STORES = ("store-01", "store-02", "store-03", "store-04")
WORKER_DELAY_SECONDS = 1.5  # long enough to see the queued page poll


def demand_rows(n: int = 1200, seed: int = 7):
    """(id, store, price, label) of a plausible daily demand per store."""
    rng = np.random.default_rng(seed)
    stores = rng.integers(0, len(STORES), n)
    prices = rng.uniform(1.0, 6.0, n).round(2)
    demand = (40 + 12 * stores - 4 * prices + rng.normal(0, 6, n)).clip(0).round(1)
    return [
        (f"r{i}", STORES[s], p, d)
        for i, (s, p, d) in enumerate(zip(stores, prices, demand, strict=True))
    ]


def dataset_csv(rows) -> bytes:
    lines = ["id,store,price,label,segment"]
    lines += [f"{i},{store},{price},{label},{store}" for i, store, price, label in rows]
    return ("\n".join(lines) + "\n").encode()


def predictions_csv(rows, *, noise: float, bias: float = 0.0, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    lines = ["id,prediction"]
    for i, _, _, label in rows:
        lines.append(f"{i},{max(0.0, label + bias + rng.normal(0, noise)):.2f}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def worker_thread(monkeypatch):
    """Replace the task's `delay` by a thread that runs the evaluation a moment later (not
    the real worker process of tests/conftest.py's `worker`: see the module's docstring)."""
    runs: list[threading.Thread] = []
    failures: list[BaseException] = []

    def work(evaluation_id: int) -> None:
        time.sleep(WORKER_DELAY_SECONDS)
        try:
            evaluations.run_evaluation(evaluation_id, task_id=f"e2e-{evaluation_id}")
        except Exception as error:  # marked failed on the row; the page shows it
            failures.append(error)
        finally:
            connection.close()

    def delay(self, evaluation_id: int) -> None:
        thread = threading.Thread(target=work, args=(evaluation_id,), daemon=True)
        runs.append(thread)
        thread.start()

    monkeypatch.setattr(type(tasks.run_evaluation_task._get_current_object()), "delay", delay)
    yield failures
    for thread in runs:
        thread.join(timeout=60)


def test_a_data_scientist_uploads_predictions_evaluates_and_watches_it_finish(
    live_server, page, personas, use_case, worker_thread, tmp_path
):
    scientist = personas["data_scientist"]
    KPIFactory(use_case=use_case, name="Forecast error", metric="mae", target=4, gate_threshold=6)
    KPIFactory(
        use_case=use_case, name="Forecast bias", metric="bias", target=0.5, gate_threshold=1.5
    )
    ValueModelFactory(use_case=use_case, currency="EUR")
    rows = demand_rows()
    dataset = registering.upload_dataset(
        use_case,
        by=scientist,
        name="holdout 2026-Q3",
        source=io.BytesIO(dataset_csv(rows)),
        filename="holdout.csv",
    )
    champion = registering.register_version(use_case, by=scientist, version="1.3.0")
    registering.upload_predictions(
        champion,
        by=scientist,
        dataset=dataset,
        source=io.BytesIO(predictions_csv(rows, noise=7.5, bias=1.2, seed=2)),
        filename="champion.csv",
    )
    ModelVersion.objects.filter(pk=champion.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    evaluations.start_evaluation(champion, by=scientist, dataset=dataset)  # for the leaderboard
    version = registering.register_version(
        use_case, by=scientist, version="1.4.0", framework="LightGBM 4.5"
    )
    predictions = tmp_path / "predictions-1.4.0.csv"
    predictions.write_bytes(predictions_csv(rows, noise=4.5))

    log_in(page, live_server, scientist.username)
    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    page.select_option("#prediction-form #id_dataset", str(dataset.pk))
    page.set_input_files("#prediction-form #id_file", str(predictions))
    page.click("#prediction-form button[type=submit]")
    page.wait_for_selector(".message:has-text('1,200 predictions on “holdout 2026-Q3” stored.')")
    shot(page, "registry-version-predictions")

    page.click("#prediction-set-table button:has-text('Evaluate')")
    page.wait_for_url(f"{live_server.url}{use_case.get_absolute_url()}evaluations/*/")
    evaluation = Evaluation.objects.get(model_version=version)
    status = page.locator("#evaluation-status")
    assert status.get_attribute("hx-trigger") == "every 1s"  # it polls while unfinished
    assert page.locator("#evaluation-status progress").count() == 1
    shot(page, "registry-evaluation-queued")
    page.evaluate("window.quorumNoReload = true")  # a full page load would forget it

    page.wait_for_selector("#metrics-table", timeout=90_000)
    assert worker_thread == [], worker_thread
    for chart in ("predicted-actual", "residuals", "segments"):
        page.wait_for_selector(f"[data-chart='chart-{chart}'] .main-svg")
    assert page.evaluate("window.quorumNoReload") is True  # htmx swapped the results in
    assert page.locator("#evaluation-status").get_attribute("hx-trigger") is None
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.SUCCEEDED
    assert (
        page.locator("#gates-table").inner_text().count("Pass")
        + page.locator("#gates-table").inner_text().count("Fail")
        == 2
    )
    assert "Compared with production (v1.3.0)" in page.inner_text("#comparison")
    assert page.locator("#segments-table tbody tr").count() == len(STORES)
    page.wait_for_timeout(300)  # plotly's resize after the swap
    shot(page, "registry-evaluation-finished")

    page.click("nav.tabs >> text=Evaluations")
    page.wait_for_selector("#leaderboard table")
    leaderboard = page.inner_text("#leaderboard")
    assert leaderboard.index("1.4.0") < leaderboard.index("1.3.0")  # lower MAE ranks first
    shot(page, "registry-leaderboard")
    for name, url in [
        ("registry-versions", f"/usecases/{use_case.slug}/model-versions/"),
        ("registry-datasets", f"/usecases/{use_case.slug}/datasets/"),
        ("registry-dataset-detail", dataset.get_absolute_url()),
    ]:
        page.goto(f"{live_server.url}{url}")
        if name == "registry-dataset-detail":
            page.wait_for_selector("[data-chart] .main-svg")
        shot(page, name)
    assert page.external_requests == []
    assert page.errors == []


def test_a_viewer_reads_a_classification_evaluation_and_picks_the_segment_metric(
    live_server, page, personas, churn
):
    scientist = personas["data_scientist"]
    champion = registering.register_version(churn, by=scientist, version="1.0.0")
    ModelVersion.objects.filter(pk=champion.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    evaluation = finished_evaluation(
        churn, scientist, binary_evaluation_results(champion=True), champion=champion
    )
    log_in(page, live_server, personas["viewer"].username)
    page.goto(f"{live_server.url}{evaluation.get_absolute_url()}")
    for chart in ("roc", "precision-recall", "calibration", "confusion-matrix"):
        page.wait_for_selector(f"[data-chart='chart-{chart}'] .main-svg")
    page.wait_for_selector("[data-chart='chart-value-by-threshold'] .main-svg")
    assert "would add an estimated" in page.inner_text("#business-value")
    segments = page.locator("[data-chart='chart-segments']")
    segments.locator(".updatemenu-header-group").click()  # plotly's metric menu
    segments.locator(".updatemenu-dropdown-button-group text:has-text('Recall')").click()
    page.wait_for_function(
        "document.querySelector(\"[data-chart='chart-segments']\").data"
        ".some(t => t.type === 'bar' && t.name === 'Recall' && t.visible === true)"
    )
    shot(page, "registry-evaluation-binary")
    # On a narrow screen the segment table scrolls sideways behind a shadow cue, its first
    # column (the segment) staying in place.
    page.set_viewport_size({"width": 600, "height": 900})
    wrap = page.locator(".segments-wrap")
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
    assert "linear-gradient" in wrap.evaluate("w => getComputedStyle(w).backgroundImage")
    first = page.locator("#segments-table tbody tr:first-child th")
    assert first.evaluate("c => getComputedStyle(c).position") == "sticky"
    before = first.bounding_box()["x"]
    wrap.evaluate("w => { w.scrollLeft = 200; }")
    page.wait_for_timeout(100)
    assert first.bounding_box()["x"] == before  # still in view after scrolling
    assert page.errors == []
