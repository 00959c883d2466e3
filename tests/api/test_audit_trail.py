"""Every write through the API leaves its audit event (verb, before, after, actor), and the
audit-events endpoint lists them newest first."""

from decimal import Decimal

import pytest

from usecases.models import AuditEvent
from usecases.services import audit

UC = "/api/v1/usecases/demand-forecast"


def only_event() -> AuditEvent:
    events = list(AuditEvent.objects.all())
    assert len(events) == 1, [e.verb for e in events]
    return events[0]


# (method, path, body, verb, before, after); None means "the test checks it below".
WRITES = [
    (
        "patch",
        f"{UC}/",
        {"title": "Demand forecast v2", "sponsor": "Retail"},
        "usecase.updated",
        {"title": "Demand forecast", "sponsor": ""},
        {"title": "Demand forecast v2", "sponsor": "Retail"},
    ),
    (
        "post",
        f"{UC}/phase",
        {"phase": "scoping", "note": "Framing agreed"},
        "usecase.phase_changed",
        {"phase": "idea"},
        {"phase": "scoping", "note": "Framing agreed"},
    ),
    (
        "post",
        f"{UC}/kpis/",
        {"name": "RMSE", "metric": "rmse", "target": 5, "gate_threshold": 6},
        "kpi.created",
        None,
        {
            "name": "RMSE",
            "metric": "rmse",
            "direction": "lower",
            "target": 5.0,
            "gate_threshold": 6.0,
            "is_gating": True,
            "gate_mode": "point",
            "segment": "",
        },
    ),
    (
        "patch",
        f"{UC}/kpis/{{kpi}}/",
        {"target": 9, "segment": "north"},
        "kpi.updated",
        {"target": 10.0, "segment": ""},
        {"target": 9.0, "segment": "north"},
    ),
    (
        "post",
        f"{UC}/data-quality-rules/",
        {"field": "store", "kind": "allowed_values", "params": {"values": "a, b"}},
        "rule.created",
        None,
        {
            "field": "store",
            "kind": "allowed_values",
            "params": {"values": ["a", "b"]},
            "severity": "error",
            "description": "",
        },
    ),
    (
        "patch",
        f"{UC}/data-quality-rules/{{rule}}/",
        {"params": {"max": 500}},
        "rule.updated",
        {"params": {"min": 0, "max": 1000}},
        {"params": {"max": 500.0}},
    ),
    (
        "post",
        f"{UC}/members/",
        {"username": "nina", "role": "data_scientist"},
        "member.added",
        None,
        {"user": "nina", "role": "data_scientist"},
    ),
    (
        "patch",
        f"{UC}/members/{{member}}/",
        {"role": "expert"},
        "member.role_changed",
        {"user": "victor", "role": "viewer"},
        {"user": "victor", "role": "expert"},
    ),
    (
        "delete",
        f"{UC}/members/{{member}}/",
        None,
        "member.removed",
        {"user": "victor", "role": "viewer"},
        None,
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "verb", "before", "after"),
    [pytest.param(*write, id=f"{write[3]}") for write in WRITES],
)
def test_each_write_records_its_audit_event(
    api, personas, use_case, kpi, rule, newcomer, method, path, body, verb, before, after
):
    viewer = use_case.members.get(user=personas["viewer"])
    url = path.format(kpi=kpi.pk, rule=rule.pk, member=viewer.pk)
    response = getattr(api("owner"), method)(url, body, format="json")
    assert response.status_code < 300, response.content
    event = only_event()
    assert (event.verb, event.before, event.after) == (verb, before, after)
    assert (event.actor_name, event.use_case_slug) == ("olivia", "demand-forecast")


def test_creating_a_use_case_records_its_creation(api, personas):
    response = api("expert").post(
        "/api/v1/usecases/", {"title": "Churn", "task_type": "binary"}, format="json"
    )
    assert response.status_code == 201
    event = only_event()
    assert (event.verb, event.actor_name, event.before) == ("usecase.created", "erik", None)
    assert event.after["title"] == "Churn" and event.after["slug"] == "churn"
    assert event.after["owner"] == "erik"


