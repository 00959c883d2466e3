"""Browser pages: what users see and do (permissions are in test_views_permissions.py)."""

import itertools
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken

from portal.errors import InvalidInput
from tests.conftest import login
from tests.factories import KPIFactory, MemberFactory, RuleFactory, UseCaseFactory, UserFactory
from usecases.models import KPI, AuditEvent, DataQualityRule, Role, UseCase, ValueModel
from usecases.services import definitions, tokens, usecases

HTMX = {"HX-Request": "true"}


def htmx(target: str) -> dict:
    return {**HTMX, "HX-Target": target}


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# Home, roadmap, reviews, promotions


# The home page's and the roadmap's tests are in tests/portfolio/.


def test_the_reviews_inbox_of_someone_with_nothing_to_review_says_so(client, personas):
    html = page(login(client, personas, "viewer").get(reverse("reviews:inbox")))
    assert "Nothing is waiting for you" in html


# Use case list


def test_list_shows_only_visible_use_cases_with_their_counts(client, personas, use_case, kpi):
    UseCaseFactory(title="Secret project", owner=personas["outsider"])
    html = page(login(client, personas, "viewer").get(reverse("usecases:list")))
    assert "Demand forecast" in html and "Secret project" not in html
    row = html.split("Demand forecast")[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in row and '<td class="num">4</td>' in row  # KPIs, members


def test_list_filters_by_search_phase_and_owner(client, personas, use_case):
    other = UseCaseFactory(
        title="Churn model", owner=personas["expert"], sponsor="Retail bank", phase="data"
    )
    MemberFactory(use_case=other, user=personas["viewer"])
    client = login(client, personas, "viewer")
    url = reverse("usecases:list")
    assert "Demand forecast" not in page(client.get(url, {"q": "retail"}))
    assert "Churn model" in page(client.get(url, {"q": "retail"}))
    by_phase = page(client.get(url, {"phase": "data"}))
    assert "Churn model" in by_phase and "Demand forecast" not in by_phase
    by_owner = page(client.get(url, {"owner": "olivia"}))
    assert "Demand forecast" in by_owner and "Churn model" not in by_owner
    assert "No use case matches" in page(client.get(url, {"q": "nothing like this"}))


def test_list_pages_by_25_and_keeps_the_filters_in_page_links(client, personas):
    for n in range(30):
        UseCaseFactory(title=f"Forecast {n:02}", owner=personas["owner"])
    client = login(client, personas, "owner")
    first = page(client.get(reverse("usecases:list"), {"q": "forecast"}))
    assert first.count("<tr>") == 26  # header + 25
    assert "?q=forecast&amp;page=2" in first
    second = page(client.get(reverse("usecases:list"), {"q": "forecast", "page": 2}))
    assert second.count("<tr>") == 6 and "Forecast 29" in second


def test_list_empty_state_invites_to_propose_a_use_case(client, personas):
    html = page(login(client, personas, "outsider").get(reverse("usecases:list")))
    assert "No use cases yet" in html and "Propose a use case" in html


# Create, edit, delete (the phase: tests/promotions/test_phases.py)


def test_creating_a_use_case_makes_the_creator_its_owner(client, personas):
    client = login(client, personas, "expert")
    schema = json.dumps([{"name": "age", "type": "integer"}])
    response = client.post(
        reverse("usecases:create"),
        {
            "title": "Churn",
            "task_type": "binary",
            "priority": "high",
            "risk_tier": "medium",
            "feature_schema": schema,
            "expected_value_per_year": "250000",
            "start_date": "2026-01-01",
            "target_date": "2026-06-30",
        },
    )
    created = UseCase.objects.get(title="Churn")
    assert response.status_code == 302 and response.url == created.get_absolute_url()
    assert created.owner == personas["expert"]
    assert created.members.get().role == Role.OWNER
    assert created.feature_schema == [{"name": "age", "type": "integer"}]
    assert AuditEvent.objects.filter(verb="usecase.created", use_case_id_ref=created.pk).exists()
    html = page(client.get(response.url))
    assert "you are its owner" in html and "<code>age</code>" in html and "250,000" in html


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ('[{"name": "age", "type": "integer"', "This is not valid JSON"),
        ('{"name": "age"}', "Expected a list"),
        (
            '[{"name": "age", "type": "integer"}, {"name": "age", "type": "number"}]',
            "appears twice",
        ),
        ('[{"name": "age", "type": "text"}]', "is not one of"),
    ],
)
def test_a_bad_feature_schema_is_explained_beside_the_field(client, personas, schema, message):
    client = login(client, personas, "expert")
    data = {"title": "Churn", "task_type": "binary", "priority": "low", "risk_tier": "low"}
    html = page(client.post(reverse("usecases:create"), data | {"feature_schema": schema}))
    field = html.split('class="field field-feature_schema has-error"')[1].split("</fieldset>")[0]
    assert message in field
    assert not UseCase.objects.filter(title="Churn").exists()


