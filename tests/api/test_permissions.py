"""Permission matrix: every endpoint and method × every persona → the exact status code.

Rules (DESIGN.md, usecases/permissions.py): viewer and data scientist read; the expert also
edits the definition (use case, KPIs, value model, rules); the owner does everything,
including phase, members and deletion; the manager reads everything and writes nothing; the
admin does everything. Anonymous callers get 401, outsiders 404 on anything under a use case.
"""

import pytest

from tests.conftest import PERSONAS, expected_status
from tests.factories import PASSWORD, UseCaseFactory
from usecases.models import UseCase

READERS = {"viewer", "data_scientist", "expert", "owner", "manager", "admin"}
EDITORS = {"expert", "owner", "admin"}
OWNERS = {"owner", "admin"}

UC = "/api/v1/usecases/demand-forecast"

# (endpoint id, method, path, body, who may, status when allowed). Paths may name {kpi},
# {rule} and {member} (the viewer's membership), filled in from the fixtures.
ENDPOINTS = [
    ("usecase-retrieve", "get", f"{UC}/", None, READERS, 200),
    ("usecase-patch", "patch", f"{UC}/", {"title": "Demand forecast v2"}, EDITORS, 200),
    ("usecase-delete", "delete", f"{UC}/", None, OWNERS, 204),
    ("usecase-phase", "post", f"{UC}/phase", {"phase": "scoping", "note": "Go"}, OWNERS, 200),
    ("kpi-list", "get", f"{UC}/kpis/", None, READERS, 200),
    (
        "kpi-create",
        "post",
        f"{UC}/kpis/",
        {"name": "RMSE", "metric": "rmse", "target": 5, "gate_threshold": 6},
        EDITORS,
        201,
    ),
    ("kpi-retrieve", "get", f"{UC}/kpis/{{kpi}}/", None, READERS, 200),
    ("kpi-patch", "patch", f"{UC}/kpis/{{kpi}}/", {"target": 9}, EDITORS, 200),
    ("kpi-delete", "delete", f"{UC}/kpis/{{kpi}}/", None, EDITORS, 204),
    ("value-model-get", "get", f"{UC}/value-model", None, READERS, 200),
    (
        "value-model-put",
        "put",
        f"{UC}/value-model",
        {"cost_per_unit_under": "3.00", "cost_per_unit_over": "1.00"},
        EDITORS,
        200,
    ),
    ("rule-list", "get", f"{UC}/data-quality-rules/", None, READERS, 200),
    (
        "rule-create",
        "post",
        f"{UC}/data-quality-rules/",
        {"field": "store", "kind": "not_null"},
        EDITORS,
        201,
    ),
    ("rule-retrieve", "get", f"{UC}/data-quality-rules/{{rule}}/", None, READERS, 200),
    (
        "rule-patch",
        "patch",
        f"{UC}/data-quality-rules/{{rule}}/",
        {"severity": "warning"},
        EDITORS,
        200,
    ),
    ("rule-delete", "delete", f"{UC}/data-quality-rules/{{rule}}/", None, EDITORS, 204),
    ("member-list", "get", f"{UC}/members/", None, READERS, 200),
    (
        "member-create",
        "post",
        f"{UC}/members/",
        {"username": "nina", "role": "viewer"},
        OWNERS,
        201,
    ),
    ("member-retrieve", "get", f"{UC}/members/{{member}}/", None, READERS, 200),
    ("member-patch", "patch", f"{UC}/members/{{member}}/", {"role": "expert"}, OWNERS, 200),
    ("member-delete", "delete", f"{UC}/members/{{member}}/", None, OWNERS, 204),
    ("audit-event-list", "get", f"{UC}/audit-events/", None, READERS, 200),
    # Monitoring (tests/monitoring/test_api.py has the alerts' verbs): reads for every member;
    # queuing runs for those who manage models, checked before the body (no version: 400).
    ("monitoring-day-list", "get", f"{UC}/monitoring/days/", None, READERS, 200),
    ("monitoring-drift-list", "get", f"{UC}/monitoring/drift/", None, READERS, 200),
    ("monitoring-alert-list", "get", f"{UC}/monitoring/alerts/", None, READERS, 200),
    ("monitoring-run-list", "get", f"{UC}/monitoring/runs/", None, READERS, 200),
    (
        "monitoring-run-create",
        "post",
        f"{UC}/monitoring/runs/",
        {"version": "9.9.9", "days": ["2026-01-01"]},
        {"data_scientist", "owner", "admin"},
        400,
    ),
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "ok"),
    [pytest.param(*endpoint[1:], id=endpoint[0]) for endpoint in ENDPOINTS],
)
def test_use_case_endpoint_answers_each_persona_as_its_role_allows(
    api, personas, use_case, kpi, rule, value_model, newcomer, who, method, path, body, allowed, ok
):
    viewer_membership = use_case.members.get(user=personas["viewer"])
    url = path.format(kpi=kpi.pk, rule=rule.pk, member=viewer_membership.pk)
    response = getattr(api(who), method)(url, body, format="json")
    assert response.status_code == expected_status(who, allowed, ok), response.content


