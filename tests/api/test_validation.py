"""Bad input is a 400 naming the field, a missing thing a 404, a clash with the current state
a 409; every one with the JSON error body {"detail", "errors": [{"field", "message"}]}."""

import pytest
from django.test import Client

from tests.conftest import fields_in
from tests.factories import UseCaseFactory, UserFactory
from usecases.models import KPI, AuditEvent, DataQualityRule, UseCase, ValueModel

UC = "/api/v1/usecases/demand-forecast"
KPI_BODY = {"name": "RMSE", "metric": "rmse", "target": 5, "gate_threshold": 6}


def assert_400_naming(response, field: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in fields_in(response)
    assert body["detail"].startswith("Invalid input.")
    assert all(item["message"] for item in body["errors"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"metric": "accuracy", "target": 0.9, "gate_threshold": 0.8}, "metric"),
        ({"metric": "r_squared"}, "metric"),
        ({"target": "five"}, "target"),
        ({"gate_threshold": None}, "gate_threshold"),
        ({"direction": "lower", "target": 6, "gate_threshold": 5}, "gate_threshold"),
        ({"direction": "sideways"}, "direction"),
        ({"metric": "mape", "target": -1}, "target"),
        ({"name": ""}, "name"),
        ({"name": "Forecast error"}, "name"),  # the `kpi` fixture's name
        ({"gate_mode": "vibes"}, "gate_mode"),
    ],
)
def test_invalid_kpi_is_refused_naming_the_field(api, kpi, changes, field):
    response = api("expert").post(f"{UC}/kpis/", {**KPI_BODY, **changes}, format="json")
    assert_400_naming(response, field)
    assert list(KPI.objects.values_list("name", flat=True)) == ["Forecast error"]
    assert not AuditEvent.objects.exists()


def test_classification_kpi_outside_zero_to_one_is_refused(api, personas):
    UseCaseFactory(slug="churn", task_type="binary", owner=personas["owner"])
    response = api("owner").post(
        "/api/v1/usecases/churn/kpis/",
        {"name": "Recall", "metric": "recall", "target": 80, "gate_threshold": 70},
        format="json",
    )
    assert_400_naming(response, "target")
    assert "between 0 and 1" in response.json()["detail"]


def test_kpi_patch_that_puts_the_gate_above_the_target_changes_nothing(api, kpi):
    response = api("expert").patch(f"{UC}/kpis/{kpi.pk}/", {"target": 20}, format="json")
    assert_400_naming(response, "gate_threshold")
    kpi.refresh_from_db()
    assert kpi.target == 10.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"field": "price", "kind": "range", "params": {"min": 10, "max": 1}}, "params"),
        ({"field": "price", "kind": "range", "params": {}}, "params"),
        ({"field": "price", "kind": "range", "params": {"min": "cheap"}}, "params"),
        ({"field": "price", "kind": "range", "params": [0, 10]}, "params"),
        ({"field": "store", "kind": "regex", "params": {"pattern": "("}}, "pattern"),
        ({"field": "price", "kind": "max_null_rate", "params": {"max_rate": 2}}, "params"),
        ({"field": "store", "kind": "allowed_values", "params": {"values": []}}, "params"),
        ({"field": "age", "kind": "not_null"}, "field"),
        ({"field": "price", "kind": "sometimes"}, "kind"),
        (
            {"field": "price", "kind": "range", "severity": "fatal", "params": {"min": 0}},
            "severity",
        ),
        ({"field": "price", "kind": "range", "params": {"min": 5}}, "kind"),  # clashes `rule`
    ],
)
def test_invalid_rule_is_refused_naming_the_field(api, rule, body, field):
    response = api("expert").post(f"{UC}/data-quality-rules/", body, format="json")
    assert_400_naming(response, field)
    assert DataQualityRule.objects.count() == 1


