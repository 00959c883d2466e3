"""The roadmap's fields on a use case (issue 13, item 1): team, the expected value's currency,
milestones and when the phase last changed, in the browser form, the API and the audit."""

import datetime
import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from portal.errors import InvalidInput
from promotions.services import phases
from tests.conftest import login
from tests.usecases.test_services import keywords
from usecases.api import serializers
from usecases.forms import UseCaseForm
from usecases.models import AuditEvent, Milestone, UseCase
from usecases.services import usecases, validation

D = datetime.date


def edit_data(use_case, **extra) -> dict:
    data = {
        "title": use_case.title,
        "task_type": use_case.task_type,
        "priority": use_case.priority,
        "risk_tier": use_case.risk_tier,
        "owner": use_case.owner.username,
        "feature_schema": "[]",
        "milestones-TOTAL_FORMS": "2",
        "milestones-INITIAL_FORMS": "0",
    }
    return data | extra


def test_the_form_and_the_api_pass_every_new_field_to_the_services():
    update_fields = keywords(usecases.update_use_case)
    # milestones arrive from the form's rows (a formset), not from one field
    assert set(UseCaseForm(with_owner=True).fields) | {"milestones"} == update_fields
    assert set(serializers.UseCaseUpdateInput.Meta.fields) == update_fields
    assert {"team", "expected_value_currency", "milestones"} <= update_fields


def test_the_owner_sets_team_value_currency_effort_and_milestones_in_the_form(
    client, personas, use_case
):
    data = edit_data(
        use_case,
        team="Supply chain",
        expected_value_per_year="250000",
        expected_value_currency="usd",
        effort_person_days="40",
        **{
            "milestones-0-name": "Data ready",
            "milestones-0-due_date": "2027-02-01",
            "milestones-0-done": "on",
            "milestones-1-name": "Pilot live",
            "milestones-1-due_date": "2027-05-01",
        },
    )
    response = login(client, personas, "owner").post(
        reverse("usecases:edit", args=[use_case.slug]), data
    )
    assert response.status_code == 302
    use_case.refresh_from_db()
    assert (use_case.team, use_case.expected_value_currency) == ("Supply chain", "USD")
    milestones = list(use_case.milestones.values_list("name", "due_date"))
    assert milestones == [("Data ready", D(2027, 2, 1)), ("Pilot live", D(2027, 5, 1))]
    assert use_case.milestones.get(name="Data ready").is_done
    event = AuditEvent.objects.filter(verb="usecase.updated").latest("id")
    assert event.after["team"] == "Supply chain"
    assert [m["name"] for m in event.after["milestones"]] == ["Data ready", "Pilot live"]
    assert event.before["milestones"] == []

    html = client.get(use_case.get_absolute_url()).content.decode()
    assert "Supply chain" in html
    assert "250,000 USD" in html
    assert "40 person-days" in html and "8 person-weeks" in html
    assert "Pilot live" in html and "Data ready" in html


def test_the_edit_page_offers_the_teams_already_used_and_shows_the_milestones_rows(
    client, personas, use_case
):
    UseCase.objects.filter(pk=use_case.pk).update(team="Pricing")
    Milestone.objects.create(use_case=use_case, name="Kick-off", due_date=D(2027, 1, 10))
    html = login(client, personas, "owner").get(reverse("usecases:edit", args=[use_case.slug]))
    text = html.content.decode()
    assert '<datalist id="team-options"><option value="Pricing">' in text
    assert 'value="Kick-off"' in text
    assert "Effort (person-days)" in text


