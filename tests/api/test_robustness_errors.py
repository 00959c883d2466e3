"""An unexpected error under /api/ (issue 10, item 5) answers the one JSON error shape with
code server_error and a request id, which is also in the X-Request-ID header and in the log
line; pages elsewhere keep the HTML error page, with the header too. The request id comes
from outside only through a trusted proxy. Requests Django itself refuses:
test_refused_requests.py."""

import logging
import re

import pytest
from django.http import HttpResponse
from django.test import Client

from portal.middleware import RequestIdFilter
from tests.conftest import login
from usecases.services import definitions

UC = "/api/v1/usecases/demand-forecast"
KPI_BODY = {"name": "RMSE", "metric": "rmse", "target": 5, "gate_threshold": 6}


@pytest.fixture
def broken_service(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(definitions, "create_kpi", explode)


@pytest.fixture
def client_500(personas):
    client = Client(raise_request_exception=False)
    return login(client, personas, "owner")


@pytest.fixture
def log_lines(caplog, settings):
    """The log lines as the console handler writes them: the production format and filter,
    on pytest's own capture of every record."""
    caplog.handler.setFormatter(
        logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    )
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.WARNING)
    return lambda: caplog.text.splitlines()


def test_an_exception_in_an_api_view_is_a_json_500_with_a_request_id(
    client_500, use_case, broken_service, caplog
):
    # Before: the HTML "Server error" page, no request id.
    with caplog.at_level(logging.ERROR):
        response = client_500.post(f"{UC}/kpis/", KPI_BODY, content_type="application/json")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "server_error"
    assert "the database fell over" not in body["detail"]  # no internals to the client
    request_id = body["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response["X-Request-ID"] == request_id
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1  # one line, with the traceback
    assert "the database fell over" in str(failures[0].exc_info[1])


def test_a_500_is_logged_under_the_request_id_of_the_response(
    client_500, use_case, broken_service, log_lines
):
    # Before: the traceback under the id, then Django's "Internal Server Error" line under
    # [-], written after the middleware had cleared the id.
    response = client_500.post(f"{UC}/kpis/", KPI_BODY, content_type="application/json")
    request_id = response["X-Request-ID"]
    logged = [line for line in log_lines() if " django.request [" in line]
    assert len(logged) == 1
    assert logged[0].endswith(
        f" ERROR django.request [{request_id}] Internal Server Error: {UC}/kpis/"
    )
    assert "RuntimeError: the database fell over" in "\n".join(log_lines())


def test_a_4xx_is_logged_under_the_request_id_of_the_response(client_500, use_case, log_lines):
    # Before: "WARNING django.request [-] Not Found: …".
    response = client_500.get(f"{UC}/kpis/999999/")
    assert response.status_code == 404
    logged = [line for line in log_lines() if " django.request [" in line]
    assert [line.split(" ", 2)[2] for line in logged] == [
        f"WARNING django.request [{response['X-Request-ID']}] Not Found: {UC}/kpis/999999/"
    ]


def test_a_sane_request_id_from_a_trusted_proxy_is_kept(
    client_500, use_case, broken_service, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    response = client_500.post(
        f"{UC}/kpis/",
        KPI_BODY,
        content_type="application/json",
        HTTP_X_REQUEST_ID="edge-7f3a.42",
    )
    assert response.json()["request_id"] == "edge-7f3a.42"
    assert response["X-Request-ID"] == "edge-7f3a.42"


def test_a_request_id_from_a_client_without_a_trusted_proxy_is_replaced(
    client_500, use_case, broken_service, settings
):
    # Before: kept, so a client could give its requests another request's id in the log.
    settings.TRUSTED_PROXY_COUNT = 0
    response = client_500.post(
        f"{UC}/kpis/",
        KPI_BODY,
        content_type="application/json",
        HTTP_X_REQUEST_ID="edge-7f3a.42",
    )
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert response.json()["request_id"] == response["X-Request-ID"]


@pytest.mark.parametrize("given", ["", "x" * 200, "a b", "a\r\nInjected: 1", "é"])
def test_an_odd_request_id_from_outside_is_replaced(client_500, use_case, given, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    response = client_500.get(f"{UC}/kpis/", HTTP_X_REQUEST_ID=given)
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_every_response_carries_a_request_id(client, personas, use_case):
    login(client, personas, "owner")
    first, second = client.get("/usecases/"), client.get(f"{UC}/kpis/")
    assert first["X-Request-ID"] != second["X-Request-ID"]


class _ExplodingMiddleware:
    """Raises for /api/ and page paths alike, outside any DRF view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.endswith("/explode/"):
            raise RuntimeError("middleware fell over")
        return self.get_response(request)


@pytest.fixture
def exploding_middleware(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._ExplodingMiddleware"]


def test_an_exception_outside_drf_under_api_is_a_json_500(client_500, exploding_middleware):
    # Before: the HTML "Server error" page.
    response = client_500.get("/api/v1/explode/")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error"
    assert body["request_id"] == response["X-Request-ID"]


def test_an_exception_on_a_page_keeps_the_html_error_page(client_500, exploding_middleware):
    response = client_500.get("/usecases/explode/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_a_drf_error_keeps_its_status_and_shape(client_500, use_case):
    response = client_500.get(f"{UC}/kpis/999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "X-Request-ID" in response


def test_a_response_is_not_changed_by_the_middleware(rf):
    from portal.middleware import RequestIdMiddleware

    middleware = RequestIdMiddleware(lambda request: HttpResponse("ok"))
    response = middleware(rf.get("/"))
    assert response.content == b"ok"
    assert response["X-Request-ID"]
