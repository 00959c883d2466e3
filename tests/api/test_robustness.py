"""Request bodies that used to answer 500 (issue 10, items 4 and 5): JSON nested too deep,
NUL characters, lone surrogates and out-of-range numbers in JSON values, odd PATCHes of a
version, and OPTIONS on the CSV export. Each now answers a 400 (or 200) in the one JSON
error shape, naming the field; the browser forms with JSON inputs show a form error."""

import json

import pytest
from django.test import Client

from portal import parsers
from registry.models import ModelVersion
from tests.conftest import fields_in, login
from tests.factories import register_version
from usecases.models import DataQualityRule, UseCase, UseCaseMember

UC = "/api/v1/usecases/demand-forecast"
NUL = "a\x00b"


def send(client, method: str, url: str, body):
    """`body` as JSON (text as given: for bodies json.dumps cannot write)."""
    data = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(url, data, content_type="application/json")


def nested(depth: int, leaf="1") -> str:
    """A JSON text of `depth` nested arrays around `leaf`."""
    return "[" * depth + leaf + "]" * depth


@pytest.fixture
def version(use_case, personas):
    return register_version(use_case, personas["owner"], "1.4.0")


# --- Nesting depth (item 4) ---------------------------------------------------------------

DEEP_BODY_ENDPOINTS = [
    ("post", "/api/v1/usecases/"),
    ("post", f"{UC}/kpis/"),
    ("post", f"{UC}/members/"),
    ("put", f"{UC}/value-model"),
    ("patch", f"{UC}/versions/1.4.0/"),
    ("post", f"{UC}/evaluations/"),
    ("post", f"{UC}/review-campaigns/"),
]


@pytest.mark.parametrize(("method", "url"), DEEP_BODY_ENDPOINTS)
def test_a_body_nested_5000_deep_is_a_400_not_a_recursion_error(api, version, method, url):
    # Before: 500 (RecursionError in json.loads) on every JSON endpoint.
    response = send(api("owner"), method, url, nested(5000))
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "too_deep"
    assert "32 levels" in body["detail"]


def test_a_parameter_nested_within_the_limit_is_stored(api, version):
    parameters = json.loads('{"a":' * 31 + "1" + "}" * 31)  # the body's object makes 32
    response = send(api("owner"), "patch", f"{UC}/versions/1.4.0/", {"parameters": parameters})
    assert response.status_code == 200, response.content
    version.refresh_from_db()
    assert version.parameters == parameters


def test_one_level_more_is_refused(api, version):
    parameters = json.loads('{"a":' * 32 + "1" + "}" * 32)
    response = send(api("owner"), "patch", f"{UC}/versions/1.4.0/", {"parameters": parameters})
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting(api, version):
    text = "[{" * 3000 + '\\"' + "}]" * 3000
    response = send(api("owner"), "patch", f"{UC}/versions/1.4.0/", {"description": text})
    assert response.status_code == 200, response.content
    version.refresh_from_db()
    assert version.description == text


def test_the_prediction_log_refuses_features_nested_600_deep(api, version):
    # Before: 500 (RecursionError while looking for NUL characters in the features).
    row = (
        '{"version": "1.4.0", "request_id": "r1", "timestamp": "2026-03-01T00:00:00Z", '
        '"prediction": 1.5, "features": {"store": ' + nested(600) + "}}"
    )
    UseCase.objects.filter(pk=version.use_case_id).update(feature_schema=[])
    response = send(api("owner"), "post", f"{UC}/predictions", f"[{row}]")
    assert response.status_code == 400, response.content
    assert fields_in(response) == {"features.store"}
    assert "levels" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("field", ["version", "request_id", "prediction", "score", "segment"])
def test_the_prediction_log_refuses_other_fields_nested_1020_deep(api, version, field):
    # Before: 500 for version (str() of the nested list recursed), 400 for the others. The
    # body's limit is orjson's 1,024 levels; rows are checked without recursing.
    row = {"version": "1.4.0", "request_id": "r1", "timestamp": "2026-03-01T00:00:00Z"}
    row |= {"prediction": 1.5, field: "@deep@"}
    body = json.dumps([row]).replace('"@deep@"', nested(1020))
    response = send(api("owner"), "post", f"{UC}/predictions", body)
    assert response.status_code == 400, response.content
    assert fields_in(response) == {field}


