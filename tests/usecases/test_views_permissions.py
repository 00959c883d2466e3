"""Permission matrix of every browser URL: persona × URL → the exact status code.

Rules (usecases/permissions.py): viewer and data scientist read; expert reads and edits the
definition (fields, KPIs, value model, rules); owner does everything, phase, members and
deletion included; manager reads everything and writes nothing; admin does everything.
Outsiders get 404 on every use-case URL; anonymous visitors go to the login page.
"""

import pytest
from django.urls import reverse

from tests.conftest import PERSONAS, login
from tests.factories import UserFactory
from usecases.models import AuditEvent


def expect(**overrides) -> dict[str, int]:
    """Statuses for all personas: anonymous → login redirect, outsider → 404, then overrides."""
    return {"anonymous": 302, "outsider": 404} | overrides


READ = expect(viewer=200, data_scientist=200, expert=200, owner=200, manager=200, admin=200)
EDIT_PAGE = expect(viewer=403, data_scientist=403, expert=200, owner=200, manager=403, admin=200)
EDIT_WRITE = expect(viewer=403, data_scientist=403, expert=302, owner=302, manager=403, admin=302)
OWNER_PAGE = expect(viewer=403, data_scientist=403, expert=403, owner=200, manager=403, admin=200)
OWNER_WRITE = expect(viewer=403, data_scientist=403, expert=403, owner=302, manager=403, admin=302)
ANY_USER = {"anonymous": 302} | {who: 200 for who in PERSONAS if who != "anonymous"}
ANY_USER_WRITE = {"anonymous": 302} | {who: 302 for who in PERSONAS if who != "anonymous"}

USE_CASE_PAGES = [
    ("usecases:detail", READ),
    ("usecases:history", READ),
    ("usecases:members", READ),
    ("usecases:edit", EDIT_PAGE),
    ("usecases:kpi_create", EDIT_PAGE),
    ("usecases:kpi_edit", EDIT_PAGE),
    ("usecases:value_model_edit", EDIT_PAGE),
    ("usecases:rule_create", EDIT_PAGE),
    ("usecases:rule_edit", EDIT_PAGE),
    ("usecases:delete", OWNER_PAGE),
]

KPI_DATA = {
    "name": "Stock-outs",
    "metric": "mae",
    "direction": "",
    "target": "3",
    "gate_threshold": "4",
    "gate_mode": "point",
    "is_gating": "on",
}
RULE_DATA = {"field": "price", "kind": "not_null", "severity": "error"}
USE_CASE_DATA = {
    "title": "Demand forecast v2",
    "task_type": "regression",
    "priority": "high",
    "risk_tier": "low",
    "feature_schema": "[]",
}

COSTS = {"cost_per_unit_under": "2.5", "cost_per_unit_over": "0.8"}
USE_CASE_WRITES = [  # (URL name, statuses, a valid POST body)
    ("usecases:edit", EDIT_WRITE, USE_CASE_DATA | {"owner": "olivia"}),
    ("usecases:kpi_create", EDIT_WRITE, KPI_DATA),
    ("usecases:kpi_edit", EDIT_WRITE, KPI_DATA | {"name": "Renamed"}),
    ("usecases:kpi_delete", EDIT_WRITE, {}),
    ("usecases:value_model_edit", EDIT_WRITE, {"currency": "EUR"} | COSTS),
    ("usecases:rule_create", EDIT_WRITE, RULE_DATA),
    ("usecases:rule_edit", EDIT_WRITE, RULE_DATA | {"kind": "range", "maximum": "9"}),
    ("usecases:rule_delete", EDIT_WRITE, {}),
    ("usecases:members", OWNER_WRITE, {"username": "newbie", "role": "viewer"}),
    ("usecases:member_role", OWNER_WRITE, {"role": "expert"}),
    ("usecases:member_remove", OWNER_WRITE, {}),
    ("usecases:delete", OWNER_WRITE, {}),
]