@pytest.mark.parametrize("who", PERSONAS)
def test_every_signed_in_persona_may_list_use_cases_and_propose_one(api, use_case, who):
    client = api(who)
    listed = client.get("/api/v1/usecases/")
    created = client.post(
        "/api/v1/usecases/", {"title": f"Churn {who}", "task_type": "binary"}, format="json"
    )
    if who == "anonymous":
        assert (listed.status_code, created.status_code) == (401, 401)
        assert not UseCase.objects.filter(title=f"Churn {who}").exists()
    else:
        assert (listed.status_code, created.status_code) == (200, 201)


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("outsider", []),
        ("viewer", ["demand-forecast"]),
        ("data_scientist", ["demand-forecast"]),
        ("expert", ["demand-forecast", "stock-outs"]),
        ("owner", ["demand-forecast"]),
        ("manager", ["churn", "demand-forecast", "stock-outs"]),
        ("admin", ["churn", "demand-forecast", "stock-outs"]),
    ],
)
def test_use_case_list_shows_only_the_use_cases_the_persona_may_see(
    api, personas, use_case, who, visible
):
    UseCaseFactory(slug="churn", title="Churn")
    UseCaseFactory(slug="stock-outs", title="Stock-outs", owner=personas["expert"])
    response = api(who).get("/api/v1/usecases/")
    assert response.status_code == 200
    assert sorted(row["slug"] for row in response.json()["results"]) == visible
    assert response.json()["count"] == len(visible)


