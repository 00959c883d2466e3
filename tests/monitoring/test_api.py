"""The monitoring API: daily figures, drift, alerts (list, acknowledge, resolve), the job's
runs and the policy; every persona's answer, filters, errors as JSON per field, constant
queries. The policy's validation is in test_policy.py."""

import datetime

import pytest
from django.utils import timezone

from monitoring.models import Alert, DailyDrift, DailyKPI, DailyQuality, DailyRun
from monitoring.services import jobs
from tests.conftest import PERSONAS, expected_status, fields_in, queries_for
from tests.factories import RuleFactory, UseCaseFactory, make_version
from usecases.models import AuditEvent
from usecases.permissions import Action, can

pytestmark = pytest.mark.django_db

UC = "/api/v1/usecases/demand-forecast/monitoring"
DAY = datetime.date(2026, 3, 10)
READERS = {"viewer", "data_scientist", "expert", "owner", "manager", "admin"}
HANDLERS = {"data_scientist", "expert", "owner", "manager", "admin"}  # not viewers
RUNNERS = {"data_scientist", "owner", "admin"}  # MANAGE_MODELS
POLICY_EDITORS = {"owner", "admin"}  # SET_POLICY
POLICY = {
    "psi_threshold": 0.25,
    "is_p_value_alerting": True,
    "p_value_level": 0.001,
    "max_violation_rate": 0.1,
    "max_refused_rate": 0.02,
    "silence_hours": 48,
    "is_kpi_alerting": False,
}


def monitored_day(version, day, *, kpi, rule=None, psi=0.05) -> DailyRun:
    finished = datetime.datetime.combine(day, datetime.time(3), tzinfo=datetime.UTC)
    run = DailyRun.objects.create(
        model_version=version,
        day=day,
        status=DailyRun.Status.SUCCEEDED,
        finished_at=finished,
        stored_at=finished,
        n_predictions=100,
        n_with_outcome=80,
        rows_checked=100,
        rows_violating=3,
    )
    DailyKPI.objects.create(run=run, kpi=kpi, value=9.0, low=8.0, high=10.0, n=80)
    if rule is not None:
        DailyQuality.objects.create(
            run=run, rule=rule, rule_text=str(rule), rows_checked=100, rows_violating=3
        )
    for feature in ("price", "store"):
        DailyDrift.objects.create(run=run, feature=feature, kind="numeric", psi=psi, n_live=100)
    return run


@pytest.fixture
def version(use_case, personas):
    return make_version(use_case, "1.0.0", personas["owner"])


@pytest.fixture
def days(version, kpi):
    rule = RuleFactory(use_case=version.use_case)
    return [
        monitored_day(version, DAY + datetime.timedelta(days=i), kpi=kpi, rule=rule)
        for i in range(3)
    ]


@pytest.fixture
def alert(version):
    return Alert.objects.create(
        use_case=version.use_case,
        model_version=version,
        kind=Alert.Kind.DRIFT,
        subject="price",
        subject_label="price",
        value=0.3,
        threshold=0.2,
        day=DAY,
        last_seen_day=DAY,
    )


@pytest.fixture
def enqueued(monkeypatch):
    from monitoring import tasks

    sent = []
    monkeypatch.setattr(tasks.run_day_task, "delay_on_commit", lambda *args: sent.append(args))
    return sent


ENDPOINTS = [
    ("days", "get", f"{UC}/days/", None, READERS, 200),
    ("drift", "get", f"{UC}/drift/", None, READERS, 200),
    ("runs", "get", f"{UC}/runs/", None, READERS, 200),
    ("alerts", "get", f"{UC}/alerts/", None, READERS, 200),
    ("weeks", "get", f"{UC}/weeks/", None, READERS, 200),
    ("comparison", "get", f"{UC}/comparison/", None, READERS, 200),
    ("alert", "get", f"{UC}/alerts/{{alert}}/", None, READERS, 200),
    ("acknowledge", "post", f"{UC}/alerts/{{alert}}/acknowledge", {"note": "On it"}, HANDLERS, 200),
    ("resolve", "post", f"{UC}/alerts/{{alert}}/resolve", {}, HANDLERS, 200),
    (
        "run",
        "post",
        f"{UC}/runs/",
        {"version": "1.0.0", "days": ["2026-03-10"]},
        RUNNERS,
        202,
    ),
    ("policy", "get", f"{UC}/policy", None, READERS, 200),
    ("policy-put", "put", f"{UC}/policy", POLICY, POLICY_EDITORS, 200),
    ("policy-patch", "patch", f"{UC}/policy", {"silence_hours": 6}, POLICY_EDITORS, 200),
]


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "ok"),
    [pytest.param(*endpoint[1:], id=endpoint[0]) for endpoint in ENDPOINTS],
)
def test_monitoring_endpoint_answers_each_persona_as_its_role_allows(
    api, days, alert, enqueued, who, method, path, body, allowed, ok
):
    response = getattr(api(who), method)(path.format(alert=alert.pk), body, format="json")
    assert response.status_code == expected_status(who, allowed, ok), response.content
    alert.refresh_from_db()
    if method == "post" and "alerts" in path:
        assert alert.is_active == (response.status_code != 200 or path.endswith("acknowledge"))