def test_a_target_date_before_the_start_is_refused(client, personas):
    data = {"title": "Churn", "task_type": "binary", "priority": "low", "risk_tier": "low"}
    dates = {"start_date": "2026-05-01", "target_date": "2026-04-01"}
    html = page(login(client, personas, "expert").post(reverse("usecases:create"), data | dates))
    assert "must not be before the start date" in html


def test_editing_the_definition_records_what_changed(client, personas, use_case):
    client = login(client, personas, "expert")
    form = page(client.get(reverse("usecases:edit", args=[use_case.slug])))
    assert "Owner (username)" not in form  # handing over ownership is for owners
    assert 'name="schema-0-name" value="store"' in form  # the schema, as rows
    response = client.post(
        reverse("usecases:edit", args=[use_case.slug]),
        {
            "title": "Demand forecast",
            "task_type": "regression",
            "priority": "critical",
            "risk_tier": "low",
            "sponsor": "Supply chain",
            "problem_statement": use_case.problem_statement,
            "feature_schema": json.dumps(use_case.feature_schema),
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(verb="usecase.updated")
    assert event.before == {"priority": "medium", "sponsor": ""}
    assert event.after == {"priority": "critical", "sponsor": "Supply chain"}


def test_the_task_type_cannot_change_while_kpis_depend_on_it(client, personas, use_case, kpi):
    client = login(client, personas, "owner")
    data = {"title": "Demand forecast", "priority": "medium", "risk_tier": "low", "owner": "olivia"}
    html = page(
        client.post(reverse("usecases:edit", args=[use_case.slug]), data | {"task_type": "binary"})
    )
    assert "Remove the KPIs before changing the task type" in html
    use_case.refresh_from_db()
    assert use_case.task_type == "regression"


def test_an_owner_hands_the_use_case_over_by_username(client, personas, use_case):
    client = login(client, personas, "owner")
    data = {"title": "Demand forecast", "task_type": "regression", "priority": "medium"}
    data |= {"risk_tier": "low", "feature_schema": "[]"}
    url = reverse("usecases:edit", args=[use_case.slug])
    assert "There is no active user named" in page(client.post(url, data | {"owner": "nobody"}))
    assert client.post(url, data | {"owner": "erik"}).status_code == 302
    use_case.refresh_from_db()
    assert use_case.owner == personas["expert"]
    assert use_case.members.get(user=personas["expert"]).role == Role.OWNER


def test_deleting_asks_for_confirmation_and_keeps_the_history(client, personas, use_case, kpi):
    client = login(client, personas, "owner")
    url = reverse("usecases:delete", args=[use_case.slug])
    confirm = page(client.get(url))
    assert "cannot be undone" in confirm and "1 KPI" in confirm
    response = client.post(url)
    assert response.status_code == 302 and response.url == reverse("usecases:list")
    assert not UseCase.objects.filter(pk=use_case.pk).exists()
    assert AuditEvent.objects.filter(verb="usecase.deleted", use_case_id_ref=use_case.pk).exists()


# Members


def test_an_owner_adds_a_member_by_username(client, personas, use_case):
    newcomer = UserFactory(username="nina")
    client = login(client, personas, "owner")
    url = reverse("usecases:members", args=[use_case.slug])
    response = client.post(url, {"username": "nina", "role": "expert"})
    assert response.status_code == 302
    assert use_case.members.get(user=newcomer).role == Role.EXPERT
    assert "nina is now domain expert." in page(client.get(url))


@pytest.mark.parametrize(
    ("username", "message"),
    [("erik", "erik is already a member."), ("nobody", "There is no user named “nobody”.")],
)
def test_adding_a_member_twice_or_an_unknown_user_shows_why(
    client, personas, use_case, username, message
):
    url = reverse("usecases:members", args=[use_case.slug])
    html = page(
        login(client, personas, "owner").post(url, {"username": username, "role": "viewer"})
    )
    assert message in html
    assert use_case.members.count() == 4


def test_an_owner_changes_a_members_role(client, personas, use_case):
    member = use_case.members.get(user=personas["viewer"])
    url = reverse("usecases:member_role", args=[use_case.slug, member.pk])
    assert login(client, personas, "owner").post(url, {"role": "expert"}).status_code == 302
    member.refresh_from_db()
    assert member.role == Role.EXPERT


def test_the_accountable_owner_cannot_be_removed_or_demoted(client, personas, use_case):
    member = use_case.members.get(user=personas["owner"])
    client = login(client, personas, "owner")
    remove = reverse("usecases:member_remove", args=[use_case.slug, member.pk])
    html = page(client.post(remove))
    row = html.split(f'id="member-{member.pk}"')[1].split("</tr>")[0]
    assert "accountable owner: name another owner" in row
    demote = reverse("usecases:member_role", args=[use_case.slug, member.pk])
    assert "accountable" in page(client.post(demote, {"role": "viewer"}))
    member.refresh_from_db()
    assert member.role == Role.OWNER


def test_the_last_owner_member_cannot_be_removed(client, personas, use_case):
    # Legacy data: the accountable owner lost the owner role, Erik is the only owner left.
    use_case.members.filter(user=personas["owner"]).update(role=Role.VIEWER)
    erik = use_case.members.get(user=personas["expert"])
    use_case.members.filter(pk=erik.pk).update(role=Role.OWNER)
    client = login(client, personas, "expert")
    html = page(client.post(reverse("usecases:member_remove", args=[use_case.slug, erik.pk])))
    assert "A use case needs at least one owner: add another owner first." in html
    assert use_case.members.filter(pk=erik.pk).exists()


def test_removing_a_member_takes_their_access_away(client, personas, use_case):
    member = use_case.members.get(user=personas["viewer"])
    url = reverse("usecases:member_remove", args=[use_case.slug, member.pk])
    assert login(client, personas, "owner").post(url).status_code == 302
    client.force_login(personas["viewer"])
    assert client.get(use_case.get_absolute_url()).status_code == 404


def test_members_page_is_read_only_for_those_who_cannot_manage(client, personas, use_case):
    html = page(
        login(client, personas, "expert").get(reverse("usecases:members", args=[use_case.slug]))
    )
    assert "Victor" in html or "victor" in html
    assert "Add a member" not in html and "Remove" not in html


# History


def test_history_shows_who_did_what_and_each_fields_before_and_after(client, personas, use_case):
    usecases.update_use_case(use_case, by=personas["expert"], title="Demand forecast v2")
    definitions.create_kpi(
        use_case, by=personas["expert"], name="Error", metric="mae", target=1, gate_threshold=2
    )
    html = page(
        login(client, personas, "viewer").get(reverse("usecases:history", args=[use_case.slug]))
    )
    assert "edited the definition" in html and "added the KPI “Error”" in html
    assert "<del>Demand forecast</del>" in html and "<ins>Demand forecast v2</ins>" in html
    assert html.index("added the KPI “Error”") < html.index("edited the definition")  # newest


def test_history_is_paginated(client, personas, use_case):
    for n in range(30):
        usecases.update_use_case(use_case, by=personas["owner"], sponsor=f"Sponsor {n}")
    client = login(client, personas, "viewer")
    url = reverse("usecases:history", args=[use_case.slug])
    assert page(client.get(url)).count('class="timeline-item"') == 25
    assert page(client.get(url, {"page": 2})).count('class="timeline-item"') == 5


# KPIs inline (htmx)

KPI_DATA = {
    "name": "Stock-out error",
    "metric": "mae",
    "direction": "",
    "target": "3",
    "gate_threshold": "4",
    "gate_mode": "point",
    "is_gating": "on",
}


def test_posting_a_kpi_with_htmx_returns_the_kpi_section_with_the_new_row(
    client, personas, use_case
):
    client = login(client, personas, "expert")
    url = reverse("usecases:kpi_create", args=[use_case.slug])
    response = client.post(url, KPI_DATA, headers=htmx("kpis"))
    html = page(response)
    assert html.lstrip().startswith('<section class="card" id="kpis"')
    assert "<html" not in html and "Stock-out error" in html and "added." in html
    kpi = KPI.objects.get(use_case=use_case, name="Stock-out error")
    assert kpi.direction == KPI.Direction.LOWER  # from the metric, as it was left blank
    assert kpi.is_gating and kpi.gate_mode == KPI.GateMode.POINT
    event = AuditEvent.objects.get(verb="kpi.created")
    assert event.use_case_id_ref == use_case.pk and event.actor == personas["expert"]


def test_the_add_kpi_link_fetches_only_the_form_section(client, personas, use_case):
    client = login(client, personas, "expert")
    html = page(
        client.get(reverse("usecases:kpi_create", args=[use_case.slug]), headers=htmx("kpis"))
    )
    assert html.lstrip().startswith('<section class="card" id="kpis"')
    assert 'id="kpi-form"' in html and 'name="metric"' in html
    # The same URL without htmx is the whole page with the form open (works without JS).
    full = page(client.get(reverse("usecases:kpi_create", args=[use_case.slug])))
    assert "<html" in full and 'id="kpi-form"' in full


def test_without_htmx_a_kpi_post_redirects_back_to_the_kpi_table(client, personas, use_case):
    client = login(client, personas, "expert")
    response = client.post(reverse("usecases:kpi_create", args=[use_case.slug]), KPI_DATA)
    assert response.status_code == 302
    assert response.url == use_case.get_absolute_url() + "#kpis"
    assert "Stock-out error" in page(client.get(use_case.get_absolute_url()))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"metric": "roc_auc"}, "metric", "ROC AUC does not apply to regression"),
        ({"gate_threshold": "2"}, "gate_threshold", "must not be below the target"),
        (
            {
                "metric": "business_value",
                "direction": "higher",
                "target": "5",
                "gate_threshold": "9",
            },
            "gate_threshold",
            "must not be above the target",
        ),
        ({"target": "-1"}, "target", "MAE cannot be negative"),
        ({"target": "lots"}, "target", "Enter a number"),
    ],
)
def test_kpi_errors_come_back_in_the_form_with_status_200(
    client, personas, use_case, changes, field, message
):
    client = login(client, personas, "expert")
    url = reverse("usecases:kpi_create", args=[use_case.slug])
    html = page(client.post(url, KPI_DATA | changes, headers=htmx("kpis")))
    error = html.split(f'class="field field-{field} has-error"')[1].split("</div>")[0]
    assert message in error
    assert not KPI.objects.exists()


