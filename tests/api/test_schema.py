"""The OpenAPI schema generates cleanly and documents every endpoint; Swagger UI and Redoc are
served from our own static files."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

V1 = "/api/v1/usecases"
PATHS = {
    f"{V1}/": {"get", "post"},
    f"{V1}/{{slug}}/": {"get", "patch", "delete"},
    f"{V1}/{{slug}}/phase": {"post"},
    f"{V1}/{{use_case_slug}}/kpis/": {"get", "post"},
    # Monitoring: daily figures, drift, alerts and the job's runs (monitoring/api/views.py).
    f"{V1}/{{use_case_slug}}/monitoring/days/": {"get"},
    f"{V1}/{{use_case_slug}}/monitoring/drift/": {"get"},
    f"{V1}/{{use_case_slug}}/monitoring/alerts/": {"get"},
    f"{V1}/{{use_case_slug}}/monitoring/alerts/{{id}}/": {"get"},
    f"{V1}/{{use_case_slug}}/monitoring/alerts/{{id}}/acknowledge": {"post"},
    f"{V1}/{{use_case_slug}}/monitoring/alerts/{{id}}/resolve": {"post"},
    f"{V1}/{{use_case_slug}}/monitoring/runs/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/monitoring/policy": {"get", "put", "patch"},
    f"{V1}/{{use_case_slug}}/monitoring/weeks/": {"get"},
    f"{V1}/{{use_case_slug}}/monitoring/comparison/": {"get"},
    # Comment threads and the activity feed (collaboration/api/views.py).
    f"{V1}/{{use_case_slug}}/comments/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/comments/{{id}}/": {"get", "patch", "delete"},
    f"{V1}/{{use_case_slug}}/activity/": {"get"},
    f"{V1}/{{use_case_slug}}/kpis/{{id}}/": {"get", "patch", "delete"},
    f"{V1}/{{use_case_slug}}/value-model": {"get", "put"},
    f"{V1}/{{use_case_slug}}/data-quality-rules/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/data-quality-rules/{{id}}/": {"get", "patch", "delete"},
    f"{V1}/{{use_case_slug}}/members/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/members/{{id}}/": {"get", "patch", "delete"},
    f"{V1}/{{use_case_slug}}/audit-events/": {"get"},
    f"{V1}/{{use_case_slug}}/versions/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/versions/{{version}}/": {"get", "patch"},
    f"{V1}/{{use_case_slug}}/versions/{{version}}/predictions/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/datasets/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/datasets/{{id}}/": {"get", "delete"},
    f"{V1}/{{use_case_slug}}/evaluations/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/evaluations/{{id}}/": {"get"},
    # Bulk prediction logging and outcomes (reviews/api/ingest.py).
    f"{V1}/{{use_case_slug}}/predictions": {"get", "post"},
    f"{V1}/{{use_case_slug}}/outcomes": {"post"},
    # Review campaigns, claims and reviews (reviews/api/campaigns.py).
    f"{V1}/{{use_case_slug}}/review-campaigns/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/": {"get"},
    f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/close": {"post"},
    f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/claim": {"post"},
    f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/release": {"post"},
    f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/reviews": {"post"},
    f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/results": {"get"},
    f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/corrections": {"get"},
    f"{V1}/{{use_case_slug}}/datasets/{{id}}/reference": {"post"},
    # Promotions, rollback and the deployment (promotions/api/).
    f"{V1}/{{use_case_slug}}/promotions/": {"get", "post"},
    f"{V1}/{{use_case_slug}}/promotions/{{id}}/": {"get"},
    f"{V1}/{{use_case_slug}}/promotions/{{id}}/approve": {"post"},
    f"{V1}/{{use_case_slug}}/promotions/{{id}}/reject": {"post"},
    f"{V1}/{{use_case_slug}}/promotions/{{id}}/withdraw": {"post"},
    f"{V1}/{{use_case_slug}}/promotions/{{id}}/override": {"post"},
    f"{V1}/{{use_case_slug}}/rollback": {"post"},
    f"{V1}/{{use_case_slug}}/deployment": {"get"},
    # The MLflow link, its imports and alias syncs (mlflow_sync/api/views.py).
    f"{V1}/{{use_case_slug}}/mlflow": {"get", "put", "patch", "delete"},
    f"{V1}/{{use_case_slug}}/mlflow/import": {"post"},
    f"{V1}/{{use_case_slug}}/mlflow/versions/": {"get"},
    f"{V1}/{{use_case_slug}}/mlflow/syncs/": {"get", "post"},
    # The caller's own notifications (notifications/api/views.py).
    "/api/v1/notifications/": {"get"},
    "/api/v1/notifications/{id}/": {"get"},
    "/api/v1/notifications/{id}/read": {"post"},
    "/api/v1/notifications/read-all": {"post"},
    "/api/v1/notifications/preferences": {"get", "put"},
    # Tokens for scripts (usecases/api/auth_tokens.py): log in for a token, revoke it.
    "/api/v1/auth/token": {"post", "delete"},
}
# Statuses each kind of operation must document, besides its success.
MUST_DOCUMENT = {
    "get": {"401", "404"},
    "post": {"400", "401", "403"},
    "put": {"400", "401", "403", "404"},
    "patch": {"400", "401", "403", "404"},
    "delete": {"401", "403", "404"},
}
CONFLICTS = {  # operations whose service may refuse with 409
    ("post", f"{V1}/{{slug}}/phase"),
    ("post", f"{V1}/{{use_case_slug}}/promotions/"),
    ("post", f"{V1}/{{use_case_slug}}/promotions/{{id}}/approve"),
    ("post", f"{V1}/{{use_case_slug}}/promotions/{{id}}/reject"),
    ("post", f"{V1}/{{use_case_slug}}/promotions/{{id}}/withdraw"),
    ("post", f"{V1}/{{use_case_slug}}/promotions/{{id}}/override"),
    ("post", f"{V1}/{{use_case_slug}}/rollback"),
    ("delete", f"{V1}/{{use_case_slug}}/datasets/{{id}}/"),
    ("post", f"{V1}/{{use_case_slug}}/members/"),
    ("patch", f"{V1}/{{use_case_slug}}/members/{{id}}/"),
    ("delete", f"{V1}/{{use_case_slug}}/members/{{id}}/"),
    ("post", f"{V1}/{{use_case_slug}}/evaluations/"),
    ("post", f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/close"),
    ("post", f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/claim"),
    ("post", f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/release"),
    ("post", f"{V1}/{{use_case_slug}}/review-campaigns/{{id}}/reviews"),
}
UPLOADS = {  # operations that take a file as multipart/form-data instead of JSON
    ("post", f"{V1}/{{use_case_slug}}/datasets/"),
    ("post", f"{V1}/{{use_case_slug}}/versions/{{version}}/predictions/"),
}

# The password-for-token login needs no token (security [{}]) and can answer neither 401 nor
# 403; revoking takes the token it revokes, not a session. Their own statuses and security.
TOKEN_LOGIN = ("post", "/api/v1/auth/token")
TOKEN_REVOKE = ("delete", "/api/v1/auth/token")
OWN_ERRORS = {TOKEN_LOGIN: {"400", "413", "429"}, TOKEN_REVOKE: {"401"}}
OWN_SECURITY = {TOKEN_LOGIN: [{}], TOKEN_REVOKE: [{"knoxApiToken": []}]}

BULK = {  # bulk logging: a JSON array of rows or CSV text (reviews/api/ingest.py)
    ("post", f"{V1}/{{use_case_slug}}/predictions"),
    ("post", f"{V1}/{{use_case_slug}}/outcomes"),
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    """Generated as CI would: validated against the OpenAPI spec, any warning an error."""
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in MUST_DOCUMENT:
                yield path, method, operation


def test_schema_lists_every_endpoint_and_method(schema):
    found = {path: set(item) - {"parameters"} for path, item in schema["paths"].items()}
    assert found == PATHS


def test_every_operation_documents_its_errors_with_the_error_body(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        needed = MUST_DOCUMENT[method] | ({"409"} if (method, path) in CONFLICTS else set())
        needed = OWN_ERRORS.get((method, path), needed)
        assert needed <= set(responses), (method, path, sorted(responses))
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)


def test_every_operation_requires_a_token_or_a_session(schema):
    for path, method, operation in operations(schema):
        expected = OWN_SECURITY.get((method, path), [{"knoxApiToken": []}, {"cookieAuth": []}])
        assert operation["security"] == expected, (method, path)
    token = schema["components"]["securitySchemes"]["knoxApiToken"]
    assert (token["in"], token["name"]) == ("header", "Authorization")


def test_write_bodies_are_json_except_file_uploads(schema):
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            media = {"multipart/form-data"} if (method, path) in UPLOADS else {"application/json"}
            if (method, path) in BULK:
                media = {"application/json", "text/csv"}
            assert set(operation["requestBody"]["content"]) == media, (method, path)
    for method, path in UPLOADS:
        body = schema["paths"][path][method]["requestBody"]["content"]["multipart/form-data"]
        fields = schema["components"]["schemas"][body["schema"]["$ref"].split("/")[-1]]
        assert fields["properties"]["file"]["format"] == "binary"
        assert "file" in fields["required"]
        assert "413" in schema["paths"][path][method]["responses"]


def test_schema_endpoint_is_public(db):
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert f"{V1}/{{use_case_slug}}/kpis/" in response.json()["paths"]


def referenced_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
@pytest.mark.parametrize("who", ["anonymous", "viewer"])
def test_api_docs_are_served_from_local_static_files_only(personas, client, page, who):
    if who != "anonymous":
        client.force_login(personas[who])  # LoginRequiredMiddleware must not get in the way
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://" not in html and "https://" not in html
    urls = referenced_urls(html)
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url  # no protocol-relative
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), f"{url} is not a static file"
        else:
            assert client.get(url).status_code == 200, url


def test_swagger_ui_loads_its_own_script_and_sends_the_csrf_token(personas, client):
    client.force_login(personas["owner"])
    html = client.get("/api/docs/").content.decode()
    assert "<script>" not in html  # no inline script: a strict Content-Security-Policy holds
    script_url = next(url for url in referenced_urls(html) if "script" in url)
    script = client.get(script_url)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content
    assert b"X-CSRFTOKEN" in script.content.upper()