@pytest.mark.parametrize("kind", ["kpi", "rule"])
def test_deleting_a_definition_item_records_what_it_was(api, use_case, kpi, rule, kind):
    item = {"kpi": kpi, "rule": rule}[kind]
    path = {"kpi": "kpis", "rule": "data-quality-rules"}[kind]
    assert api("expert").delete(f"{UC}/{path}/{item.pk}/").status_code == 204
    event = only_event()
    assert event.verb == f"{kind}.deleted" and event.after is None
    fields = {"kpi": ["name", "metric", "target"], "rule": ["field", "kind", "params"]}[kind]
    assert {name: event.before[name] for name in fields} == audit.snapshot(item, fields)
    assert event.actor_name == "erik"


def test_value_model_creation_then_replacement_are_recorded(api, use_case):
    client = api("expert")
    created = client.put(
        f"{UC}/value-model",
        {"cost_per_unit_under": "2.50", "cost_per_unit_over": "0.80", "notes": "Margins 2026"},
        format="json",
    )
    replaced = client.put(
        f"{UC}/value-model",
        {"cost_per_unit_under": "3", "cost_per_unit_over": "0.80"},
        format="json",
    )
    assert (created.status_code, replaced.status_code) == (201, 200)
    first, second = AuditEvent.objects.order_by("id")
    assert first.verb == "value_model.created" and first.before is None
    assert Decimal(first.after["cost_per_unit_under"]) == Decimal("2.5")
    assert first.after["notes"] == "Margins 2026"
    assert second.verb == "value_model.updated"
    assert set(second.before) == set(second.after) == {"cost_per_unit_under", "notes"}
    assert Decimal(second.before["cost_per_unit_under"]) == Decimal("2.5")
    assert Decimal(second.after["cost_per_unit_under"]) == Decimal("3")
    assert (second.before["notes"], second.after["notes"]) == ("Margins 2026", "")


def test_deleting_a_use_case_records_it_and_keeps_its_history(api, use_case):
    assert api("owner").delete(f"{UC}/").status_code == 204
    event = only_event()
    assert event.verb == "usecase.deleted"
    assert event.before["slug"] == "demand-forecast" and event.after is None
    assert audit.verify_chain() == (1, [])


def test_refused_and_no_op_writes_record_nothing(api, use_case, kpi):
    client = api("expert")
    assert client.patch(f"{UC}/kpis/{kpi.pk}/", {"target": 99}, format="json").status_code == 400
    assert client.patch(f"{UC}/kpis/{kpi.pk}/", {"target": 10}, format="json").status_code == 200
    assert api("viewer").patch(f"{UC}/", {"title": "Mine"}, format="json").status_code == 403
    assert not AuditEvent.objects.exists()


def test_audit_events_are_listed_newest_first_with_their_changes(api, use_case):
    owner = api("owner")
    for phase in ("scoping", "data", "poc"):
        owner.post(f"{UC}/phase", {"phase": phase, "note": "Next step"}, format="json")
    response = api("viewer").get(f"{UC}/audit-events/?page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and body["next"] is not None
    newest = body["results"][0]
    assert [row["after"]["phase"] for row in body["results"]] == ["poc", "data"]
    assert newest["verb"] == "usecase.phase_changed"
    assert newest["actor"] == "olivia" and newest["before"] == {"phase": "data"}
    assert newest["previous_hash"] == body["results"][1]["hash"]
    older = api("viewer").get(body["next"]).json()["results"]
    assert [row["after"]["phase"] for row in older] == ["scoping"]


def test_audit_events_of_other_use_cases_are_not_listed(api, personas, use_case):
    api("owner").post(f"{UC}/phase", {"phase": "scoping", "note": "Go"}, format="json")
    api("expert").post(
        "/api/v1/usecases/", {"title": "Other", "task_type": "binary"}, format="json"
    )
    rows = api("viewer").get(f"{UC}/audit-events/").json()["results"]
    assert [row["verb"] for row in rows] == ["usecase.phase_changed"]