def test_a_kpi_name_is_unique_within_a_use_case(client, personas, use_case, kpi):
    url = reverse("usecases:kpi_create", args=[use_case.slug])
    data = KPI_DATA | {"name": kpi.name}
    html = page(login(client, personas, "expert").post(url, data, headers=htmx("kpis")))
    assert "already has a KPI named" in html


def test_editing_and_deleting_a_kpi_inline(client, personas, use_case, kpi):
    client = login(client, personas, "expert")
    edit = reverse("usecases:kpi_edit", args=[use_case.slug, kpi.pk])
    form = page(client.get(edit, headers=htmx("kpis")))
    assert 'value="Forecast error"' in form and 'class="is-editing"' in form
    html = page(
        client.post(edit, KPI_DATA | {"name": "Renamed", "is_gating": ""}, headers=htmx("kpis"))
    )
    assert "Renamed" in html and "Not gating" in html
    kpi.refresh_from_db()
    assert kpi.name == "Renamed" and not kpi.is_gating
    delete = reverse("usecases:kpi_delete", args=[use_case.slug, kpi.pk])
    html = page(client.post(delete, headers=htmx("kpis")))
    assert "No KPIs yet" in html and not KPI.objects.exists()
    assert [e.verb for e in AuditEvent.objects.order_by("id")][-2:] == [
        "kpi.updated",
        "kpi.deleted",
    ]