@pytest.mark.parametrize("who", sorted(set(PERSONAS) - {"anonymous"}))
def test_handle_alerts_is_the_action_of_the_alert_handlers(personas, use_case, who):
    assert can(personas[who], Action.HANDLE_ALERTS, use_case) is (who in HANDLERS)
    assert can(personas[who], Action.SET_POLICY, use_case) is (who in POLICY_EDITORS)


def test_a_refused_rows_alert_lists_with_its_kind_and_no_subject(api, version):
    Alert.objects.create(
        use_case=version.use_case,
        model_version=version,
        kind=Alert.Kind.REFUSED,
        value=0.12,
        threshold=0.05,
        day=DAY,
        last_seen_day=DAY,
    )
    [row] = api("viewer").get(f"{UC}/alerts/?kind=refused").json()["results"]
    assert (row["kind"], row["subject"], row["value"], row["version"]) == (
        "refused",
        "",
        0.12,
        "1.0.0",
    )


def test_days_give_kpis_with_intervals_quality_and_counts(api, days):
    body = api("viewer").get(f"{UC}/days/").json()
    assert body["count"] == 3
    first = body["results"][0]
    assert (first["version"], first["day"], first["n_predictions"]) == ("1.0.0", "2026-03-10", 100)
    assert first["kpis"][0] | {"kpi": 0} == {
        "kpi": 0,
        "name": "Forecast error",
        "metric": "mae",
        "value": 9.0,
        "low": 8.0,
        "high": 10.0,
        "n": 80,
        "gate_threshold": 12.0,
    }
    assert first["violation_rate"] == 0.03 and first["quality"][0]["violation_rate"] == 0.03


def test_days_filter_by_version_and_date_range(api, days, version, kpi, personas):
    other = make_version(version.use_case, "2.0.0", personas["owner"])
    monitored_day(other, DAY, kpi=kpi)
    client = api("viewer")
    assert client.get(f"{UC}/days/").json()["count"] == 4
    assert client.get(f"{UC}/days/?version=2.0.0").json()["count"] == 1
    ranged = client.get(f"{UC}/days/?version=1.0.0&start=2026-03-11&end=2026-03-12").json()
    assert [row["day"] for row in ranged["results"]] == ["2026-03-11", "2026-03-12"]


def test_a_failed_or_never_finished_run_has_no_day(api, days, version):
    DailyRun.objects.create(model_version=version, day=DAY - datetime.timedelta(days=1))
    DailyRun.objects.create(
        model_version=version,
        day=DAY - datetime.timedelta(days=2),
        status=DailyRun.Status.FAILED,
        finished_at=timezone.now(),
    )
    assert api("viewer").get(f"{UC}/days/").json()["count"] == 3