def test_the_prediction_log_refuses_a_body_nested_5000_deep(api, version):
    response = send(api("owner"), "post", f"{UC}/predictions", nested(5000))
    assert response.status_code == 400
    assert response.json()["code"] == "rejected_file"


# --- NUL characters, lone surrogates, out-of-range numbers (item 5) ------------------------

NUL_CASES = [
    ("patch", UC + "/", {"owner": NUL}, "owner"),
    (
        "patch",
        UC + "/",
        {"feature_schema": [{"name": "store", "type": "category", "description": NUL}]},
        "feature_schema[0].description",
    ),
    ("post", f"{UC}/members/", {"username": NUL, "role": "viewer"}, "username"),
    ("patch", f"{UC}/versions/1.4.0/", {"parameters": {"depth": NUL}}, "parameters.depth"),
    ("patch", f"{UC}/versions/1.4.0/", {"parameters": {NUL: 1}}, "parameters"),
    ("patch", f"{UC}/versions/1.4.0/", {"tags": {"team": NUL}}, "tags.team"),
    ("post", f"{UC}/evaluations/", {"version": NUL, "dataset": 1}, "version"),
    (
        "post",
        f"{UC}/data-quality-rules/",
        {"field": "store", "kind": "allowed_values", "params": {"values": ["S01", NUL]}},
        "params.values[1]",
    ),
    (
        "post",
        f"{UC}/data-quality-rules/",
        {"field": "store", "kind": "regex", "params": {"pattern": NUL}},
        "params.pattern",
    ),
    (
        "post",
        "/api/v1/usecases/",
        {"title": "New", "task_type": "regression", "owner": NUL},
        "owner",
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "field"), NUL_CASES)
def test_a_nul_character_anywhere_in_a_json_body_is_a_400_naming_where(
    api, version, method, url, body, field
):
    # Before, on PostgreSQL: 500 for each (text and jsonb cannot hold NUL).
    before = ModelVersion.objects.get(pk=version.pk).parameters
    members = UseCaseMember.objects.count()
    response = send(api("owner"), method, url, body)
    assert response.status_code == 400, response.content
    assert fields_in(response) == {field}
    assert "NUL" in response.json()["detail"]
    assert ModelVersion.objects.get(pk=version.pk).parameters == before
    assert UseCaseMember.objects.count() == members
    assert not DataQualityRule.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"parameters": {"k": "\\ud800"}}', "parameters.k"),
        ('{"tags": {"\\udfff": "x"}}', "tags"),
        ('{"parameters": {"k": 1e400}}', "parameters.k"),
        ('{"tags": {"k": -1e400}}', "tags.k"),
        ('{"parameters": {"k": [1, 1' + "0" * 400 + "]}}", "parameters.k[1]"),
    ],
)
def test_a_lone_surrogate_or_an_infinite_number_is_a_400(api, version, body, field):
    # Before, on PostgreSQL: 500 (the text cannot be encoded; jsonb refuses Infinity).
    response = send(api("owner"), "patch", f"{UC}/versions/1.4.0/", body)
    assert response.status_code == 400, response.content
    assert fields_in(response) == {field}


def test_a_range_rule_with_a_bound_beyond_a_double_is_a_400(api, use_case):
    # Before: 500 (OverflowError turning 10**400 into a float).
    body = {"field": "price", "kind": "range", "params": {"min": 10**400}}
    response = send(api("owner"), "post", f"{UC}/data-quality-rules/", body)
    assert response.status_code == 400, response.content
    assert fields_in(response) == {"params.min"}


@pytest.mark.parametrize("path", ["versions/a%00b/", "versions/a%00b/predictions/"])
@pytest.mark.parametrize("method", ["get", "patch"])
def test_a_nul_in_a_version_path_is_a_json_404(api, version, path, method):
    # Before, on PostgreSQL: 500 (the version name with a NUL went into the query).
    client, url = api("owner"), f"{UC}/{path}"
    if method == "get":
        response = client.get(url)
    else:
        response = send(client, method, url, {"description": "x"})
    assert response.status_code in (404, 405), response.content
    assert response.json()["code"] in ("not_found", "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/usecases/demand-forecast/model-versions/a%00b/"),
        ("get", "/usecases/demand-forecast/model-versions/a%00b/feedback/"),
        ("post", "/account/tokens/a%00b/revoke/"),
    ],
)
def test_a_nul_in_a_page_path_is_a_404(personas, version, method, path):
    # Before, on PostgreSQL: 500 (the NUL went into the query).
    client = login(Client(raise_request_exception=False), personas, "owner")
    assert getattr(client, method)(path).status_code == 404