# Value model and data-quality rules inline


def test_the_value_model_form_asks_only_what_the_task_type_uses(client, personas, use_case):
    client = login(client, personas, "expert")
    url = reverse("usecases:value_model_edit", args=[use_case.slug])
    form = page(client.get(url, headers=htmx("value-model")))
    assert "cost_per_unit_under" in form and "value_true_positive" not in form
    html = page(
        client.post(
            url, {"currency": "eur", "cost_per_unit_under": "2.5"}, headers=htmx("value-model")
        )
    )
    assert "This field is required" in html  # the over-prediction cost
    data = {"currency": "eur", "cost_per_unit_under": "2.5", "cost_per_unit_over": "0.8"}
    html = page(client.post(url, data, headers=htmx("value-model")))
    assert "2.50 EUR" in html and "Value model saved." in html
    assert ValueModel.objects.get(use_case=use_case).currency == "EUR"


def test_a_classification_value_model_asks_for_outcome_values(client, personas):
    churn = UseCaseFactory(owner=personas["owner"], task_type="binary", feature_schema=[])
    client = login(client, personas, "owner")
    form = page(client.get(reverse("usecases:value_model_edit", args=[churn.slug])))
    assert "Value of a true positive" in form and "Cost per unit" not in form


@pytest.mark.parametrize(
    ("data", "params"),
    [
        ({"kind": "range", "minimum": "0", "maximum": "120"}, {"min": 0.0, "max": 120.0}),
        ({"kind": "range", "maximum": "120"}, {"max": 120.0}),
        ({"kind": "allowed_values", "allowed_values": "A, B ,C"}, {"values": ["A", "B", "C"]}),
        ({"kind": "regex", "pattern": r"^S\d+$"}, {"pattern": r"^S\d+$"}),
        ({"kind": "max_null_rate", "max_rate_percent": "5"}, {"max_rate": 0.05}),
        ({"kind": "not_null"}, {}),
    ],
)
def test_rule_inputs_become_the_rules_parameters(client, personas, use_case, data, params):
    client = login(client, personas, "expert")
    url = reverse("usecases:rule_create", args=[use_case.slug])
    column = "store" if data["kind"] in ("allowed_values", "regex") else "price"  # it fits
    html = page(
        client.post(url, {"field": column, "severity": "warning"} | data, headers=htmx("rules"))
    )
    rule = DataQualityRule.objects.get(use_case=use_case)
    assert rule.params == params and rule.severity == "warning"
    assert rule.summary in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "range"}, "minimum", "needs a minimum, a maximum or both"),
        ({"kind": "range", "minimum": "5", "maximum": "1"}, "minimum", "must not be above"),
        ({"kind": "regex", "pattern": "(unclosed"}, "pattern", "Not a valid regular expression"),
        ({"kind": "allowed_values", "allowed_values": " , "}, "allowed_values", "at least one"),
        ({"kind": "max_null_rate", "max_rate_percent": "150"}, "max_rate_percent", "less than"),
        ({"kind": "not_null", "field": "colour"}, "field", "Select a valid choice"),
        (
            {"kind": "regex", "pattern": "^1", "field": "price"},
            "kind",
            "does not fit “price”, a number column",
        ),
    ],
)
def test_rule_errors_are_shown_beside_the_input_that_caused_them(
    client, personas, use_case, data, field, message
):
    client = login(client, personas, "expert")
    url = reverse("usecases:rule_create", args=[use_case.slug])
    fits = (
        data["kind"] in ("allowed_values", "regex")
        and "pattern" in data
        and data["pattern"] != "^1"
    )
    column = "store" if fits or data["kind"] == "allowed_values" else "price"
    html = page(
        client.post(url, {"field": column, "severity": "error"} | data, headers=htmx("rules"))
    )
    error = html.split(f'class="field field-{field} has-error"')[1].split("</div>")[0]
    assert message in error
    assert not DataQualityRule.objects.exists()


