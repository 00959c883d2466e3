"""Security headers (issue 10, item 12): a Content-Security-Policy and a Permissions-Policy on
pages and API responses, the looser style and image rules only where plotly, Swagger UI or
Redoc need them, the API docs offline, and a favicon. tests/e2e/test_csp.py loads the pages
in Chromium under this policy."""

import datetime
import gzip

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from portal.headers import permissions_policy
from tests.factories import binary_evaluation_results, finished_evaluation
from usecases.models import UseCase

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: set(values) for name, *values in parts}


def assert_strict_scripts(policy: dict[str, set[str]]) -> None:
    assert policy["script-src"] == {"'self'"}  # no inline script, no eval, no CDN
    assert policy["default-src"] == {"'self'"}
    assert policy["object-src"] == {"'none'"}
    assert policy["frame-ancestors"] == {"'none'"}
    assert policy["base-uri"] == {"'self'"}
    assert policy["form-action"] == {"'self'"}


def test_pages_get_the_strict_policy_and_a_permissions_policy(client, personas, use_case):
    client.force_login(personas["viewer"])
    for url in ("/accounts/login/", use_case.get_absolute_url(), reverse("portfolio:roadmap")):
        response = client.get(url)
        assert response.status_code == 200, url
        policy = directives(response)
        assert_strict_scripts(policy)
        assert policy["style-src"] == {"'self'"}, url  # no inline style off chart pages
        assert policy["img-src"] == {"'self'"}, url
        permissions = response["Permissions-Policy"]
        for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
            assert feature in permissions
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"


def test_api_responses_and_errors_carry_the_headers_too(api, use_case, client):
    for response in (
        api("viewer").get("/api/v1/usecases/"),
        api("anonymous").get("/api/v1/usecases/"),
        client.get("/api/v1/no-such-thing/"),
    ):
        assert response.status_code in (200, 401, 404)
        assert_strict_scripts(directives(response))
        assert "camera=()" in response["Permissions-Policy"]


def test_chart_pages_allow_plotly_inline_styles_and_data_images_but_never_eval(
    client, personas, churn
):
    evaluation = finished_evaluation(churn, personas["owner"], binary_evaluation_results())
    dates = {"start_date": datetime.date(2026, 1, 5), "target_date": datetime.date(2026, 9, 30)}
    UseCase.objects.filter(pk=churn.pk).update(**dates)  # so the timeline draws
    client.force_login(personas["owner"])
    for url in (
        reverse("portfolio:roadmap_timeline"),
        evaluation.get_absolute_url(),
        evaluation.dataset.get_absolute_url(),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "vendor/plotly.min.js" in response.content.decode(), url
        policy = directives(response)
        assert_strict_scripts(policy)  # plotly.js 4 draws without 'unsafe-eval'
        assert policy["style-src"] == {"'self'", "'unsafe-inline'"}, url
        assert policy["img-src"] == {"'self'", "data:"}, url


def test_the_htmx_config_keeps_htmx_from_eval_and_inline_styles(client, personas):
    client.force_login(personas["viewer"])
    html = client.get(reverse("home")).content.decode()
    head = html[: html.index("</head>")]
    meta = head.index('<meta name="htmx-config"')
    assert meta < head.index("htmx-2.min.js")  # read when htmx loads
    config = head[meta : head.index(">", meta)]
    assert '"includeIndicatorStyles": false' in config
    assert '"allowEval": false' in config
    assert '"style"' not in config  # attributesToSettle: htmx never writes a style attribute
    assert "<script>" not in html and "<style" not in html and " style=" not in html


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_are_public_offline_and_under_the_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = directives(response)
    assert_strict_scripts(policy)
    html = response.content.decode()
    assert "<script>" not in html  # Swagger UI's initialiser comes from a URL
    assert "https://" not in html and "http://" not in html


def test_swagger_ui_never_asks_the_online_validator(client):
    script = client.get("/api/docs/?script=").content.decode()
    assert '"validatorUrl": null' in script


def test_redoc_loads_its_bundle_from_us_without_the_cdn_logo(client):
    html = client.get("/api/redoc/").content.decode()
    assert f'<script src="{reverse("api:redoc_js")}">' in html
    response = client.get(reverse("api:redoc_js"), HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Content-Encoding"] == "gzip"
    bundle = gzip.decompress(response.content)
    assert b"Redoc" in bundle and len(bundle) > 500_000
    assert b"cdn.redoc.ly" not in bundle


def test_the_favicon_is_served_at_the_root_and_linked_from_every_page(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    html = client.get("/accounts/login/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in html
    assert finders.find("favicon.svg")  # collected with the other static files


def test_permissions_policy_is_written_as_the_header_grammar_says():
    assert permissions_policy({"camera": [], "fullscreen": ["self"]}) == (
        "camera=(), fullscreen=(self)"
    )
