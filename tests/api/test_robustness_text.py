"""Control characters in text fields (issue 10, item 9): a CR or LF in a use case's title
made the welcome e-mail fail for good (Django refuses a header with a newline). Single-line
fields refuse every control character, multi-line ones every control character but tab and
newlines, in the API (400 naming the field) and in the browser (a form error)."""

import pytest

from portal import text
from registry.models import ModelVersion
from tests.conftest import fields_in, login
from tests.factories import register_version
from usecases.models import KPI, UseCase

UC = "/api/v1/usecases/demand-forecast"


@pytest.mark.parametrize("value", ["Shelf\r\nBcc: x@example.com", "a\nb", "a\rb", "tab\there"])
def test_api_refuses_a_title_with_a_line_break_or_tab(api, personas, value):
    # Before: 201, and the welcome e-mail of every new member then failed.
    response = api("owner").post(
        "/api/v1/usecases/", {"title": value, "task_type": "regression"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert fields_in(response) == {"title"}
    assert "control character" in response.json()["detail"]
    assert not UseCase.objects.filter(title=value).exists()


def test_api_refuses_a_title_change_with_a_line_break(api, use_case):
    response = api("owner").patch(f"{UC}/", {"title": "New\ntitle"}, format="json")
    assert response.status_code == 400
    assert fields_in(response) == {"title"}
    use_case.refresh_from_db()
    assert use_case.title == "Demand forecast"


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (f"{UC}/", {"sponsor": "Ops\x1b[31m"}, "sponsor"),
        (
            f"{UC}/kpis/",
            {"name": "RM\nSE", "metric": "rmse", "target": 5, "gate_threshold": 6},
            "name",
        ),
        (
            f"{UC}/data-quality-rules/",
            {"field": "store", "kind": "not_null", "description": "a\rb"},
            "description",
        ),
        (f"{UC}/versions/", {"version": "2.0", "framework": "sk\nlearn"}, "framework"),
        (f"{UC}/versions/", {"version": "2.0", "artifact_uri": "s3://x\x07"}, "artifact_uri"),
    ],
)
def test_api_refuses_control_characters_in_single_line_fields(api, use_case, url, body, field):
    response = (
        api("owner").post(url, body, format="json")
        if not url.endswith(f"{UC}/")
        else (api("owner").patch(url, body, format="json"))
    )
    assert response.status_code == 400, response.content
    assert fields_in(response) == {field}


def test_multi_line_fields_keep_newlines_and_tabs_but_refuse_other_controls(api, use_case):
    client = api("owner")
    kept = "First line\r\nsecond\tline"
    response = client.patch(f"{UC}/", {"problem_statement": kept}, format="json")
    assert response.status_code == 200, response.content
    use_case.refresh_from_db()
    assert use_case.problem_statement == kept

    response = client.patch(f"{UC}/", {"problem_statement": "bell\x07"}, format="json")
    assert response.status_code == 400
    assert fields_in(response) == {"problem_statement"}


def test_a_version_description_may_span_lines(api, use_case, personas):
    register_version(use_case, personas["owner"], "1.0")
    response = api("owner").patch(
        f"{UC}/versions/1.0/", {"description": "Retrained.\nNew features."}, format="json"
    )
    assert response.status_code == 200, response.content


# Browser forms


def test_new_use_case_form_refuses_a_title_with_a_line_break(client, personas):
    # Before: the use case was created (302).
    login(client, personas, "owner")
    response = client.post(
        "/usecases/new/",
        {
            "title": "Shelf\r\nBcc: x@example.com",
            "task_type": "regression",
            "priority": "medium",
            "risk_tier": "low",
            "feature_schema": "[]",
        },
    )
    assert response.status_code == 200
    assert "control character" in str(response.context["form"].errors["title"])
    assert not UseCase.objects.exclude(slug="demand-forecast").exists()


def test_kpi_form_refuses_a_name_with_a_line_break(client, personas, use_case):
    login(client, personas, "owner")
    response = client.post(
        "/usecases/demand-forecast/kpis/new/",
        {
            "name": "RMSE\nx",
            "metric": "rmse",
            "target": 5,
            "gate_threshold": 6,
            "gate_mode": "point",
        },
    )
    assert response.status_code == 200
    assert not KPI.objects.exists()


def test_version_form_refuses_control_characters_in_the_framework(client, personas, use_case):
    login(client, personas, "owner")
    response = client.post(
        "/usecases/demand-forecast/model-versions/", {"version": "3.0", "framework": "a\x00b\r"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["framework"]
    assert not ModelVersion.objects.exists()


# The validators


@pytest.mark.parametrize("value", ["plain", "Prévisions 2026 — ok", "emoji ✓", ""])
def test_single_line_accepts_ordinary_text(value):
    text.single_line(value)


@pytest.mark.parametrize(
    "value", ["a\nb", "a\rb", "a\tb", "a\x00b", "a\x7fb", "a\x85b", "a\u2028b"]
)
def test_single_line_refuses_control_characters_and_line_separators(value):
    with pytest.raises(text.ValidationError):
        text.single_line(value)


@pytest.mark.parametrize("value", ["a\nb", "a\r\nb", "a\tb"])
def test_multi_line_accepts_newlines_and_tabs(value):
    text.multi_line(value)


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\x0bb", "a\x7fb"])
def test_multi_line_refuses_other_control_characters(value):
    with pytest.raises(text.ValidationError):
        text.multi_line(value)
