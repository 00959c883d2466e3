"""The monitoring policy (the alert thresholds): its page and its API. Every member reads it,
the owner and admins change it (SET_POLICY); ranges as the database's check constraint
says, shown as percentages on the page and as shares in the API; each change audited and
read in words on the History tab; nothing the schema fuzz may send ends in a 500."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from monitoring.models import MonitoringPolicy
from monitoring.services import alerts
from portal.errors import InvalidFields
from tests.conftest import PERSONAS, expected_status, fields_in, login
from usecases.activity import sentences
from usecases.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGE = "/usecases/demand-forecast/monitoring/policy/"
API = "/api/v1/usecases/demand-forecast/monitoring/policy"
READERS = {"viewer", "data_scientist", "expert", "owner", "manager", "admin"}
EDITORS = {"owner", "admin"}  # SET_POLICY, as the promotion policy
DEFAULTS = {
    "psi_threshold": 0.2,
    "is_p_value_alerting": False,
    "p_value_level": 0.01,
    "max_violation_rate": 0.05,
    "max_refused_rate": 0.05,
    "silence_hours": 24,
    "is_kpi_alerting": True,
    "reference_start": None,
    "reference_end": None,
}
WINDOW = ("reference_start", "reference_end")
# The page's fields: the shares of rows as percentages.
FORM = {
    "psi_threshold": "0.25",
    "p_value_level": "0.01",
    "max_violation_percent": "5",
    "max_refused_percent": "2.5",
    "silence_hours": "12",
    "is_kpi_alerting": "on",
}


def policy_events():
    return AuditEvent.objects.filter(verb="monitoring_policy.changed")


def saved_policy(use_case) -> dict:
    policy = MonitoringPolicy.objects.get(use_case=use_case)
    return {name: getattr(policy, name) for name in DEFAULTS}


# The page --------------------------------------------------------------------------------


def test_the_url_name_is_the_policy_page():
    assert reverse("monitoring:policy", args=["demand-forecast"]) == PAGE


@pytest.mark.parametrize("who", PERSONAS)
def test_the_page_shows_each_persona_the_form_or_the_thresholds_as_its_role_allows(
    client, personas, use_case, who
):
    response = login(client, personas, who).get(PAGE)
    expected = {"anonymous": 302, "outsider": 404}.get(who, 200)
    assert response.status_code == expected
    if expected != 200:
        return
    html = response.content.decode()
    assert ('id="policy-form"' in html) is (who in EDITORS)
    assert ('id="policy-read-only"' in html) is (who not in EDITORS)
    assert not MonitoringPolicy.objects.exists()  # reading writes nothing


@pytest.mark.parametrize("who", PERSONAS)
def test_saving_on_the_page_is_for_the_owner_and_admins(client, personas, use_case, who):
    response = login(client, personas, who).post(PAGE, FORM)
    allowed = who in EDITORS
    expected = {"anonymous": 302, "outsider": 404}.get(who, 302 if allowed else 403)
    assert response.status_code == expected
    if who == "anonymous":
        assert response["Location"].startswith("/accounts/login/")
    assert MonitoringPolicy.objects.exists() is allowed
    assert policy_events().count() == (1 if allowed else 0)


def test_the_form_shows_shares_as_percentages_and_saves_them_as_shares(client, personas, use_case):
    client = login(client, personas, "owner")
    html = client.get(PAGE).content.decode()
    assert 'name="max_refused_percent" value="5"' in html  # 5 %, not 0.05
    assert "Largest share of rows refused at ingestion (%)" in html
    response = client.post(PAGE, FORM, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "The monitoring policy is saved: the next daily runs use it."
    ]
    assert saved_policy(use_case) == {
        "psi_threshold": 0.25,
        "is_p_value_alerting": False,
        "p_value_level": 0.01,
        "max_violation_rate": 0.05,
        "max_refused_rate": 0.025,
        "silence_hours": 12,
        "is_kpi_alerting": True,
        "reference_start": None,
        "reference_end": None,
    }
    assert 'name="max_refused_percent" value="2.5"' in response.content.decode()


def test_saving_on_the_page_keeps_a_finer_share_set_through_the_api(
    client, api, personas, use_case
):
    assert api("owner").patch(API, {"max_violation_rate": 4e-7}, format="json").status_code == 200
    client = login(client, personas, "owner")
    html = client.get(PAGE).content.decode()
    form = {**FORM, "max_refused_percent": "5", "silence_hours": "24"}
    shown = html.split('name="max_violation_percent" value="')[1].split('"')[0]
    form["max_violation_percent"] = shown  # as the page shows it: rounded
    client.post(PAGE, form)
    saved = saved_policy(use_case)
    assert saved["psi_threshold"] == 0.25 and saved["max_violation_rate"] == 4e-7


def test_saving_the_same_values_again_changes_nothing_and_says_so(client, personas, use_case):
    client = login(client, personas, "owner")
    client.post(PAGE, FORM, follow=True)  # its message shown
    response = client.post(PAGE, FORM, follow=True)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Nothing changed."]
    assert policy_events().count() == 1


def test_people_who_may_not_edit_read_every_threshold_in_words(client, personas, use_case):
    MonitoringPolicy.objects.create(use_case=use_case, max_refused_rate=0.075, silence_hours=48)
    html = login(client, personas, "viewer").get(PAGE).content.decode()
    for text in (
        "PSI threshold</dt><dd>0.2",
        "Largest share of rows refused at ingestion</dt><dd>7.5 %",
        "Largest share of rows breaking a rule</dt><dd>5 %",
        "Hours without predictions</dt><dd>48",
        "Alert on p-values too</dt><dd>Off",
        "Alert when a gating KPI misses its gate</dt><dd>On",
        "Only the owner and admins change them.",
    ):
        assert text in html, text
    assert '<form method="post"' not in html.split('id="policy-read-only"')[1]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"psi_threshold": "0"}, "psi_threshold", "A PSI threshold above 0"),
        ({"psi_threshold": "-1"}, "psi_threshold", "A PSI threshold above 0"),
        ({"psi_threshold": "nan"}, "psi_threshold", "Enter a number."),
        ({"psi_threshold": "inf"}, "psi_threshold", "Enter a number."),
        ({"psi_threshold": "1\x00"}, "psi_threshold", "Enter a number."),
        ({"p_value_level": "1"}, "p_value_level", "between 0 and 1"),
        ({"p_value_level": "0"}, "p_value_level", "between 0 and 1"),
        ({"max_violation_percent": "101"}, "max_violation_percent", "from 0 to 100 %"),
        ({"max_refused_percent": "-0.5"}, "max_refused_percent", "from 0 to 100 %"),
        ({"max_refused_percent": ""}, "max_refused_percent", "This field is required."),
        ({"silence_hours": "0"}, "silence_hours", "from 1 to 8,760"),
        ({"silence_hours": "99999999999999999999"}, "silence_hours", "from 1 to 8,760"),
        ({"silence_hours": "1.5"}, "silence_hours", "Enter a whole number."),
    ],
)
def test_a_threshold_out_of_range_is_a_form_error_and_nothing_is_saved(
    client, personas, use_case, changes, field, message
):
    response = login(client, personas, "owner").post(PAGE, FORM | changes)
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {field}
    assert message in form.errors[field][0]
    html = response.content.decode()
    assert "Nothing is saved: please correct the fields marked below." in html
    assert f'id="id_{field}_error"' in html
    assert not MonitoringPolicy.objects.exists() and not policy_events().exists()


def test_a_refusal_of_the_service_lands_on_the_percentage_it_concerns(personas, use_case):
    from monitoring.forms import PolicyForm
    from portal.web import add_service_error

    form = PolicyForm(FORM)
    assert form.is_valid()
    error = InvalidFields(alerts.check_policy({"max_refused_rate": 2.0}))
    add_service_error(form, error)
    assert set(form.errors) == {"max_refused_percent"}


def test_the_history_tab_reads_the_change_in_words(client, personas, use_case):
    client = login(client, personas, "owner")
    client.post(PAGE, FORM | {"is_p_value_alerting": "on"})
    [event] = policy_events()
    assert event.actor == personas["owner"] and event.target_type == "monitoringpolicy"
    assert event.before == {
        "psi_threshold": 0.2,
        "is_p_value_alerting": False,
        "max_refused_rate": 0.05,
        "silence_hours": 24,
    }
    [entry] = sentences([event])
    assert entry.text == (
        "Olivia changed the monitoring policy (alerts on p-values no → yes, largest share of "
        "rows refused 0.05 → 0.025, PSI threshold 0.2 → 0.25 and 1 more)"
    )
    assert ("PSI threshold", "0.2", "0.25") in entry.changes
    assert ("hours without predictions", "24", "12") in entry.changes
    assert entry.url == PAGE
    history = client.get(reverse("usecases:history", args=[use_case.slug])).content.decode()
    assert "changed the monitoring policy" in history and "PSI threshold 0.2 → 0.25" in history


# The service -----------------------------------------------------------------------------


def test_save_policy_changes_only_what_it_is_given_and_audits_only_changes(personas, use_case):
    owner = personas["owner"]
    policy = alerts.save_policy(use_case, by=owner, silence_hours=6)
    assert saved_policy(use_case) == DEFAULTS | {"silence_hours": 6}
    assert alerts.save_policy(use_case, by=owner, silence_hours=6) == policy
    assert alerts.save_policy(use_case, by=owner, **DEFAULTS | {"silence_hours": 6}) == policy
    [event] = policy_events()
    assert (event.before, event.after) == ({"silence_hours": 24}, {"silence_hours": 6})


def test_a_policy_left_at_the_defaults_is_not_written(personas, use_case):
    policy = alerts.save_policy(use_case, by=personas["owner"], **DEFAULTS)
    assert policy.pk is None and not MonitoringPolicy.objects.exists()
    assert not policy_events().exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("psi_threshold", 0),
        ("psi_threshold", float("nan")),
        ("psi_threshold", float("inf")),
        ("psi_threshold", True),
        ("psi_threshold", "0.3"),
        ("p_value_level", 1.0),
        ("max_violation_rate", 1.01),
        ("max_refused_rate", -0.01),
        ("silence_hours", 0),
        ("silence_hours", 8761),
        ("silence_hours", 2.0),
        ("is_kpi_alerting", 1),
    ],
)
def test_the_service_refuses_a_threshold_out_of_range_whoever_calls(
    personas, use_case, field, value
):
    with pytest.raises(InvalidFields) as refused:
        alerts.save_policy(use_case, by=personas["owner"], **{field: value})
    assert [item["field"] for item in refused.value.error_items()] == [field]
    assert not MonitoringPolicy.objects.exists()


def test_the_service_takes_the_edges_of_each_range(personas, use_case):
    edges = {"max_violation_rate": 0.0, "max_refused_rate": 1.0, "silence_hours": 8760}
    alerts.save_policy(use_case, by=personas["owner"], p_value_level=0.999, **edges)
    assert saved_policy(use_case) == DEFAULTS | edges | {"p_value_level": 0.999}


def test_an_unknown_field_is_a_programming_error(personas, use_case):
    with pytest.raises(TypeError):
        alerts.save_policy(use_case, by=personas["owner"], use_case_id=3)


# The API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("method", "body", "allowed"),
    [
        pytest.param("get", None, READERS, id="get"),
        pytest.param("put", DEFAULTS | {"psi_threshold": 0.3}, EDITORS, id="put"),
        pytest.param("patch", {"silence_hours": 6}, EDITORS, id="patch"),
    ],
)
def test_the_policy_endpoint_answers_each_persona_as_its_role_allows(
    api, use_case, who, method, body, allowed
):
    response = getattr(api(who), method)(API, body, format="json")
    assert response.status_code == expected_status(who, allowed, 200), response.content
    changed = method != "get" and response.status_code == 200
    assert MonitoringPolicy.objects.exists() is changed
    if response.status_code >= 400:
        assert set(response.json()) >= {"detail", "code"}


def test_get_gives_the_defaults_without_writing_them(api, use_case):
    body = api("viewer").get(API).json()
    assert body == DEFAULTS | {"updated_at": None}
    assert not MonitoringPolicy.objects.exists()


def test_put_replaces_every_threshold_and_patch_only_those_given(api, use_case, personas):
    client = api("owner")
    wanted = DEFAULTS | {"psi_threshold": 0.3, "is_p_value_alerting": True, "silence_hours": 6}
    body = client.put(API, wanted, format="json").json()
    assert {name: body[name] for name in DEFAULTS} == wanted and body["updated_at"]
    body = client.patch(API, {"max_refused_rate": 0.1}, format="json").json()
    assert {name: body[name] for name in DEFAULTS} == wanted | {"max_refused_rate": 0.1}
    assert api("viewer").get(API).json()["max_refused_rate"] == 0.1
    events = policy_events().order_by("id")
    assert [e.actor_name for e in events] == ["olivia", "olivia"]
    assert (events[1].before, events[1].after) == (
        {"max_refused_rate": 0.05},
        {"max_refused_rate": 0.1},
    )


def test_put_needs_every_field_and_names_each_missing_one(api, use_case):
    response = api("owner").put(API, {"psi_threshold": 0.3}, format="json")
    assert response.status_code == 400
    # The reference window is optional: without it, the holdout.
    assert fields_in(response) == set(DEFAULTS) - {"psi_threshold", *WINDOW}
    assert not MonitoringPolicy.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"psi_threshold": 0}, {"psi_threshold"}),
        ({"psi_threshold": -0.5, "p_value_level": 1}, {"psi_threshold", "p_value_level"}),
        ({"p_value_level": 0}, {"p_value_level"}),
        ({"max_violation_rate": 5}, {"max_violation_rate"}),  # 5 %, given as a percentage
        ({"max_refused_rate": -0.01}, {"max_refused_rate"}),
        ({"silence_hours": 0}, {"silence_hours"}),
        ({"silence_hours": 10**30}, {"silence_hours"}),  # past any integer column
        ({"silence_hours": 1.5}, {"silence_hours"}),
        ({"psi_threshold": "NaN"}, {"psi_threshold"}),
        ({"psi_threshold": "Infinity"}, {"psi_threshold"}),
        ({"psi_threshold": "0.3\x00"}, {"psi_threshold"}),
        ({"psi_threshold": None, "is_kpi_alerting": None}, {"psi_threshold", "is_kpi_alerting"}),
        ({"is_p_value_alerting": "maybe"}, {"is_p_value_alerting"}),
        ({"silence_hours": "9" * 5000}, {"silence_hours"}),
        ({"psi_threshold": [0.3]}, {"psi_threshold"}),
        ({"psi_threshold": True, "silence_hours": False}, {"psi_threshold", "silence_hours"}),
    ],
)
def test_a_threshold_out_of_range_is_a_400_naming_each_field(api, use_case, body, fields):
    response = api("owner").patch(API, body, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == "invalid" and fields_in(response) == fields
    assert all(item["message"] for item in payload["errors"])
    assert not MonitoringPolicy.objects.exists()


def test_the_messages_of_the_api_speak_of_shares(api, use_case):
    response = api("owner").patch(API, {"max_violation_rate": 5}, format="json")
    assert response.json()["errors"] == [
        {"field": "max_violation_rate", "message": "A share of rows is from 0 to 1 (0.05 is 5 %)."}
    ]


@pytest.mark.parametrize(
    "raw",
    [
        '{"psi_threshold": NaN}',
        '{"psi_threshold": Infinity}',
        '{"psi_threshold": -Infinity}',
        '{"psi_threshold": 1e400}',  # a double's range exceeded: decodes to infinity
        '{"silence_hours": 1e400}',
        '{"psi_threshold": 0.3, "\\u0000": 1}',
        '{"is_kpi_alerting": "\\u0000"}',
        '{"psi_threshold": ',
        "[]",
        '"0.3"',
    ],
)
def test_what_the_fuzz_may_send_is_a_400_never_a_500(api, use_case, raw):
    client = api("owner")
    for method in (client.put, client.patch):
        response = method(API, raw, content_type="application/json")
        assert response.status_code == 400, (raw, response.content)
        assert response["Content-Type"] == "application/json"
        assert set(response.json()) >= {"detail", "code"}
    assert not MonitoringPolicy.objects.exists()


def test_huge_and_tiny_finite_numbers_are_stored_and_read_back(api, use_case):
    body = {"psi_threshold": 1e308, "p_value_level": 5e-324, "max_refused_rate": 1e-300}
    response = api("owner").patch(API, body, format="json")
    assert response.status_code == 200, response.content
    read = json.loads(api("viewer").get(API).content)
    assert {name: read[name] for name in body} == body


@pytest.mark.parametrize("who", ["owner", "viewer"])
def test_options_describes_the_endpoint_without_writing(api, use_case, who):
    # Found by the fuzz: DRF's metadata asked for an object by a "pk" the URL has not.
    response = api(who).options(API)
    assert response.status_code == 200, response.content
    assert response.json()["name"]
    assert not MonitoringPolicy.objects.exists()


def test_a_form_encoded_body_is_refused_as_json_only(api, use_case):
    response = api("owner").patch(API, {"silence_hours": "6"})  # multipart
    assert response.status_code == 415
    assert not MonitoringPolicy.objects.exists()


def test_the_policy_of_another_use_case_is_out_of_reach(api, use_case):
    from tests.factories import UseCaseFactory

    UseCaseFactory(slug="secret")
    other = "/api/v1/usecases/secret/monitoring/policy"
    assert api("owner").get(other).status_code == 404
    assert api("owner").patch(other, {"silence_hours": 6}, format="json").status_code == 404
    assert not MonitoringPolicy.objects.exists()


# The admin -------------------------------------------------------------------------------


@pytest.fixture
def root(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_saves_a_policy_through_the_service_and_refuses_a_range(root, use_case):
    url = reverse("admin:monitoring_monitoringpolicy_add")
    assert root.get(url).status_code == 200
    form = {"use_case": use_case.pk, **DEFAULTS, "silence_hours": 9000}
    # An unticked box is absent; an empty date is "".
    form = {k: ("" if v is None else v) for k, v in form.items() if v is not False}
    response = root.post(url, form)
    assert response.status_code == 200 and "from 1 to 8,760" in response.content.decode()
    response = root.post(url, form | {"silence_hours": 6})
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = MonitoringPolicy.objects.get(use_case=use_case)
    assert policy.silence_hours == 6
    [event] = policy_events()
    assert (event.actor_name, event.after) == ("root", {"silence_hours": 6})
    change = reverse("admin:monitoring_monitoringpolicy_change", args=[policy.pk])
    assert root.get(change).status_code == 200
    assert root.get(reverse("admin:monitoring_monitoringpolicy_changelist")).status_code == 200


@pytest.mark.parametrize(
    ("start", "days_to_end", "message"),
    [(-3, 0, "ends yesterday"), (-3, 2, "ends yesterday"), (None, -1, "or neither")],
)
def test_the_admin_refuses_a_reference_window_the_service_refuses(
    root, use_case, start, days_to_end, message
):
    import datetime

    from monitoring.services.jobs import utc_today

    today = utc_today()
    window = {
        "reference_start": "" if start is None else today + datetime.timedelta(days=start),
        "reference_end": today + datetime.timedelta(days=days_to_end),
    }
    form = {"use_case": use_case.pk, **DEFAULTS, **window}
    form = {k: ("" if v is None else v) for k, v in form.items() if v is not False}
    response = root.post(reverse("admin:monitoring_monitoringpolicy_add"), form)
    assert response.status_code == 200 and message in response.content.decode()
    assert not MonitoringPolicy.objects.exists()


def test_the_admin_lists_and_shows_alerts_without_adding_any(root, use_case, personas):
    from monitoring.models import Alert
    from tests.factories import make_version

    version = make_version(use_case, "1.0.0", personas["owner"])
    alert = Alert.objects.create(
        use_case=use_case,
        model_version=version,
        kind=Alert.Kind.REFUSED,
        day="2026-03-10",
        last_seen_day="2026-03-10",
    )
    listed = root.get(reverse("admin:monitoring_alert_changelist"))
    assert listed.status_code == 200 and "Rows refused at ingestion" in listed.content.decode()
    assert root.get(reverse("admin:monitoring_alert_change", args=[alert.pk])).status_code == 200
    assert root.get(reverse("admin:monitoring_alert_add")).status_code == 403
