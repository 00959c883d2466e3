"""Requests Django itself refuses keep their status under /api/ (issue 10, item 5, review):
too many files or form fields, a body too large, a malformed request, and a 404 or 403
raised outside DRF. Each is the API's one error shape with a `code`, from the one mapping in
portal/api.py (`exception_handler`), not the JSON 500 meant for the unexpected."""

import logging

import pytest
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
)
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.test import Client
from django.urls import path

from portal import urls as portal_urls
from registry.models import EvaluationDataset
from tests.conftest import login

UC = "/api/v1/usecases/demand-forecast"

RAISED = {
    "not-found": Http404("No such thing."),
    "denied": PermissionDenied(),
    "bad": BadRequest("Odd header."),
    "suspicious": DisallowedHost("Invalid HTTP_HOST header: 'evil'."),
    "too-large": RequestDataTooBig("Too big."),
    "unexpected": RuntimeError("boom"),
}


@login_not_required
def raising_view(request, kind):
    """A view under /api/ outside DRF, as the docs pages and the catch-all 404 are."""
    raise RAISED[kind]


urlpatterns = [path("api/raise/<str:kind>/", raising_view), *portal_urls.urlpatterns]
handler500 = portal_urls.handler500


@pytest.fixture
def owner(personas):
    return login(Client(raise_request_exception=False), personas, "owner")


def test_twelve_files_are_a_400_not_a_500(owner, use_case, settings, caplog):
    # Before: 500 {"code": "server_error"} (TooManyFilesSent reached the middleware).
    files = {f"file{i}": SimpleUploadedFile(f"f{i}.csv", b"a\n1\n") for i in range(12)}
    with caplog.at_level(logging.WARNING):
        response = owner.post(f"{UC}/datasets/", files)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files.",
        "code": "too_many_files",
    }
    assert not EvaluationDataset.objects.exists()
    # Logged as Django logs a suspicious request, not as a server error.
    assert [r.name for r in caplog.records if r.levelno >= logging.ERROR] == [
        "django.security.TooManyFilesSent"
    ]


def test_1200_form_fields_are_a_400_not_a_500(owner, use_case, settings):
    # Before: 500 (TooManyFieldsSent).
    body = "&".join(f"field{i}=x" for i in range(1200))
    response = owner.post(f"{UC}/datasets/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400, response.content
    assert response.json() == {
        "detail": f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields.",
        "code": "too_many_fields",
    }


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("not-found", 404, "not_found"),
        ("denied", 403, "permission_denied"),
        ("bad", 400, "bad_request"),
        ("suspicious", 400, "bad_request"),
        ("too-large", 413, "too_large"),
        ("unexpected", 500, "server_error"),
    ],
)
def test_an_error_outside_drf_under_api_keeps_its_status(client, db, settings, kind, status, code):
    # Before: 500 {"code": "server_error"} for every one.
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get(f"/api/raise/{kind}/")
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    assert "evil" not in body["detail"] and "boom" not in body["detail"]
    assert response["X-Request-ID"]