def use_case_url(name: str, use_case, kpi, rule, personas) -> str:
    kwargs = {"slug": use_case.slug}
    if name.startswith("usecases:kpi_") and name != "usecases:kpi_create":
        kwargs["pk"] = kpi.pk
    elif name.startswith("usecases:rule_") and name != "usecases:rule_create":
        kwargs["pk"] = rule.pk
    elif name.startswith("usecases:member_"):
        kwargs["pk"] = use_case.members.get(user=personas["viewer"]).pk
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(("name", "statuses"), USE_CASE_PAGES, ids=[n for n, _ in USE_CASE_PAGES])
def test_use_case_pages_answer_each_persona_with_the_status_its_role_allows(
    client, personas, use_case, kpi, rule, name, statuses, who
):
    login(client, personas, who)
    response = client.get(use_case_url(name, use_case, kpi, rule, personas))
    assert response.status_code == statuses[who]
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("name", "statuses", "data"), USE_CASE_WRITES, ids=[n for n, *_ in USE_CASE_WRITES]
)
def test_use_case_writes_are_allowed_exactly_to_the_roles_that_may_make_them(
    client, personas, use_case, kpi, rule, name, statuses, data, who
):
    UserFactory(username="newbie")
    login(client, personas, who)
    events_before = AuditEvent.objects.count()
    response = client.post(use_case_url(name, use_case, kpi, rule, personas), data)
    assert response.status_code == statuses[who]
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))
    # A write let through leaves its audit event; a refused one changes nothing.
    written = statuses[who] == 302 and who != "anonymous"
    assert AuditEvent.objects.count() == events_before + written


GLOBAL_PAGES = [
    "home",
    "portfolio:roadmap",
    "reviews:inbox",
    "promotions:overview",
    "usecases:list",
    "usecases:create",
    "usecases:api_tokens",
    "password_change",
    "password_change_done",
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize("name", GLOBAL_PAGES)
def test_pages_outside_a_use_case_need_a_login_and_nothing_more(client, personas, name, who):
    login(client, personas, who)
    response = client.get(reverse(name))
    assert response.status_code == ANY_USER[who]
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", PERSONAS)
def test_anyone_logged_in_may_propose_a_use_case(client, personas, who):
    login(client, personas, who)
    response = client.post(reverse("usecases:create"), USE_CASE_DATA)
    assert response.status_code == ANY_USER_WRITE[who]
    assert AuditEvent.objects.filter(verb="usecase.created").count() == (who != "anonymous")


@pytest.mark.parametrize("who", PERSONAS)
def test_anyone_logged_in_may_create_an_api_token_for_themselves(client, personas, who):
    login(client, personas, who)
    response = client.post(reverse("usecases:api_tokens"), {"expiry_days": "30"})
    assert response.status_code == ANY_USER[who]


@pytest.mark.parametrize("who", PERSONAS)
def test_only_the_tokens_owner_may_revoke_it(client, personas, who):
    from usecases.services import tokens

    token, _ = tokens.create_token(personas["viewer"], expiry_days=30)
    login(client, personas, who)
    response = client.post(reverse("usecases:api_token_revoke", args=[token.token_key]))
    expected = {"anonymous": 302, "viewer": 302} | {
        other: 404 for other in PERSONAS if other not in ("anonymous", "viewer")
    }
    assert response.status_code == expected[who]


def test_the_login_page_is_public(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in to Quorum" in response.content


@pytest.mark.parametrize("name", ["usecases:kpi_delete"])
def test_post_only_urls_refuse_get_the_same_way_for_any_slug(client, personas, use_case, kpi, name):
    """405 whether the use case exists or not, so a GET reveals nothing to outsiders."""
    login(client, personas, "outsider")
    kwargs = {"pk": kpi.pk} if name == "usecases:kpi_delete" else {}
    for slug in (use_case.slug, "no-such-use-case"):
        assert client.get(reverse(name, kwargs={"slug": slug, **kwargs})).status_code == 405


def test_a_kpi_of_another_use_case_is_not_found_through_this_one(client, personas, use_case):
    from tests.factories import KPIFactory, UseCaseFactory

    other = KPIFactory(use_case=UseCaseFactory(owner=personas["owner"]))
    login(client, personas, "owner")
    url = reverse("usecases:kpi_edit", kwargs={"slug": use_case.slug, "pk": other.pk})
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("who", "shown", "hidden"),
    [
        ("viewer", [], ["Add a KPI", "Edit the definition", "Delete", "Move"]),
        ("manager", [], ["Add a KPI", "Edit the definition", "Delete", "Move"]),
        ("expert", ["Add a KPI", "Edit the definition", "Add a rule"], ["Delete", ">Move<"]),
        ("owner", ["Add a KPI", "Edit the definition", "Delete", ">Move<"], []),
        ("admin", ["Add a KPI", "Edit the definition", "Delete", ">Move<"], []),
    ],
)
def test_the_detail_page_shows_only_the_buttons_the_user_may_use(
    client, personas, use_case, kpi, who, shown, hidden
):
    login(client, personas, who)
    page = client.get(use_case.get_absolute_url()).content.decode()
    for text in shown:
        assert text in page
    for text in hidden:
        assert text not in page
