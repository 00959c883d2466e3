"""An unexpected error under /api/ (issue 10, item 5) answers the one JSON error shape with
code server_error and a request id, which is also in the X-Request-ID header and in the log
line; pages elsewhere keep the HTML error page, with the header too."""

import logging
import re

import pytest
from django.http import HttpResponse
from django.test import Client

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
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert any(r.exc_info and "the database fell over" in str(r.exc_info[1]) for r in logged)
    assert request_id in caplog.text or any(request_id in r.getMessage() for r in logged)


def test_the_log_format_shows_the_request_id(client_500, use_case, broken_service, settings):
    formatter = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    record.request_id = "abc123"
    assert "abc123" in formatter.format(record)


def test_a_sane_request_id_from_the_proxy_is_kept(client_500, use_case, broken_service):
    response = client_500.post(
        f"{UC}/kpis/",
        KPI_BODY,
        content_type="application/json",
        HTTP_X_REQUEST_ID="edge-7f3a.42",
    )
    assert response.json()["request_id"] == "edge-7f3a.42"
    assert response["X-Request-ID"] == "edge-7f3a.42"


@pytest.mark.parametrize("given", ["", "x" * 200, "a b", "a\r\nInjected: 1", "é"])
def test_an_odd_request_id_from_outside_is_replaced(client_500, use_case, given):
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
