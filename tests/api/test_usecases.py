"""What a client sees and changes through /api/v1/usecases/ and the resources under it."""

import pytest

from tests.factories import UseCaseFactory
from usecases.models import UseCase

UC = "/api/v1/usecases/demand-forecast"


def test_the_requester_becomes_the_owner_of_a_use_case_they_create(api, personas):
    response = api("data_scientist").post(
        "/api/v1/usecases/",
        {
            "title": "Bank churn",
            "task_type": "binary",
            "feature_schema": [{"name": "tenure_months", "type": "integer"}],
            "expected_value_per_year": "120000.00",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["slug"], body["owner"], body["phase"]) == ("bank-churn", "dana", "idea")
    assert (body["kpi_count"], body["member_count"]) == (0, 1)
    assert body["feature_schema"] == [{"name": "tenure_months", "type": "integer"}]
    use_case = UseCase.objects.get(slug="bank-churn")
    assert list(use_case.members.values_list("user__username", "role")) == [("dana", "owner")]


def test_creating_for_another_owner_keeps_the_creator_an_owner_too(api, personas):
    response = api("admin").post(
        "/api/v1/usecases/",
        {"title": "Churn", "task_type": "binary", "owner": "erik", "slug": "churn-2027"},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["slug"], response.json()["owner"]) == ("churn-2027", "erik")
    roles = dict(UseCase.objects.get().members.values_list("user__username", "role"))
    assert roles == {"erik": "owner", "adam": "owner"}


def test_a_taken_title_gets_a_numbered_slug(api, use_case):
    response = api("owner").post(
        "/api/v1/usecases/", {"title": "Demand forecast", "task_type": "regression"}, format="json"
    )
    assert response.json()["slug"] == "demand-forecast-2"


@pytest.fixture
def portfolio(personas, use_case):
    """Three more use cases the manager sees, in several phases and with several owners."""
    UseCaseFactory(slug="churn", title="Bank churn", phase="pilot", owner=personas["expert"])
    UseCaseFactory(slug="fraud", title="Card fraud", phase="pilot", sponsor="Risk department")
    UseCaseFactory(slug="stock", title="Stock-outs", phase="production", owner=personas["owner"])


@pytest.mark.parametrize(
    ("query", "slugs"),
    [
        ("", ["churn", "fraud", "demand-forecast", "stock"]),
        ("?search=churn", ["churn"]),
        ("?search=RISK", ["fraud"]),
        ("?search=daily demand", ["churn", "fraud", "demand-forecast", "stock"]),
        ("?phase=pilot", ["churn", "fraud"]),
        ("?owner=olivia", ["demand-forecast", "stock"]),
        ("?owner=olivia&phase=production", ["stock"]),
        ("?owner=nobody", []),
    ],
)
def test_use_case_list_filters_by_search_phase_and_owner(api, portfolio, query, slugs):
    response = api("manager").get(f"/api/v1/usecases/{query}")
    assert response.status_code == 200
    assert [row["slug"] for row in response.json()["results"]] == slugs


def test_use_case_list_is_paginated_in_title_order(api, portfolio):
    first = api("manager").get("/api/v1/usecases/?page_size=3").json()
    assert first["count"] == 4
    assert [row["title"] for row in first["results"]] == [
        "Bank churn",
        "Card fraud",
        "Demand forecast",
    ]
    second = api("manager").get(first["next"]).json()
    assert [row["title"] for row in second["results"]] == ["Stock-outs"]


def test_use_case_detail_shows_owner_by_username_and_the_counts(api, use_case, kpi):
    body = api("viewer").get(f"{UC}/").json()
    assert body["owner"] == "olivia"
    assert (body["kpi_count"], body["member_count"]) == (1, 4)
    assert body["task_type"] == "regression"


def test_patch_changes_only_the_fields_sent(api, use_case):
    response = api("expert").patch(
        f"{UC}/",
        {"problem_statement": "Cut waste.", "start_date": "2026-01-05", "target_date": None},
        format="json",
    )
    assert response.status_code == 200
    use_case.refresh_from_db()
    assert use_case.problem_statement == "Cut waste."
    assert str(use_case.start_date) == "2026-01-05"
    assert use_case.title == "Demand forecast"


def test_patch_cannot_change_the_slug_or_phase(api, use_case):
    response = api("owner").patch(f"{UC}/", {"slug": "renamed", "phase": "pilot"}, format="json")
    assert response.status_code == 200
    use_case.refresh_from_db()
    assert (use_case.slug, use_case.phase) == ("demand-forecast", "idea")


def test_phase_change_moves_the_use_case(api, use_case):
    body = {"phase": "scoping", "note": "Framing agreed"}
    response = api("owner").post(f"{UC}/phase", body, format="json")
    assert response.status_code == 200
    assert response.json()["phase"] == "scoping"
    use_case.refresh_from_db()
    assert use_case.phase == "scoping"


def test_deleting_a_use_case_removes_it_and_its_definition(api, use_case, kpi, rule):
    assert api("owner").delete(f"{UC}/").status_code == 204
    assert api("owner").get(f"{UC}/").status_code == 404
    assert not UseCase.objects.exists()


def test_kpi_direction_defaults_to_the_metrics_natural_one(api, personas):
    UseCaseFactory(slug="churn", task_type="binary", owner=personas["owner"])
    response = api("owner").post(
        "/api/v1/usecases/churn/kpis/",
        {"name": "Recall", "metric": "recall", "target": 0.8, "gate_threshold": 0.7},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["direction"] == "higher"


def test_kpi_list_and_detail_show_the_use_cases_kpis(api, use_case, kpi):
    UseCaseFactory(slug="other").kpis.create(
        name="Elsewhere", metric="mae", direction="lower", target=1, gate_threshold=2
    )
    listed = api("viewer").get(f"{UC}/kpis/").json()
    assert [row["name"] for row in listed["results"]] == ["Forecast error"]
    detail = api("viewer").get(f"{UC}/kpis/{kpi.pk}/").json()
    assert detail == {**listed["results"][0]}
    assert (detail["metric"], detail["target"], detail["gate_threshold"]) == ("mae", 10.0, 12.0)


def test_kpi_patch_and_delete(api, use_case, kpi):
    client = api("expert")
    response = client.patch(f"{UC}/kpis/{kpi.pk}/", {"is_gating": False}, format="json")
    assert response.status_code == 200 and response.json()["is_gating"] is False
    assert client.delete(f"{UC}/kpis/{kpi.pk}/").status_code == 204
    assert client.get(f"{UC}/kpis/{kpi.pk}/").status_code == 404


def test_value_model_is_created_by_put_then_replaced_as_a_whole(api, use_case):
    client = api("expert")
    created = client.put(
        f"{UC}/value-model",
        {
            "currency": "USD",
            "cost_per_unit_under": "2.5",
            "cost_per_unit_over": "0.8",
            "notes": "x",
        },
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["currency"] == "USD"
    replaced = client.put(
        f"{UC}/value-model", {"cost_per_unit_under": "3", "cost_per_unit_over": "1"}, format="json"
    )
    assert replaced.status_code == 200
    body = client.get(f"{UC}/value-model").json()
    assert (body["currency"], body["notes"]) == ("EUR", "")  # omitted fields are reset
    assert (body["cost_per_unit_under"], body["cost_per_unit_over"]) == ("3.0000", "1.0000")


def test_classification_value_model_takes_the_four_outcome_values(api, personas):
    UseCaseFactory(slug="churn", task_type="binary", owner=personas["owner"])
    values = {
        "value_true_positive": "120.00",
        "value_true_negative": "0.00",
        "cost_false_positive": "15.00",
        "cost_false_negative": "120.00",
    }
    response = api("owner").put("/api/v1/usecases/churn/value-model", values, format="json")
    assert response.status_code == 201
    assert {name: response.json()[name] for name in values} == values


def test_rules_are_returned_with_their_cleaned_params_and_summary(api, use_case, rule):
    client = api("expert")
    created = client.post(
        f"{UC}/data-quality-rules/",
        {"field": "store", "kind": "allowed_values", "params": {"values": "north, south"}},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["params"] == {"values": ["north", "south"]}
    assert created.json()["summary"] == "one of north, south"
    listed = client.get(f"{UC}/data-quality-rules/").json()["results"]
    assert [(row["field"], row["kind"]) for row in listed] == [
        ("price", "range"),
        ("store", "allowed_values"),
    ]
    patched = client.patch(
        f"{UC}/data-quality-rules/{rule.pk}/", {"severity": "warning"}, format="json"
    )
    assert patched.json()["severity"] == "warning"
    assert patched.json()["summary"] == "between 0 and 1000"
    assert client.delete(f"{UC}/data-quality-rules/{rule.pk}/").status_code == 204
    assert len(client.get(f"{UC}/data-quality-rules/").json()["results"]) == 1


def test_members_are_listed_by_username_and_role(api, use_case):
    rows = api("viewer").get(f"{UC}/members/").json()["results"]
    assert sorted((row["username"], row["role"]) for row in rows) == [
        ("dana", "data_scientist"),
        ("erik", "expert"),
        ("olivia", "owner"),
        ("victor", "viewer"),
    ]


def test_owner_adds_changes_and_removes_a_member(api, personas, use_case, newcomer):
    client = api("owner")
    added = client.post(f"{UC}/members/", {"username": "nina", "role": "viewer"}, format="json")
    assert added.status_code == 201
    assert {k: added.json()[k] for k in ("username", "role")} == {
        "username": "nina",
        "role": "viewer",
    }
    member_url = f"{UC}/members/{added.json()['id']}/"
    assert api("admin").get(member_url).json()["username"] == "nina"
    assert client.patch(member_url, {"role": "expert"}, format="json").json()["role"] == "expert"
    assert client.delete(member_url).status_code == 204
    assert not use_case.members.filter(user=newcomer).exists()


def test_a_new_member_can_then_see_the_use_case(api, use_case, newcomer):
    nina = api(newcomer)
    assert nina.get(f"{UC}/").status_code == 404
    api("owner").post(f"{UC}/members/", {"username": "nina", "role": "viewer"}, format="json")
    assert nina.get(f"{UC}/").status_code == 200
    assert nina.patch(f"{UC}/", {"title": "Mine"}, format="json").status_code == 403


def test_a_second_owner_may_be_demoted_and_removed(api, personas, use_case):
    client = api("owner")
    expert = use_case.members.get(user=personas["expert"])
    promoted = client.patch(f"{UC}/members/{expert.pk}/", {"role": "owner"}, format="json")
    assert promoted.status_code == 200
    response = client.patch(f"{UC}/members/{expert.pk}/", {"role": "viewer"}, format="json")
    assert response.status_code == 200
    assert client.delete(f"{UC}/members/{expert.pk}/").status_code == 204