def test_a_day_running_again_or_whose_rerun_failed_keeps_its_stored_figures(
    api, days, version, enqueued
):
    jobs.request_days(version, [DAY])
    token = jobs.claim_run(version.pk, DAY)
    assert token is not None  # running again now
    client = api("viewer")
    body = client.get(f"{UC}/days/?start=2026-03-10&end=2026-03-10").json()
    assert [(r["day"], r["n_predictions"], len(r["kpis"])) for r in body["results"]] == [
        ("2026-03-10", 100, 1)
    ]
    run = DailyRun.objects.get(model_version=version, day=DAY)
    jobs._fail(run.pk, token, "RuntimeError: the warehouse went away")
    body = client.get(f"{UC}/days/").json()
    assert body["count"] == 3 and body["results"][0]["kpis"][0]["value"] == 9.0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=yesterday", "start"),
        ("end=2026-13-01", "end"),
        ("start=2026-03-12&end=2026-03-10", "end"),
        ("version=9.9.9", "version"),
        ("version=1%00", "version"),  # PostgreSQL refuses a NUL in a query: a 400, not a 500
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, days, query, field):
    response = api("viewer").get(f"{UC}/days/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and fields_in(response) == {field}


def test_drift_filters_by_feature_and_day(api, days):
    client = api("viewer")
    assert client.get(f"{UC}/drift/").json()["count"] == 6
    rows = client.get(f"{UC}/drift/?feature=price&start=2026-03-11").json()["results"]
    assert [(row["feature"], row["day"]) for row in rows] == [
        ("price", "2026-03-11"),
        ("price", "2026-03-12"),
    ]


def test_alerts_filter_by_status(api, alert, version):
    Alert.objects.create(
        use_case=version.use_case,
        model_version=version,
        kind=Alert.Kind.SILENCE,
        day=DAY,
        last_seen_day=DAY,
        status=Alert.Status.CLOSED,
    )
    client = api("viewer")
    assert client.get(f"{UC}/alerts/").json()["count"] == 2
    [row] = client.get(f"{UC}/alerts/?status=open").json()["results"]
    assert (row["id"], row["kind"], row["subject"], row["value"]) == (
        alert.pk,
        "drift",
        "price",
        0.3,
    )
    response = client.get(f"{UC}/alerts/?status=sleeping")
    assert response.status_code == 400 and fields_in(response) == {"status"}


def test_acknowledging_keeps_the_note_and_an_audit_event_and_twice_is_a_conflict(api, alert):
    client = api("expert")
    response = client.post(
        f"{UC}/alerts/{alert.pk}/acknowledge", {"note": "Looking"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["acknowledged_by"], body["note"]) == (
        "acknowledged",
        "erik",
        "erik: Looking",
    )
    assert AuditEvent.objects.filter(verb="alert.acknowledged", actor_name="erik").count() == 1
    again = client.post(f"{UC}/alerts/{alert.pk}/acknowledge", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    resolved = client.post(f"{UC}/alerts/{alert.pk}/resolve", {}, format="json")
    assert resolved.json()["status"] == "resolved"
    assert client.post(f"{UC}/alerts/{alert.pk}/resolve", {}, format="json").status_code == 409


def test_a_note_too_long_is_a_400_on_the_note(api, alert):
    response = api("owner").post(
        f"{UC}/alerts/{alert.pk}/acknowledge", {"note": "x" * 5001}, format="json"
    )
    assert response.status_code == 400 and fields_in(response) == {"note"}


def test_an_alert_of_another_use_case_is_404(api, personas):
    other = UseCaseFactory(slug="secret")
    version = make_version(other, "1.0.0", other.owner)
    hidden = Alert.objects.create(
        use_case=other, model_version=version, kind="silence", day=DAY, last_seen_day=DAY
    )
    client = api("owner")
    assert client.get(f"{UC}/alerts/{hidden.pk}/").status_code == 404
    response = client.post(f"{UC}/alerts/{hidden.pk}/resolve", {}, format="json")
    assert response.status_code == 404
    hidden.refresh_from_db()
    assert hidden.status == Alert.Status.OPEN


def test_queuing_runs_answers_202_with_the_runs_and_enqueues_one_task_per_day(
    api, version, enqueued
):
    response = api("data_scientist").post(
        f"{UC}/runs/",
        {"version": "1.0.0", "start": "2026-03-10", "end": "2026-03-12"},
        format="json",
    )
    assert response.status_code == 202
    body = response.json()
    assert body["queued"] == 3
    assert [(run["day"], run["status"]) for run in body["runs"]] == [
        ("2026-03-10", "queued"),
        ("2026-03-11", "queued"),
        ("2026-03-12", "queued"),
    ]
    assert enqueued == [
        (version.pk, "2026-03-10"),
        (version.pk, "2026-03-11"),
        (version.pk, "2026-03-12"),
    ]
    listed = api("viewer").get(f"{UC}/runs/?status=queued").json()
    assert listed["count"] == 3 and listed["results"][0]["day"] == "2026-03-12"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"days": ["2026-03-10"]}, "version"),
        ({"version": "9.9.9", "days": ["2026-03-10"]}, "version"),
        ({"version": "1.0.0"}, "start"),
        ({"version": "1.0.0", "start": "2026-03-10"}, "end"),
        ({"version": "1.0.0", "start": "2026-03-12", "end": "2026-03-10"}, "end"),
        ({"version": "1.0.0", "days": ["2026-03-10"], "start": "2026-03-10"}, "days"),
        ({"version": "1.0.0", "days": []}, "days"),
        ({"version": "1.0.0", "days": ["soon"]}, "days.0"),
        ({"version": "1.0.0", "start": "2025-01-01", "end": "2026-03-10"}, "end"),
        ({"version": "1.0.0", "days": ["2999-01-01"]}, "days"),
        ({"version": "1.0.0", "start": "2026-03-10", "end": "2999-01-01"}, "end"),
    ],
)
def test_bad_run_requests_are_a_400_naming_the_field(api, version, enqueued, body, field):
    response = api("owner").post(f"{UC}/runs/", body, format="json")
    assert response.status_code == 400, response.content
    assert fields_in(response) == {field}
    assert enqueued == [] and not DailyRun.objects.exists()


@pytest.mark.parametrize("endpoint", ["days", "drift", "alerts", "runs"])
def test_monitoring_lists_cost_the_same_queries_for_30_rows_as_for_3(api, version, kpi, endpoint):
    client = api("viewer")

    def fill(count):
        for _ in range(count):
            day = DAY + datetime.timedelta(days=DailyRun.objects.count())
            monitored_day(version, day, kpi=kpi)
            Alert.objects.create(
                use_case=version.use_case,
                model_version=version,
                kind="quality",
                subject=str(day),
                day=day,
                last_seen_day=day,
            )

    per_day = {"drift": 2}.get(endpoint, 1)  # two features a day
    fill(3)
    few = queries_for(client, f"{UC}/{endpoint}/", 3 * per_day)
    fill(30 // per_day - 3)
    assert queries_for(client, f"{UC}/{endpoint}/", 30) == few