def test_a_milestone_without_a_date_or_a_bad_currency_is_a_form_error(client, personas, use_case):
    data = edit_data(
        use_case,
        expected_value_currency="EURO",
        **{"milestones-0-name": "Pilot live"},
    )
    response = login(client, personas, "owner").post(
        reverse("usecases:edit", args=[use_case.slug]), data
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "A milestone needs a due date." in text
    assert "Ensure this value has at most 3 characters" in text
    assert not use_case.milestones.exists()


def test_a_post_without_milestone_rows_leaves_the_milestones_as_they_are(
    client, personas, use_case
):
    Milestone.objects.create(use_case=use_case, name="Kick-off", due_date=D(2027, 1, 10))
    data = edit_data(use_case, title="Renamed")
    del data["milestones-TOTAL_FORMS"], data["milestones-INITIAL_FORMS"]
    login(client, personas, "owner").post(reverse("usecases:edit", args=[use_case.slug]), data)
    assert list(use_case.milestones.values_list("name", flat=True)) == ["Kick-off"]


def test_the_api_reads_and_replaces_the_new_fields(api, use_case):
    url = f"/api/v1/usecases/{use_case.slug}/"
    body = {
        "team": "Stores",
        "expected_value_currency": "GBP",
        "milestones": [
            {"name": "Pilot live", "due_date": "2027-05-01"},
            {"name": "Data ready", "due_date": "2027-02-01", "done_at": "2027-01-30T10:00:00Z"},
        ],
    }
    response = api("owner").patch(url, body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["team"], data["expected_value_currency"]) == ("Stores", "GBP")
    assert [m["name"] for m in data["milestones"]] == ["Data ready", "Pilot live"]
    assert data["milestones"][0]["done_at"].startswith("2027-01-30")
    assert "phase_changed_at" in data and data["effort_person_weeks"] is None

    replaced = api("owner").patch(url, {"milestones": []}, format="json").json()
    assert replaced["milestones"] == [] and replaced["team"] == "Stores"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expected_value_currency": "eu"}, "expected_value_currency"),
        ({"expected_value_currency": "EURO"}, "expected_value_currency"),
        ({"milestones": [{"name": "No date"}]}, "milestones"),
        ({"milestones": [{"name": "Typo", "due_date": "0001-01-01"}]}, "milestones"),
        ({"milestones": [{"name": "Far", "due_date": "2101-01-01"}]}, "milestones"),
        ({"milestones": [{"name": "", "due_date": "2027-01-01"}]}, "milestones"),
        ({"team": "x" * 101}, "team"),
    ],
)
def test_the_api_refuses_bad_values_with_a_400_on_the_field(api, use_case, body, field):
    response = api("owner").patch(f"/api/v1/usecases/{use_case.slug}/", body, format="json")
    assert response.status_code == 400
    assert any(e["field"].startswith(field) for e in response.json()["errors"])


