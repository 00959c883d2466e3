"""Every request's files stop at a limit (issue 10, review finding 1).

Before: only the two browser upload views were capped. CsrfViewMiddleware parses a POST's
multipart body with Django's own handlers before LoginRequiredMiddleware or any view, so a
20 MB file sent to the login page, the admin's or a use case's page (signed in or not) was
written to a temporary file whole, and the page then answered as if nothing happened.
"""

import io

import pytest
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.handlers.wsgi import LimitedStream
from django.http.multipartparser import MultiPartParser
from django.test import Client
from django.test.client import BOUNDARY, RequestFactory, encode_multipart
from django.urls import reverse

from portal.uploads import FORM_OVERHEAD_BYTES, CappedUploadHandler
from registry.models import EvaluationDataset
from tests.conftest import login
from tests.factories import csv_upload, dataset_csv, register_version

UC = "/api/v1/usecases/demand-forecast"
SMALL = 4_000  # MAX_FORM_UPLOAD_BYTES in these tests
FILE = b"x" * 9_000  # over SMALL, well within what its body's length may hold
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"  # for a body encoded here


def pages(use_case) -> dict[str, tuple[str, str]]:
    """Pages that take no file: (who sends the body, URL)."""
    detail = reverse("usecases:detail", args=[use_case.slug])
    return {
        "login": ("anonymous", reverse("login")),
        "admin login": ("anonymous", "/admin/login/"),
        "use case, anonymous": ("anonymous", detail),
        "use case, signed in": ("owner", detail),
        "new rule, signed in": ("owner", reverse("usecases:rule_create", args=[use_case.slug])),
    }


def csrf_client(personas, who: str) -> tuple[Client, str]:
    """A client that checks CSRF tokens, with a valid token: CsrfViewMiddleware parses the
    body of its POSTs, as it does for any browser."""
    client = login(Client(enforce_csrf_checks=True), personas, who)
    client.get(reverse("login"))  # sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


@pytest.fixture
def small_limit(settings, written):
    settings.MAX_FORM_UPLOAD_BYTES = SMALL
    return written


@pytest.mark.parametrize(
    "page",
    ["login", "admin login", "use case, anonymous", "use case, signed in", "new rule, signed in"],
)
def test_a_file_sent_to_a_page_that_takes_none_stops_at_the_small_limit_with_the_413_page(
    personas, use_case, small_limit, tmp_path, page
):
    who, url = pages(use_case)[page]
    client, token = csrf_client(personas, who)

    response = client.post(url, {"csrfmiddlewaretoken": token, "file": csv_upload(FILE)})

    assert response.status_code == 413
    html = response.content.decode()
    assert "This file is too large" in html and "4,000 bytes" in html
    assert max(small_limit, default=0) <= SMALL  # nothing past the limit reached the disk
    assert not list(tmp_path.iterdir())  # and what did is deleted


@pytest.mark.parametrize("page", ["login", "admin login", "use case, anonymous"])
def test_a_20_mb_file_sent_to_a_page_that_takes_none_is_refused_unread(
    personas, use_case, monkeypatch, page
):
    parsed = []
    monkeypatch.setattr(MultiPartParser, "parse", lambda self: parsed.append(1))
    who, url = pages(use_case)[page]
    client, token = csrf_client(personas, who)

    response = client.post(
        url, {"csrfmiddlewaretoken": token, "file": csv_upload(b"x" * 20 * 1024**2)}
    )

    assert response.status_code == 413
    assert "Files can be up to 2.5 MB" in response.content.decode()
    assert not parsed


def test_the_login_page_still_takes_a_multipart_form_without_a_file(personas, use_case):
    client, token = csrf_client(personas, "anonymous")
    personas["owner"].set_password("a long passphrase")
    personas["owner"].save()
    fields = {"csrfmiddlewaretoken": token, "username": "olivia", "password": "a long passphrase"}

    response = client.post(reverse("login"), encode_multipart(BOUNDARY, fields), MULTIPART)

    assert response.status_code == 302, response.content.decode()[:500]


def test_an_upload_page_takes_a_file_past_the_small_limit(client, personas, use_case, small_limit):
    login(client, personas, "data_scientist")

    response = client.post(
        reverse("registry:datasets", args=[use_case.slug]),
        {"name": "holdout", "file": csv_upload(dataset_csv(400))},
    )

    assert response.status_code == 302, response.content.decode()[:500]
    assert small_limit == [len(dataset_csv(400))] and len(dataset_csv(400)) > SMALL


# --- The API ------------------------------------------------------------------------------


def test_a_20_mb_file_sent_to_an_api_endpoint_that_takes_none_is_a_json_413_unread(
    api, personas, use_case, monkeypatch
):
    parsed = []
    monkeypatch.setattr(MultiPartParser, "parse", lambda self: parsed.append(1))
    register_version(use_case, personas["data_scientist"])

    response = api("owner").patch(
        f"{UC}/versions/1.4.0/",
        {"description": "x", "file": csv_upload(b"x" * 20 * 1024**2)},
        format="multipart",
    )

    assert response.status_code == 413, response.content
    assert response.json() == {
        "detail": "The file is larger than 2.5 MB; split it or sample it.",
        "code": "too_large",
    }
    assert not parsed


def test_the_api_upload_takes_a_file_past_the_small_limit(api, use_case, small_limit):
    response = api("data_scientist").post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(dataset_csv(400))},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert EvaluationDataset.objects.get().row_count == 400


def test_an_api_upload_signed_in_by_session_stops_at_the_limit_too(
    personas, use_case, settings, written, tmp_path
):
    # A session's API request is parsed for its CSRF check, during authentication.
    settings.MAX_UPLOAD_BYTES = SMALL
    client, token = csrf_client(personas, "data_scientist")

    response = client.post(
        f"{UC}/datasets/",
        {"name": "holdout", "file": csv_upload(FILE)},
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 413, response.content
    assert response.json()["code"] == "too_large"
    assert max(written, default=0) <= SMALL
    assert not list(tmp_path.iterdir())
    assert not EvaluationDataset.objects.exists()


# --- The handler --------------------------------------------------------------------------


def test_a_body_stopped_at_the_limit_is_read_to_its_end_so_the_client_sees_the_413():
    # Review finding 10: StopUpload(connection_reset=True) left the rest of the body unread,
    # and a client still sending it could see a reset connection instead of the 413 page.
    file = b"x" * 300_000  # several of the parser's 64 KB chunks, within the body's limit
    body = encode_multipart(BOUNDARY, {"file": csv_upload(file), "name": "after the file"})
    request = RequestFactory().post("/", body, content_type=MULTIPART)
    stream = LimitedStream(io.BytesIO(body), len(body))
    handlers = [CappedUploadHandler(request, max_bytes=SMALL), TemporaryFileUploadHandler(request)]

    post, files = MultiPartParser(request.META, stream, handlers).parse()

    assert request.upload_refused
    assert not files
    assert stream.read() == b""  # the rest was read (and dropped)


def test_a_body_too_long_for_the_limit_is_not_read_at_all():
    body = encode_multipart(BOUNDARY, {"file": csv_upload(b"x" * (SMALL + FORM_OVERHEAD_BYTES))})
    request = RequestFactory().post("/", body, content_type=MULTIPART)
    stream = LimitedStream(io.BytesIO(body), len(body))

    post, files = MultiPartParser(
        request.META, stream, [CappedUploadHandler(request, max_bytes=SMALL)]
    ).parse()

    assert request.upload_refused
    assert (dict(post), dict(files)) == ({}, {})
    assert len(stream.read()) == len(body)  # untouched