def test_a_second_rule_of_the_same_kind_on_a_column_is_refused(client, personas, use_case, rule):
    url = reverse("usecases:rule_create", args=[use_case.slug])
    data = {"field": "price", "kind": "range", "minimum": "1", "severity": "error"}
    html = page(login(client, personas, "expert").post(url, data, headers=htmx("rules")))
    assert "already has a rule of that kind" in html


def test_editing_a_rule_prefills_its_parameters_and_saves_them(client, personas, use_case, rule):
    client = login(client, personas, "expert")
    url = reverse("usecases:rule_edit", args=[use_case.slug, rule.pk])
    form = page(client.get(url, headers=htmx("rules")))
    assert 'name="maximum" value="1000"' in form
    data = {"field": "price", "kind": "range", "minimum": "0", "maximum": "50", "severity": "error"}
    assert "between 0 and 50" in page(client.post(url, data, headers=htmx("rules")))
    delete = reverse("usecases:rule_delete", args=[use_case.slug, rule.pk])
    assert "No data-quality rules yet" in page(client.post(delete, headers=htmx("rules")))


# API tokens


def test_a_new_token_is_shown_once_and_listed_by_its_key_only(client, personas):
    client = login(client, personas, "data_scientist")
    url = reverse("usecases:api_tokens")
    html = page(client.post(url, {"expiry_days": "30"}))
    token = AuthToken.objects.get(user=personas["data_scientist"])
    clear = html.split('id="new-token"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert clear.startswith(token.token_key) and len(clear) > len(token.token_key)
    assert "shown only this once" in html
    assert round((token.expiry - token.created).total_seconds() / 86400) == 30
    again = page(client.get(url))
    assert token.token_key in again and clear not in again and token.digest not in again
    event = AuditEvent.objects.get(verb="token.created")
    assert event.after["token_key"] == token.token_key and event.use_case_id_ref is None


def test_a_token_may_never_expire(client, personas):
    login(client, personas, "viewer").post(reverse("usecases:api_tokens"), {"expiry_days": "0"})
    assert AuthToken.objects.get(user=personas["viewer"]).expiry is None


def test_revoking_a_token_deletes_it_and_is_audited(client, personas):
    token, _ = tokens.create_token(personas["viewer"], expiry_days=90)
    client = login(client, personas, "viewer")
    response = client.post(reverse("usecases:api_token_revoke", args=[token.token_key]))
    assert response.status_code == 302
    assert not AuthToken.objects.exists()
    assert AuditEvent.objects.filter(verb="token.revoked", actor=personas["viewer"]).exists()
    assert "is revoked" in page(client.get(response.url))


def test_someone_elses_token_cannot_be_revoked(client, personas):
    token, _ = tokens.create_token(personas["viewer"], expiry_days=90)
    url = reverse("usecases:api_token_revoke", args=[token.token_key])
    assert login(client, personas, "admin").post(url).status_code == 404
    assert AuthToken.objects.filter(pk=token.pk).exists()


def test_the_token_service_refuses_an_expiry_not_offered(personas):
    with pytest.raises(InvalidInput):
        tokens.create_token(personas["viewer"], expiry_days=7)
    assert not AuthToken.objects.exists()


def test_the_token_list_is_empty_at_first_and_shows_only_mine(client, personas):
    tokens.create_token(personas["viewer"], expiry_days=90)
    html = page(login(client, personas, "expert").get(reverse("usecases:api_tokens")))
    assert "You have no API tokens" in html


# Account and layout


def test_login_logout_and_password_change(client, personas):
    response = client.post(
        reverse("login"), {"username": "erik", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302 and response.url == reverse("home")
    html = page(client.get(reverse("home")))
    assert f'action="{reverse("logout")}"' in html and "API tokens" in html
    html = page(client.get(reverse("password_change")))
    assert 'name="old_password"' in html
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "correct-horse-battery",
            "new_password1": "a-new-long-passphrase",
            "new_password2": "a-new-long-passphrase",
        },
    )
    assert response.url == reverse("password_change_done")
    assert "Your password is changed" in page(client.get(response.url))
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_a_wrong_password_is_explained(client, personas):
    html = page(client.post(reverse("login"), {"username": "erik", "password": "nope"}))
    assert "did not match" in html


def test_every_page_sends_the_csrf_token_to_htmx_and_has_no_inline_script(
    client, personas, use_case
):
    html = page(login(client, personas, "owner").get(use_case.get_absolute_url()))
    assert 'hx-headers=\'{"x-csrftoken": "' in html
    assert "django_htmx/htmx-2.min.js" in html
    assert "<script>" not in html and "hx-on" not in html and "unpkg" not in html
    assert "plotly" not in html  # only pages with charts load it


def test_a_forbidden_action_explains_itself(client, personas, use_case):
    response = login(client, personas, "viewer").get(reverse("usecases:edit", args=[use_case.slug]))
    assert response.status_code == 403
    assert "You may not edit this use case." in response.content.decode()


# Query counts: a page costs the same whatever the amount of data


def queries(client, url: str, **kwargs) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, **kwargs)
    assert response.status_code == 200
    return len(context)


