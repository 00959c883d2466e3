"""The MLflow page in headless Chromium: the owner links the use case to a real `mlflow
server` (a refused address first, shown on the form), a data scientist imports, and the
version page shows the run. Screenshots in test-results/ (mlflow-link.png, mlflow-page.png,
mlflow-version.png)."""

import pytest

from mlflow_sync import tasks
from mlflow_sync.services import scheduling
from tests.e2e.conftest import log_in, shot
from tests.mlflow_sync.test_integration import register_model

pytestmark = [pytest.mark.e2e, pytest.mark.mlflow, pytest.mark.usefixtures("allow_loopback")]


def test_the_owner_links_a_data_scientist_imports_and_the_version_shows_its_run(
    live_server, page, personas, use_case, mlflow_server, monkeypatch
):
    monkeypatch.setattr(tasks.import_link, "delay", scheduling.import_now)  # the worker's part
    name = register_model(mlflow_server, versions=2)
    url = f"{live_server.url}/usecases/{use_case.slug}/mlflow/"

    log_in(page, live_server, personas["owner"].username)
    page.goto(f"{live_server.url}/usecases/{use_case.slug}/model-versions/")
    page.click("#mlflow-page")
    page.wait_for_url(url)
    page.fill("#id_tracking_uri", "http://10.1.2.3:5000")
    page.fill("#id_model_name", name)
    page.click("#link-form button[type=submit]")
    assert "MLFLOW_ALLOWED_HOSTS" in page.locator("#link-form").inner_text()
    shot(page, "mlflow-link")
    page.fill("#id_tracking_uri", mlflow_server.uri)
    page.click("#link-form button[type=submit]")
    page.wait_for_selector("#mlflow-link")
    assert "MLflow answered" in page.content()

    page.context.clear_cookies()
    log_in(page, live_server, personas["data_scientist"].username)
    page.goto(url)
    assert page.locator("#link-form").count() == 0  # only the owner and admins change it
    page.click("#import-now")
    page.wait_for_selector("#last-import")
    assert "2 new, 0 changed" in page.locator("#last-import").inner_text()
    shot(page, "mlflow-page")

    page.goto(f"{live_server.url}/usecases/{use_case.slug}/model-versions/2/")
    panel = page.locator("#mlflow-panel")
    assert "val_auc" in panel.inner_text() and "max_depth" in panel.inner_text()
    assert page.locator("#mlflow-run-link").get_attribute("href").startswith(mlflow_server.uri)
    shot(page, "mlflow-version")
    assert page.errors == [] and page.external_requests == []