def test_rule_patch_with_bad_params_changes_nothing(api, rule):
    response = api("expert").patch(
        f"{UC}/data-quality-rules/{rule.pk}/", {"params": {"min": 5, "max": 1}}, format="json"
    )
    assert_400_naming(response, "params")
    rule.refresh_from_db()
    assert rule.params == {"min": 0, "max": 1000}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"feature_schema": {"age": "integer"}}, "feature_schema"),
        ({"feature_schema": [{"name": "age"}]}, "feature_schema"),
        ({"feature_schema": [{"name": "1st", "type": "integer"}]}, "feature_schema"),
        ({"feature_schema": [{"name": "age", "type": "blob"}]}, "feature_schema"),
        ({"feature_schema": [{"name": "label", "type": "integer"}]}, "feature_schema"),
        (
            {"feature_schema": [{"name": "a", "type": "number"}, {"name": "a", "type": "number"}]},
            "feature_schema",
        ),
        ({"title": ""}, "title"),
        ({"task_type": "clustering"}, "task_type"),
        ({"priority": "urgent"}, "priority"),
        ({"start_date": "2026-05-01", "target_date": "2026-01-01"}, "target_date"),
        ({"start_date": "next week"}, "start_date"),
        ({"expected_value_per_year": -5}, "expected_value_per_year"),
        ({"expected_value_per_year": "lots"}, "expected_value_per_year"),
        ({"effort_person_days": -1}, "effort_person_days"),
        ({"owner": "nobody-by-that-name"}, "owner"),
        ({"slug": "demand-forecast"}, "slug"),
        ({"slug": "not a slug"}, "slug"),
    ],
)
def test_invalid_use_case_is_refused_naming_the_field(api, use_case, changes, field):
    body = {"title": "Churn", "task_type": "binary", **changes}
    response = api("viewer").post("/api/v1/usecases/", body, format="json")
    assert_400_naming(response, field)
    assert UseCase.objects.count() == 1


def test_use_case_patch_with_a_bad_feature_schema_changes_nothing(api, use_case):
    response = api("expert").patch(f"{UC}/", {"feature_schema": "store,price"}, format="json")
    assert_400_naming(response, "feature_schema")
    use_case.refresh_from_db()
    assert use_case.feature_names == ["store", "price"]


def test_changing_the_task_type_of_a_use_case_with_kpis_is_refused(api, use_case, kpi):
    response = api("expert").patch(f"{UC}/", {"task_type": "binary"}, format="json")
    assert response.status_code == 400
    assert "Remove the KPIs" in response.json()["detail"]
    use_case.refresh_from_db()
    assert use_case.task_type == "regression"


@pytest.mark.parametrize(
    ("task_type", "body", "field"),
    [
        ("regression", {"cost_per_unit_under": "2.00"}, "cost_per_unit_over"),
        (
            "regression",
            {"cost_per_unit_under": "-1", "cost_per_unit_over": "1"},
            "cost_per_unit_under",
        ),
        (
            "regression",
            {"cost_per_unit_under": "x", "cost_per_unit_over": "1"},
            "cost_per_unit_under",
        ),
        (
            "regression",
            {"cost_per_unit_under": "1", "cost_per_unit_over": "1", "currency": "euro"},
            "currency",
        ),
        ("binary", {"cost_per_unit_under": "1", "cost_per_unit_over": "1"}, "value_true_positive"),
    ],
)
def test_invalid_value_model_is_refused_naming_the_field(api, personas, task_type, body, field):
    UseCaseFactory(slug="vm", task_type=task_type, owner=personas["owner"])
    response = api("owner").put("/api/v1/usecases/vm/value-model", body, format="json")
    assert_400_naming(response, field)
    assert not ValueModel.objects.exists()


def test_bad_phase_is_a_400_naming_the_field(api, use_case):
    response = api("owner").post(f"{UC}/phase", {"phase": "launched"}, format="json")
    assert_400_naming(response, "phase")
    assert_400_naming(api("owner").post(f"{UC}/phase", {}, format="json"), "phase")


def test_bad_phase_filter_is_a_400_naming_the_parameter(api, use_case):
    assert_400_naming(api("owner").get("/api/v1/usecases/?phase=launched"), "phase")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ghost", "role": "viewer"}, "username"),
        ({"username": "nina", "role": "boss"}, "role"),
        ({"username": "nina"}, "role"),
        ({"role": "viewer"}, "username"),
    ],
)
def test_invalid_member_is_refused_naming_the_field(api, use_case, newcomer, body, field):
    response = api("owner").post(f"{UC}/members/", body, format="json")
    assert_400_naming(response, field)
    assert use_case.members.count() == 4


def test_unknown_role_on_patch_is_refused_naming_the_field(api, personas, use_case):
    member = use_case.members.get(user=personas["viewer"])
    response = api("owner").patch(f"{UC}/members/{member.pk}/", {"role": "boss"}, format="json")
    assert_400_naming(response, "role")