def add_use_cases(personas, n: int) -> None:
    for _ in range(n):
        use_case = UseCaseFactory(owner=personas["owner"])
        MemberFactory(use_case=use_case, user=personas["viewer"])
        KPIFactory(use_case=use_case)


@pytest.mark.parametrize(
    "url",
    [reverse("usecases:list"), reverse("portfolio:roadmap"), reverse("home")],
)
def test_use_case_lists_cost_the_same_queries_for_3_or_30_use_cases(client, personas, url):
    client = login(client, personas, "viewer")
    add_use_cases(personas, 3)
    few = queries(client, url)
    add_use_cases(personas, 27)
    assert queries(client, url) == few


def test_the_detail_page_costs_the_same_queries_for_3_or_30_kpis(client, personas, use_case):
    client = login(client, personas, "viewer")
    definitions.save_value_model(
        use_case, by=personas["owner"], cost_per_unit_under="1", cost_per_unit_over="1"
    )

    columns = (f"column_{i}" for i in itertools.count())

    def add(n: int) -> None:
        KPIFactory.create_batch(n, use_case=use_case)
        MemberFactory.create_batch(n, use_case=use_case)
        for _ in range(n):
            RuleFactory(use_case=use_case, field=next(columns))

    add(3)
    few = queries(client, use_case.get_absolute_url())
    add(27)
    assert use_case.kpis.count() == 30
    assert queries(client, use_case.get_absolute_url()) == few


