"""The drift reference the owner picks: a window of UTC days of each version's own log, set in
the monitoring policy (page and API), checked as a whole, and used by the daily job in place
of the holdout when the version logged in it."""

from __future__ import annotations

import datetime

import pytest

from monitoring.models import MonitoringPolicy
from monitoring.services import alerts, drift_data
from monitoring.services.reference import NoReference
from portal.errors import InvalidFields
from tests.conftest import login
from tests.monitoring.conftest import DAY, log_day

pytestmark = pytest.mark.django_db

API = "/api/v1/usecases/churn/monitoring/policy"
WEEK_BEFORE = DAY - datetime.timedelta(days=7)


def window(start, end) -> dict:
    return {"reference_start": start, "reference_end": end}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (window(str(WEEK_BEFORE), None), "reference_end"),
        (window(None, str(DAY)), "reference_start"),
        (window(str(DAY), str(WEEK_BEFORE)), "reference_end"),
        (window(str(WEEK_BEFORE), "2999-01-01"), "reference_end"),
        (window("yesterday", str(DAY)), "reference_start"),
        (window(str(WEEK_BEFORE), "0001-01-01"), "reference_end"),
    ],
)
def test_a_window_is_both_days_in_order_in_the_past_or_a_400_naming_the_day(
    api, churn, body, field
):
    response = api("owner").patch(API, body, format="json")
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not MonitoringPolicy.objects.filter(reference_start__isnull=False).exists()


def test_the_owner_sets_and_clears_the_window_through_the_api(api, churn):
    client = api("owner")
    body = client.patch(API, window(str(WEEK_BEFORE), str(DAY)), format="json").json()
    assert (body["reference_start"], body["reference_end"]) == (str(WEEK_BEFORE), str(DAY))
    # One day moved alone is checked against the other one stored.
    earlier = str(WEEK_BEFORE - datetime.timedelta(days=1))
    response = client.patch(API, {"reference_end": earlier}, format="json")
    assert response.status_code == 400
    assert client.patch(API, window(None, None), format="json").status_code == 200
    assert MonitoringPolicy.objects.get().reference_start is None
    assert api("data_scientist").patch(API, window(None, None), format="json").status_code == 403


def test_the_page_takes_the_window_and_shows_it_to_readers(client, personas, churn):
    login(client, personas, "owner")
    page = "/usecases/churn/monitoring/policy/"
    form = {
        "psi_threshold": "0.2",
        "p_value_level": "0.01",
        "max_violation_percent": "5",
        "max_refused_percent": "5",
        "silence_hours": "24",
        "is_kpi_alerting": "on",
        "reference_start": str(WEEK_BEFORE),
        "reference_end": str(DAY),
    }
    assert client.post(page, form).status_code == 302
    policy = MonitoringPolicy.objects.get()
    assert (policy.reference_start, policy.reference_end) == (WEEK_BEFORE, DAY)
    response = client.post(page, {**form, "reference_end": ""})
    assert response.status_code == 200 and "or neither" in response.content.decode()
    login(client, personas, "viewer")
    assert DAY.strftime("%-d %b %Y") in client.get(page).content.decode()


def test_the_job_reads_the_window_of_the_versions_own_log_else_its_holdout(deployed, personas):
    with pytest.raises(NoReference):  # no window, no evaluation: nothing to compare with
        drift_data.reference_for(deployed)
    log_day(deployed, 200, day=WEEK_BEFORE, prefix="ref")
    alerts.save_policy(deployed.use_case, by=personas["owner"], **window(WEEK_BEFORE, WEEK_BEFORE))
    reference = drift_data.reference_for(deployed)
    assert reference.source.startswith(f"window {WEEK_BEFORE.isoformat()}T00:00:00")
    drifts = drift_data.day_drift(deployed, DAY)
    assert {d.feature for d in drifts} >= {"(prediction)"}
    assert all(d.n_reference == 200 for d in drifts if d.feature == "(prediction)")
    # A window the version logged nothing in: its holdout (none here, so NoReference).
    alerts.save_policy(
        deployed.use_case,
        by=personas["owner"],
        **window(
            WEEK_BEFORE - datetime.timedelta(days=4), WEEK_BEFORE - datetime.timedelta(days=2)
        ),
    )
    with pytest.raises(NoReference):
        drift_data.reference_for(deployed)


def test_the_service_refuses_a_half_window_whoever_calls(personas, churn):
    with pytest.raises(InvalidFields):
        alerts.save_policy(churn, by=personas["owner"], reference_start=WEEK_BEFORE)
    assert not MonitoringPolicy.objects.exists()