@pytest.mark.parametrize("who", ["outsider", "viewer", "owner", "manager", "admin"])
def test_unknown_use_case_is_404_for_everyone_signed_in(api, use_case, who):
    for url in ("/api/v1/usecases/no-such-thing/", "/api/v1/usecases/no-such-thing/kpis/"):
        response = api(who).get(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such use case.", "code": "not_found"}


def test_items_of_another_use_case_are_404_even_for_its_editors(api, personas, use_case):
    """An id from a use case the caller cannot see, reached through one they can edit."""
    other = UseCaseFactory(slug="secret")
    other_kpi = other.kpis.create(
        name="Secret", metric="mae", direction="lower", target=1, gate_threshold=2
    )
    other_member = other.members.get()
    expert = api("expert")
    assert expert.get(f"{UC}/kpis/{other_kpi.pk}/").status_code == 404
    assert (
        expert.patch(f"{UC}/kpis/{other_kpi.pk}/", {"target": 0}, format="json").status_code == 404
    )
    assert expert.delete(f"{UC}/kpis/{other_kpi.pk}/").status_code == 404
    assert api("owner").delete(f"{UC}/members/{other_member.pk}/").status_code == 404
    other_kpi.refresh_from_db()
    assert other_kpi.target == 1 and other.members.count() == 1


def test_expert_may_edit_the_definition_but_not_hand_the_use_case_to_themselves(
    api, personas, use_case
):
    response = api("expert").patch(f"{UC}/", {"owner": "erik"}, format="json")
    assert response.status_code == 403
    use_case.refresh_from_db()
    assert use_case.owner == personas["owner"]
    assert use_case.members.get(user=personas["expert"]).role == "expert"


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_owner_and_admin_may_name_another_owner(api, personas, use_case, who):
    response = api(who).patch(f"{UC}/", {"owner": "erik"}, format="json")
    assert response.status_code == 200
    assert response.json()["owner"] == "erik"
    assert use_case.members.get(user=personas["expert"]).role == "owner"


# The notification centre: not under a use case; every signed-in persona reaches their own
# notifications and preferences, another person's notification is 404 as if it did not exist.

NOTES = "/api/v1/notifications/"
ALERTS_OFF = {
    "webhook_url": "",
    "kinds": [{"kind": "alert", "in_app": False, "email": "off", "webhook": False}],
}
# (endpoint id, method, path, body, status when signed in). {own} is the caller's
# notification, {other} someone else's.
NOTIFICATION_ENDPOINTS = [
    ("notification-list", "get", NOTES, None, 200),
    ("notification-retrieve", "get", f"{NOTES}{{own}}/", None, 200),
    ("notification-retrieve-another", "get", f"{NOTES}{{other}}/", None, 404),
    ("notification-read", "post", f"{NOTES}{{own}}/read", None, 200),
    ("notification-read-another", "post", f"{NOTES}{{other}}/read", None, 404),
    ("notification-read-all", "post", f"{NOTES}read-all", None, 200),
    ("notification-preferences-get", "get", f"{NOTES}preferences", None, 200),
    ("notification-preferences-put", "put", f"{NOTES}preferences", ALERTS_OFF, 200),
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("method", "path", "body", "ok"),
    [pytest.param(*endpoint[1:], id=endpoint[0]) for endpoint in NOTIFICATION_ENDPOINTS],
)
def test_notification_endpoint_answers_each_persona_with_their_own_only(
    api, personas, who, method, path, body, ok
):
    from notifications.models import Notification, Preference

    notes = {
        name: Notification.objects.create(
            recipient=user, kind="mention", text=f"For {name}", url="/"
        )
        for name, user in personas.items()
    }
    caller = who if who != "anonymous" else "expert"
    other = "viewer" if caller == "expert" else "expert"
    url = path.format(own=notes[caller].pk, other=notes[other].pk)
    response = getattr(api(who), method)(url, body, format="json")
    assert response.status_code == (401 if who == "anonymous" else ok), response.content
    read = set(Notification.objects.filter(read_at__isnull=False).values_list("text", flat=True))
    marks_own = who != "anonymous" and ok == 200 and "read" in path and "preferences" not in path
    assert read == ({f"For {who}"} if marks_own else set())
    assert set(Preference.objects.values_list("user__username", flat=True)) == (
        {personas[who].username} if who != "anonymous" and method == "put" else set()
    )
    if who != "anonymous" and path == NOTES:
        assert [row["text"] for row in response.json()["results"]] == [f"For {who}"]
    if who != "anonymous" and path.endswith("read-all"):
        assert response.json() == {"marked": 1}


# Tokens for scripts (usecases/api/auth_tokens.py): logging in needs no token, only the
# password, so every persona's answer comes from the credentials in the body ("{me}" is the
# persona's own username; anonymous has none); revoking needs the token it revokes.

AUTH = "/api/v1/auth/token"
# (endpoint id, method, path, body, status for anonymous, status when signed in)
AUTH_ENDPOINTS = [
    ("auth-token-create", "post", AUTH, {"username": "{me}", "password": PASSWORD}, 400, 201),
    ("auth-token-create-wrong", "post", AUTH, {"username": "{me}", "password": "wrong"}, 400, 400),
    ("auth-token-delete", "delete", AUTH, None, 401, 204),
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("method", "path", "body", "anonymous", "signed_in"),
    [pytest.param(*endpoint[1:], id=endpoint[0]) for endpoint in AUTH_ENDPOINTS],
)
def test_token_endpoint_answers_each_persona_by_its_credentials(
    api, personas, who, method, path, body, anonymous, signed_in
):
    me = personas[who].username if who != "anonymous" else "nobody"
    if body:
        body = {key: value.format(me=me) for key, value in body.items()}
    response = getattr(api(who), method)(path, body, format="json")
    assert response.status_code == (anonymous if who == "anonymous" else signed_in)