def test_members_and_history_cost_the_same_queries_whatever_their_length(
    client, personas, use_case
):
    client = login(client, personas, "owner")
    members = reverse("usecases:members", args=[use_case.slug])
    history = reverse("usecases:history", args=[use_case.slug])
    usecases.update_use_case(use_case, by=personas["owner"], sponsor="A")
    few = (queries(client, members), queries(client, history))
    for n in range(25):
        MemberFactory(use_case=use_case)
        usecases.update_use_case(use_case, by=personas["owner"], sponsor=f"S{n}")
    assert (queries(client, members), queries(client, history)) == few


def test_the_kpi_fragment_costs_the_same_queries_for_3_or_30_kpis(client, personas, use_case):
    client = login(client, personas, "expert")
    url = reverse("usecases:kpi_create", args=[use_case.slug])
    KPIFactory.create_batch(3, use_case=use_case)
    few = queries(client, url, headers=htmx("kpis"))
    KPIFactory.create_batch(27, use_case=use_case)
    assert queries(client, url, headers=htmx("kpis")) == few


def test_removing_a_member_is_confirmed_with_its_consequences_and_can_be_undone(
    client, personas, use_case
):
    member = use_case.members.get(user=personas["expert"])
    url = reverse("usecases:member_remove", args=[use_case.slug, member.pk])
    owner = login(client, personas, "owner")
    members_page = page(owner.get(reverse("usecases:members", args=[use_case.slug])))
    assert f'href="{url}"' in members_page  # a link to the confirmation, not a one-click POST
    confirm = page(owner.get(url))
    assert "Remove Erik from “Demand forecast”?" in confirm
    assert "no more review campaigns or approvals as its domain expert" in confirm
    assert "their reviews, decisions and the history" in confirm
    assert use_case.members.filter(pk=member.pk).exists()  # asking removes nothing

    response = owner.post(url)
    assert response.status_code == 302 and not use_case.members.filter(pk=member.pk).exists()
    after = page(owner.get(response.url))
    assert "erik was removed." in after and 'id="undo-removal"' in after
    assert 'name="role" value="expert"' in after
    assert 'id="undo-removal"' not in page(owner.get(response.url))  # offered once

    undone = owner.post(
        reverse("usecases:members", args=[use_case.slug]), {"username": "erik", "role": "expert"}
    )
    assert undone.status_code == 302
    assert use_case.members.get(user=personas["expert"]).role == Role.EXPERT