def test_the_api_takes_a_lowercase_currency_as_the_form_does(api, use_case):
    client = api("owner")
    response = client.patch(
        f"/api/v1/usecases/{use_case.slug}/", {"expected_value_currency": " usd "}, format="json"
    )
    assert response.status_code == 200 and response.json()["expected_value_currency"] == "USD"
    created = client.post(
        "/api/v1/usecases/",
        {"title": "New", "task_type": "regression", "expected_value_currency": "chf"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["expected_value_currency"] == "CHF"


# Milestones fall due within the plan


@pytest.mark.parametrize(
    ("due", "problem"),
    [
        (D(2027, 1, 31), "Due before the start date (01 Feb 2027): move one or the other."),
        (D(2027, 7, 2), "Due after the target date (01 Jul 2027): move one or the other."),
        (D(1, 1, 1), "A due date lies between 2000 and 2100."),
        (D(2101, 1, 1), "A due date lies between 2000 and 2100."),
    ],
)
def test_a_milestone_due_outside_the_plan_is_refused_beside_its_row(
    client, personas, use_case, due, problem
):
    data = edit_data(
        use_case,
        start_date="2027-02-01",
        target_date="2027-07-01",
        **{"milestones-0-name": "Kick-off", "milestones-0-due_date": due.isoformat()},
    )
    response = login(client, personas, "owner").post(
        reverse("usecases:edit", args=[use_case.slug]), data
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert problem in text and "Check the milestones&#x27; due dates" in text
    assert not use_case.milestones.exists()
    with pytest.raises(InvalidInput, match=re.escape(f"Milestone 1 (“Kick-off”): {problem}")):
        validation.check_milestones(
            [{"name": "Kick-off", "due_date": due}],
            start_date=D(2027, 2, 1),
            target_date=D(2027, 7, 1),
        )


def test_a_milestone_on_the_start_or_the_target_date_is_within_the_plan(client, personas, use_case):
    data = edit_data(
        use_case,
        start_date="2027-02-01",
        target_date="2027-07-01",
        **{
            "milestones-0-name": "Kick-off",
            "milestones-0-due_date": "2027-02-01",
            "milestones-1-name": "Go-live",
            "milestones-1-due_date": "2027-07-01",
        },
    )
    response = login(client, personas, "owner").post(
        reverse("usecases:edit", args=[use_case.slug]), data
    )
    assert response.status_code == 302
    assert use_case.milestones.count() == 2


def test_the_api_refuses_a_milestone_outside_the_plan(api, use_case):
    client, url = api("owner"), f"/api/v1/usecases/{use_case.slug}/"
    client.patch(url, {"start_date": "2027-01-01", "target_date": "2027-06-01"}, format="json")
    body = {"milestones": [{"name": "Before start", "due_date": "2026-12-01"}]}
    response = client.patch(url, body, format="json")
    assert response.status_code == 400
    assert "Due before the start date (01 Jan 2027)" in response.json()["detail"]


def test_moving_a_date_before_a_stored_milestone_is_refused_naming_it(api, use_case):
    client, url = api("owner"), f"/api/v1/usecases/{use_case.slug}/"
    body = {
        "start_date": "2027-01-01",
        "target_date": "2027-06-01",
        "milestones": [{"name": "Pilot live", "due_date": "2027-05-01"}],
    }
    assert client.patch(url, body, format="json").status_code == 200
    for dates in ({"target_date": "2027-04-01"}, {"start_date": "2027-05-15"}):
        response = client.patch(url, dates, format="json")
        assert response.status_code == 400, dates
        assert "“Pilot live” is due on 01 May 2027" in response.json()["detail"]
    use_case.refresh_from_db()
    assert (use_case.start_date, use_case.target_date) == (D(2027, 1, 1), D(2027, 6, 1))
    assert client.patch(url, {"target_date": "2027-05-01"}, format="json").status_code == 200


def test_two_milestones_of_one_name_keep_their_own_done_time(client, personas, use_case):
    done = datetime.datetime(2027, 1, 15, 10, 0, tzinfo=datetime.UTC)
    Milestone.objects.create(use_case=use_case, name="Review", due_date=D(2027, 2, 1), done_at=done)
    Milestone.objects.create(use_case=use_case, name="Review", due_date=D(2027, 4, 1))
    data = edit_data(
        use_case,
        **{
            "milestones-TOTAL_FORMS": "4",
            "milestones-INITIAL_FORMS": "2",
            "milestones-0-name": "Review",
            "milestones-0-due_date": "2027-02-01",
            "milestones-0-done": "on",
            "milestones-1-name": "Review",
            "milestones-1-due_date": "2027-04-01",
            "milestones-1-done": "on",  # ticked now
        },
    )
    before = timezone.now()
    response = login(client, personas, "owner").post(
        reverse("usecases:edit", args=[use_case.slug]), data
    )
    assert response.status_code == 302
    first, second = use_case.milestones.order_by("due_date")
    assert first.done_at == done  # kept, not the other one's "not done"
    assert second.done_at >= before  # done now, not the other one's time


def test_the_api_lists_use_cases_with_their_milestones_in_constant_queries(
    api, personas, use_case, django_assert_max_num_queries
):
    Milestone.objects.create(use_case=use_case, name="Kick-off", due_date=D(2027, 1, 10))
    client = api("owner")
    client.get("/api/v1/usecases/")  # warm up (token, groups)
    with django_assert_max_num_queries(8):
        data = client.get("/api/v1/usecases/").json()
    assert data["results"][0]["milestones"][0]["name"] == "Kick-off"


def test_the_service_refuses_a_lowercase_currency_only_after_upper_casing_it(personas):
    use_case = usecases.create_use_case(
        by=personas["owner"], title="Prices", task_type="regression", expected_value_currency="chf"
    )
    assert use_case.expected_value_currency == "CHF"


def test_a_phase_change_sets_when_the_phase_changed(personas, use_case):
    before = use_case.phase_changed_at
    moved = phases.change_phase(use_case, by=personas["owner"], phase="scoping", note="Framed.")
    assert moved.phase_changed_at > before
    moved.refresh_from_db()
    assert moved.phase_changed_at > before


@pytest.mark.django_db(transaction=True)
def test_the_backfill_takes_the_last_phase_change_else_the_creation():
    executor = MigrationExecutor(connection)
    executor.migrate([("usecases", "0013_use_case_portfolio_fields")])
    old = executor.loader.project_state([("usecases", "0013_use_case_portfolio_fields")]).apps
    user = old.get_model("auth", "User").objects.create(username="olga")
    OldUseCase = old.get_model("usecases", "UseCase")
    moved = OldUseCase.objects.create(slug="moved", title="Moved", owner=user, task_type="binary")
    still = OldUseCase.objects.create(slug="still", title="Still", owner=user, task_type="binary")
    created = timezone.now() - datetime.timedelta(days=90)
    OldUseCase.objects.update(created_at=created)
    Event = old.get_model("usecases", "AuditEvent")
    for i, days_ago in enumerate((60, 20)):
        Event.objects.create(
            created_at=timezone.now() - datetime.timedelta(days=days_ago),
            actor_name="olga",
            verb="usecase.phase_changed",
            target_type="usecases.usecase",
            target_id=str(moved.pk),
            use_case_id_ref=moved.pk,
            hash=f"h{i}",
            previous_hash=f"p{i}",
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    days = {uc.slug: (timezone.now() - uc.phase_changed_at).days for uc in UseCase.objects.all()}
    assert days == {"moved": 20, "still": 90}
    assert still.pk