def test_malformed_json_is_a_400_in_the_error_shape(api, use_case):
    response = api("expert").generic(
        "POST", f"{UC}/kpis/", '{"name": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_form_encoded_bodies_are_refused_with_415(api, use_case):
    response = api("expert").post(f"{UC}/kpis/", KPI_BODY)  # multipart, not JSON
    assert response.status_code == 415
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/usecases/nope/", "No such use case."),
        ("/api/v1/usecases/nope/value-model", "No such use case."),
        (f"{UC}/kpis/999999/", "No such KPI on this use case."),
        (f"{UC}/data-quality-rules/999999/", "No such data-quality rule on this use case."),
        (f"{UC}/members/999999/", "No such member of this use case."),
        (f"{UC}/value-model", "This use case has no value model yet; PUT one to create it."),
    ],
)
def test_missing_things_are_404_with_a_clear_message(api, use_case, url, message):
    response = api("owner").get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": message, "code": "not_found"}


def test_setting_the_current_phase_again_is_a_conflict(api, use_case):
    body = {"phase": "idea", "note": "Again"}
    response = api("owner").post(f"{UC}/phase", body, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "The use case is already in Idea.", "code": "conflict"}
    assert not AuditEvent.objects.exists()


def test_adding_an_existing_member_is_a_conflict(api, use_case):
    response = api("owner").post(
        f"{UC}/members/", {"username": "victor", "role": "expert"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "victor is already a member.", "code": "conflict"}


def test_adding_a_deactivated_user_is_a_conflict(api, use_case):
    UserFactory(username="gone", is_active=False)
    response = api("owner").post(
        f"{UC}/members/", {"username": "gone", "role": "viewer"}, format="json"
    )
    assert response.status_code == 409
    assert "deactivated" in response.json()["detail"]


def test_removing_or_demoting_the_accountable_owner_is_a_conflict(api, personas, use_case):
    owner = use_case.members.get(user=personas["owner"])
    client = api("admin")
    removed = client.delete(f"{UC}/members/{owner.pk}/")
    demoted = client.patch(f"{UC}/members/{owner.pk}/", {"role": "viewer"}, format="json")
    assert (removed.status_code, demoted.status_code) == (409, 409)
    assert "accountable owner" in removed.json()["detail"]
    owner.refresh_from_db()
    assert owner.role == "owner"


@pytest.mark.parametrize(
    "url", ["/api/v1/usecases", f"{UC}/phase/", "/api/v1/nothing-here/", "/api/v2/usecases/"]
)
def test_unknown_api_paths_are_a_json_404_even_when_signed_out(client, use_case, url):
    response = client.post(url, {}, content_type="application/json")
    assert response.status_code == 404
    assert "No such API endpoint" in response.json()["detail"]
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("url", ["/api/v1/usecases/0.5/phase", f"{UC}/kpis/%0A/", "/api/v1/%0A"])
def test_unknown_api_paths_are_json_for_unsafe_methods_and_odd_characters(use_case, method, url):
    """Found by fuzzing: CSRF's HTML 403 for a token client, Django's HTML 404 for a newline."""
    response = getattr(Client(enforce_csrf_checks=True), method)(url)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("who", "method", "url", "body", "status", "code"),
    [
        ("anonymous", "get", f"{UC}/kpis/", None, 401, "not_authenticated"),
        ("viewer", "post", f"{UC}/kpis/", {"name": "x"}, 403, "permission_denied"),
        ("owner", "get", "/api/v1/usecases/nope/", None, 404, "not_found"),
        ("owner", "delete", f"{UC}/phase", None, 405, "method_not_allowed"),
        ("expert", "post", f"{UC}/kpis/", {"name": ""}, 400, "invalid"),
        ("owner", "post", f"{UC}/phase", {"phase": "idea", "note": "Again"}, 409, "conflict"),
    ],
)
def test_every_api_error_names_its_kind_in_a_code(
    api, use_case, who, method, url, body, status, code
):
    response = getattr(api(who), method)(url, body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.json()["detail"]


def test_a_browser_gets_json_errors_not_html_pages(client, personas, use_case):
    client.force_login(personas["viewer"])
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get(f"{UC}/value-model", HTTP_ACCEPT=browser)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("This use case has no value model yet")
    assert client.get(f"{UC}/kpis/", HTTP_ACCEPT=browser).status_code == 200