def test_a_manager_removed_as_member_is_told_they_keep_reading_it(client, personas, use_case):
    member = use_case.members.create(user=personas["manager"], role=Role.VIEWER)
    url = reverse("usecases:member_remove", args=[use_case.slug, member.pk])
    confirm = page(login(client, personas, "owner").get(url))
    assert "They keep reading it as a manager" in confirm


def test_the_kpi_form_offers_only_the_metrics_of_the_task_type(client, personas, use_case):
    """A regression use case: MAE, WAPE… are offered; ROC AUC or accuracy are not."""
    from usecases.catalogue import METRIC_TASK_TYPES, Metric

    form = page(
        login(client, personas, "expert").get(
            reverse("usecases:kpi_create", args=[use_case.slug]), headers=htmx("kpis")
        )
    )
    select = form.split('name="metric"')[1].split("</select>")[0]
    for metric in Metric:
        offered = f'value="{metric.value}"' in select
        assert offered == ("regression" in METRIC_TASK_TYPES[metric]), metric


# The feature schema as rows (issue 11, item 13)


def schema_post(rows: list[dict], **extra) -> dict:
    data = {"schema-TOTAL": str(len(rows))} | extra
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"schema-{i}-{key}"] = value
    return data


CREATE = {"title": "Churn", "task_type": "binary", "priority": "medium", "risk_tier": "low"}


def test_the_schema_is_written_as_rows_with_units_and_allowed_values(client, personas):
    browser = login(client, personas, "owner")
    form = page(browser.get(reverse("usecases:create")))
    assert 'id="schema-rows"' in form and 'name="schema-0-name"' in form
    assert 'name="feature_schema"' not in form  # no raw JSON on the page
    rows = [
        {"name": "age", "type": "integer", "unit": "years", "description": "At signup"},
        {"name": "plan", "type": "category", "values": "basic, pro, basic"},
        {"name": "", "type": "number", "unit": "ignored: no name"},
    ]
    response = browser.post(reverse("usecases:create"), CREATE | schema_post(rows))
    assert response.status_code == 302
    created = UseCase.objects.get(title="Churn")
    assert created.feature_schema == [
        {"name": "age", "type": "integer", "unit": "years", "description": "At signup"},
        {"name": "plan", "type": "category", "values": ["basic", "pro"]},
    ]
    edit = page(browser.get(reverse("usecases:edit", args=[created.slug])))
    assert 'name="schema-1-values" value="basic, pro"' in edit
    detail = page(browser.get(created.get_absolute_url()))
    assert "(years)" in detail and "one of basic, pro" in detail


def test_adding_a_row_and_importing_a_header_save_nothing(client, personas):
    browser = login(client, personas, "owner")
    url = reverse("usecases:create")
    rows = [{"name": "age", "type": "integer"}]
    more = page(browser.post(url, CREATE | schema_post(rows, schema_action="add-row")))
    assert 'name="schema-0-name" value="age"' in more and 'name="schema-3-name"' in more
    imported = page(
        browser.post(
            url,
            CREATE
            | schema_post(rows, schema_action="import-header", schema_header='age,"plan",price'),
        )
    )
    assert 'name="schema-1-name" value="plan"' in imported
    assert 'name="schema-2-name" value="price"' in imported
    assert 'name="schema-3-name" value="age"' not in imported  # already a row
    assert not UseCase.objects.filter(title="Churn").exists()


def test_a_bad_row_is_explained_and_the_rows_come_back_as_typed(client, personas):
    browser = login(client, personas, "owner")
    rows = [{"name": "2fast", "type": "number"}, {"name": "plan", "type": "number", "values": "a"}]
    html = page(browser.post(reverse("usecases:create"), CREATE | schema_post(rows)))
    assert "not a valid column name" in html
    assert 'name="schema-0-name" value="2fast"' in html
    rows[0]["name"] = "fast"
    html = page(browser.post(reverse("usecases:create"), CREATE | schema_post(rows)))
    assert "allowed values are for category features, not number" in html


def test_the_api_keeps_taking_the_schema_as_json(api):
    schema = [{"name": "plan", "type": "category", "unit": "", "values": ["basic", "pro"]}]
    body = {"title": "Churn", "task_type": "binary", "feature_schema": schema}
    created = api("owner").post("/api/v1/usecases/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["feature_schema"] == [
        {"name": "plan", "type": "category", "values": ["basic", "pro"]}
    ]