def test_a_nul_deep_inside_a_list_is_named_by_its_path(api, version):
    body = {"parameters": {"layers": [{"units": 4}, {"units": 8, "name": NUL}]}}
    response = send(api("owner"), "patch", f"{UC}/versions/1.4.0/", body)
    assert fields_in(response) == {"parameters.layers[1].name"}


@pytest.mark.parametrize(
    "body",
    [
        {"parameters": None},
        {"tags": []},
        {"tags": {"nested": {"no": "simple values only"}}},
        {"description": None},
        {"framework": "x" * 101},
        {"parameters": {"k": 10**30}},
        {"version": "2.0"},
        {"stage": "production"},
        {"description": "日本語 ✓", "tags": {"équipe": "prévisions"}},
        {},
        [],
        "null",
        '"text"',
    ],
)
def test_odd_version_patches_answer_in_the_json_error_shape_or_succeed(api, version, body):
    # Before: 6 of 151 generated PATCHes answered 500 (NUL, surrogates and 1e400 above).
    response = send(api("owner"), "patch", f"{UC}/versions/1.4.0/", body)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["code"] in ("invalid", "parse_error")


def test_the_parser_refuses_a_body_over_the_upload_memory_limit(api, version, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = send(api("owner"), "patch", f"{UC}/versions/1.4.0/", {"description": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


# --- Browser forms with JSON inputs -----------------------------------------------------


def new_use_case_form(**changes) -> dict:
    form = {"title": "Shelf gaps", "task_type": "regression", "priority": "medium"}
    form |= {"risk_tier": "low", "feature_schema": "[]"}
    return form | changes


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ('[{"name": "store", "type": "category", "description": "a\\u0000b"}]', "NUL"),
        ('[{"name": "store", "type": "category", "description": "\\ud800"}]', "Unicode"),
        (nested(5000), "32 levels"),
    ],
)
def test_new_use_case_form_refuses_a_schema_with_nul_or_too_deep(client, personas, schema, words):
    # Before: 500 on PostgreSQL (NUL), 500 everywhere (5000 deep).
    login(client, personas, "owner")
    response = client.post("/usecases/new/", new_use_case_form(feature_schema=schema))
    assert response.status_code == 200
    errors = response.context["form"].errors["feature_schema"]
    assert any(words in error for error in errors), errors
    assert not UseCase.objects.filter(title="Shelf gaps").exists()


@pytest.mark.parametrize("field", ["parameters", "tags"])
def test_version_form_refuses_nul_in_parameters_and_tags(client, personas, use_case, field):
    login(client, personas, "owner")
    response = client.post(
        "/usecases/demand-forecast/model-versions/",
        {"version": "3.0", field: '{"k": "a\\u0000b"}'},
    )
    assert response.status_code == 200
    assert "NUL" in str(response.context["form"].errors[field])
    assert not ModelVersion.objects.filter(version="3.0").exists()


# --- OPTIONS on the corrections export -------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept"), [("?format=csv", "*/*"), ("", "text/csv"), ("", "application/json")]
)
def test_options_on_the_corrections_export_answers_json(personas, use_case, query, accept):
    # Before: 500 with ?format=csv or Accept: text/csv (the CSV renderer renders nothing).
    client = Client(raise_request_exception=False)
    login(client, personas, "viewer")
    url = f"{UC}/review-campaigns/1/corrections{query}"
    response = client.options(url, HTTP_ACCEPT=accept)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert "text/csv" in response.json()["renders"]


def test_the_depth_scan_counts_only_brackets_outside_strings():
    assert parsers.nesting_depth(b'{"a": [1, {"b": "[[[["}]}') == 3
    assert parsers.nesting_depth(b'"\\\\"') == 0
    assert parsers.nesting_depth(b'["\\"[[[", [[]]]') == 3
    assert parsers.nesting_depth(b"") == 0
