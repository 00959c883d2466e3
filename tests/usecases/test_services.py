import inspect
from decimal import Decimal

import pytest
from django.core import mail

from portal.errors import InvalidInput
from tests.factories import MemberFactory, UseCaseFactory, UserFactory
from usecases.api import serializers
from usecases.forms import KPIForm, RuleForm, UseCaseForm, ValueModelForm
from usecases.models import KPI, AuditEvent, Role, UseCase, UseCaseMember
from usecases.services import definitions, notifications, usecases
from usecases.services.errors import MembershipError, PhaseError


def keywords(service) -> set[str]:
    """The fields a service takes: its keyword-only parameters but `by`."""
    parameters = inspect.signature(service).parameters.values()
    return {p.name for p in parameters if p.kind is p.KEYWORD_ONLY} - {"by"}


def writable(serializer) -> set[str]:
    return {name for name, field in serializer.fields.items() if not field.read_only}


def test_creating_a_use_case_makes_the_creator_its_owner_and_audits_it(personas):
    owner = personas["owner"]
    use_case = usecases.create_use_case(by=owner, title="Churn radar", task_type="binary")
    assert use_case.slug == "churn-radar"
    assert use_case.members.get().role == Role.OWNER
    event = AuditEvent.objects.get()
    assert (event.verb, event.actor, event.use_case_slug) == (
        "usecase.created",
        owner,
        "churn-radar",
    )
    assert event.after["title"] == "Churn radar"


def test_slugs_stay_unique_when_titles_repeat(personas):
    first = usecases.create_use_case(by=personas["owner"], title="Churn", task_type="binary")
    second = usecases.create_use_case(by=personas["owner"], title="Churn", task_type="binary")
    assert (first.slug, second.slug) == ("churn", "churn-2")


def test_a_feature_schema_with_a_duplicate_name_is_refused(personas):
    schema = [{"name": "age", "type": "integer"}, {"name": "age", "type": "number"}]
    with pytest.raises(InvalidInput, match="appears twice"):
        usecases.create_use_case(
            by=personas["owner"], title="X", task_type="binary", feature_schema=schema
        )
    assert not UseCase.objects.exists()


def test_an_update_records_only_the_fields_that_changed(use_case, personas):
    usecases.update_use_case(
        use_case, by=personas["expert"], title="Demand forecast", sponsor="COO"
    )
    event = AuditEvent.objects.get(verb="usecase.updated")
    assert event.before == {"sponsor": ""} and event.after == {"sponsor": "COO"}


def test_an_update_leaves_the_fields_it_is_not_given_as_they_are(use_case, personas):
    usecases.update_use_case(use_case, by=personas["owner"], sponsor="COO")
    usecases.update_use_case(use_case, by=personas["owner"], target_date=None)
    use_case.refresh_from_db()
    assert (use_case.title, use_case.sponsor, use_case.task_type) == (
        "Demand forecast",
        "COO",
        "regression",
    )
    assert AuditEvent.objects.filter(verb="usecase.updated").count() == 1


def test_a_field_the_definition_does_not_have_is_refused_and_nothing_changes(use_case, personas):
    with pytest.raises(TypeError, match="phase"):
        usecases.update_use_case(use_case, by=personas["owner"], phase="poc")
    with pytest.raises(TypeError, match="slug"):
        usecases.update_use_case(use_case, by=personas["owner"], slug="other", title="Other")
    use_case.refresh_from_db()
    assert (use_case.phase, use_case.slug, use_case.title) == (
        "idea",
        "demand-forecast",
        "Demand forecast",
    )
    assert not AuditEvent.objects.filter(verb="usecase.updated").exists()


def test_every_field_the_pages_and_the_api_pass_is_a_parameter_of_their_service():
    # The views and API views spread cleaned_data / validated_data into the services.
    update_fields = keywords(usecases.update_use_case)
    # The milestones come from the form's rows (a formset), not from one field.
    assert {*UseCaseForm(with_owner=True).fields, "milestones"} == update_fields
    assert set(serializers.UseCaseUpdateInput.Meta.fields) == update_fields
    assert set(serializers.UseCaseCreateInput.Meta.fields) == {"slug", *update_fields}
    assert keywords(usecases.create_use_case) == {"slug", "phase", *update_fields}
    use_case = UseCase(task_type="binary")
    kpi_fields = keywords(definitions.create_kpi)
    assert kpi_fields == keywords(definitions.update_kpi) == set(definitions.KPI_FIELDS)
    assert set(KPIForm(use_case=use_case).fields) == kpi_fields
    assert writable(serializers.KPISerializer()) == kpi_fields
    value_fields = keywords(definitions.save_value_model)
    assert value_fields == set(definitions.VALUE_MODEL_FIELDS)
    assert set(ValueModelForm.base_fields) == value_fields
    assert writable(serializers.ValueModelSerializer()) == value_fields
    rule_fields = keywords(definitions.create_rule)
    assert rule_fields == keywords(definitions.update_rule) == set(definitions.RULE_FIELDS)
    form = RuleForm({"field": "age", "kind": "not_null", "severity": "error"}, use_case=use_case)
    assert form.is_valid(), form.errors
    assert set(form.rule_fields()) == rule_fields
    assert writable(serializers.DataQualityRuleSerializer()) == rule_fields


def test_an_update_without_changes_records_nothing(use_case, personas):
    usecases.update_use_case(use_case, by=personas["expert"], title=use_case.title)
    assert not AuditEvent.objects.filter(verb="usecase.updated").exists()


def test_a_target_date_before_the_start_date_is_refused(use_case, personas):
    import datetime

    with pytest.raises(InvalidInput, match="target date"):
        usecases.update_use_case(
            use_case,
            by=personas["owner"],
            start_date=datetime.date(2026, 5, 1),
            target_date=datetime.date(2026, 4, 1),
        )


def test_changing_to_the_current_phase_is_a_conflict(use_case, personas):
    with pytest.raises(PhaseError, match="already in Idea"):
        usecases.change_phase(use_case, by=personas["owner"], phase="idea", note="Again")


def test_phase_change_keeps_its_note_in_the_audit(use_case, personas):
    usecases.change_phase(use_case, by=personas["owner"], phase="scoping", note="Framing agreed")
    event = AuditEvent.objects.get(verb="usecase.phase_changed")
    assert event.before == {"phase": "idea"}
    assert event.after == {"phase": "scoping", "note": "Framing agreed"}


def test_a_user_cannot_be_added_twice(use_case, personas):
    with pytest.raises(MembershipError, match="already a member"):
        usecases.add_member(use_case, by=personas["owner"], user=personas["viewer"], role="expert")


def test_adding_a_member_schedules_the_welcome_mail_after_commit(
    use_case, personas, django_capture_on_commit_callbacks
):
    newcomer = UserFactory(username="nina")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        usecases.add_member(use_case, by=personas["owner"], user=newcomer, role="viewer")
    assert len(callbacks) == 1  # enqueued only once the membership is committed


def test_the_welcome_mail_is_sent_once_however_often_the_task_runs(use_case, personas):
    member = UseCaseMember.objects.get(user=personas["expert"])
    assert notifications.send_welcome(member.pk) is True
    assert notifications.send_welcome(member.pk) is False
    assert len(mail.outbox) == 1
    assert "Demand forecast" in mail.outbox[0].subject
    assert mail.outbox[0].to == [personas["expert"].email]


def test_the_last_owner_can_be_neither_removed_nor_demoted(personas):
    use_case = UseCaseFactory(owner=personas["owner"])
    co_owner = MemberFactory(use_case=use_case, user=personas["expert"], role=Role.OWNER)
    usecases.change_member_role(co_owner, by=personas["owner"], role=Role.VIEWER)
    owner_member = use_case.members.get(user=personas["owner"])
    with pytest.raises(MembershipError, match="accountable owner"):
        usecases.remove_member(owner_member, by=personas["admin"])
    with pytest.raises(MembershipError):
        usecases.change_member_role(owner_member, by=personas["admin"], role=Role.VIEWER)


def test_handing_over_ownership_makes_the_new_owner_an_owner_member(use_case, personas):
    usecases.update_use_case(use_case, by=personas["owner"], owner=personas["viewer"])
    assert use_case.members.get(user=personas["viewer"]).role == Role.OWNER


def test_a_kpi_metric_must_suit_the_task_type(use_case, personas):
    with pytest.raises(InvalidInput) as error:
        definitions.create_kpi(
            use_case,
            by=personas["expert"],
            name="AUC",
            metric="roc_auc",
            target=0.9,
            gate_threshold=0.8,
        )
    assert error.value.error_items() == [
        {
            "field": "metric",
            "message": "ROC AUC does not apply to regression / forecasting use cases.",
        }
    ]
    assert not KPI.objects.exists()


def test_a_kpi_direction_defaults_to_the_metric_and_gate_must_not_beat_target(use_case, personas):
    kpi = definitions.create_kpi(
        use_case, by=personas["expert"], name="Error", metric="mae", target=3, gate_threshold=4
    )
    assert kpi.direction == KPI.Direction.LOWER
    with pytest.raises(InvalidInput, match="must not be below the target"):
        definitions.update_kpi(kpi, by=personas["expert"], gate_threshold=2)


def test_a_kpi_name_clash_is_a_field_error_not_a_crash(use_case, personas):
    definitions.create_kpi(
        use_case, by=personas["expert"], name="Error", metric="mae", target=3, gate_threshold=4
    )
    with pytest.raises(InvalidInput) as error:
        definitions.create_kpi(
            use_case, by=personas["expert"], name="Error", metric="rmse", target=3, gate_threshold=4
        )
    assert error.value.field == "name"


def test_a_regression_value_model_needs_both_unit_costs(use_case, personas):
    with pytest.raises(InvalidInput) as error:
        definitions.save_value_model(use_case, by=personas["expert"], cost_per_unit_under=2)
    assert error.value.error_items() == [
        {"field": "cost_per_unit_over", "message": "Required for this task type."}
    ]
    value_model = definitions.save_value_model(
        use_case,
        by=personas["expert"],
        cost_per_unit_under=Decimal("2.4"),
        cost_per_unit_over=Decimal("0.65"),
    )
    assert value_model.cost_per_unit_over == Decimal("0.65")
    definitions.save_value_model(use_case, by=personas["expert"], cost_per_unit_over=Decimal("1"))
    update = AuditEvent.objects.get(verb="value_model.updated")
    assert update.before == {"cost_per_unit_over": "0.65"} and update.after == {
        "cost_per_unit_over": "1"
    }


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("range", {}, "needs a minimum"),
        ("range", {"min": 5, "max": 1}, "must not be above"),
        ("range", {"min": "abc"}, "must be a number"),
        ("regex", {"pattern": "("}, "Not a valid regular expression"),
        ("max_null_rate", {"max_rate": 1.5}, "between 0 and 1"),
        ("allowed_values", {"values": []}, "at least one"),
    ],
)
def test_rule_parameters_are_checked_per_kind(use_case, personas, kind, params, message):
    field = "store" if kind in ("regex", "allowed_values") else "price"  # the kind fits
    with pytest.raises(InvalidInput, match=message):
        definitions.create_rule(
            use_case, by=personas["expert"], field=field, kind=kind, params=params
        )


@pytest.mark.parametrize(
    ("field", "kind", "params", "fits"),
    [
        ("store", "range", {"min": 0, "max": 5}, "number and integer columns"),
        ("price", "regex", {"pattern": "^[0-9]+$"}, "category and text columns"),
        ("price", "allowed_values", {"values": ["1", "2"]}, "category, text, integer"),
        ("score", "regex", {"pattern": "^0"}, "category and text columns"),
        ("segment", "range", {"min": 1}, "number and integer columns"),
    ],
)
def test_a_rule_kind_must_fit_the_columns_type(use_case, personas, field, kind, params, fits):
    with pytest.raises(InvalidInput, match=f"does not fit “{field}”.*applies to {fits}") as error:
        definitions.create_rule(
            use_case, by=personas["expert"], field=field, kind=kind, params=params
        )
    assert error.value.field == "kind"


def test_a_range_reads_in_the_columns_numbers(use_case, personas):
    schema = [*use_case.feature_schema, {"name": "age", "type": "integer"}]
    usecases.update_use_case(use_case, by=personas["owner"], feature_schema=schema)
    use_case.refresh_from_db()
    rule = definitions.create_rule(
        use_case, by=personas["expert"], field="age", kind="range", params={"min": 18, "max": 120}
    )
    assert rule.summary == "between 18 and 120"  # not 18.0 and 120.0
    price = definitions.create_rule(
        use_case, by=personas["expert"], field="price", kind="range", params={"min": 0.25}
    )
    assert price.summary == "at least 0.25"


def test_a_rule_on_an_unknown_field_is_refused(use_case, personas):
    with pytest.raises(InvalidInput, match="not in the feature schema"):
        definitions.create_rule(use_case, by=personas["expert"], field="colour", kind="not_null")


def test_the_task_type_cannot_change_under_existing_kpis(use_case, kpi, personas):
    with pytest.raises(InvalidInput, match="Remove the KPIs"):
        usecases.update_use_case(use_case, by=personas["owner"], task_type="binary")


def test_deleting_a_use_case_keeps_its_history(use_case, personas):
    usecases.delete_use_case(use_case, by=personas["owner"])
    assert not UseCase.objects.exists()
    assert AuditEvent.objects.filter(
        use_case_slug="demand-forecast", verb="usecase.deleted"
    ).exists()


# Class names (issue 11, item 2)


def test_a_binary_use_case_names_its_classes_and_shows_them(personas):
    use_case = usecases.create_use_case(
        by=personas["owner"],
        title="Churn",
        task_type="binary",
        decision_threshold=0.3,
        positive_label=" will churn ",
        negative_label="stays",
    )
    assert (use_case.positive_label, use_case.negative_label) == ("will churn", "stays")
    assert [use_case.class_label(v) for v in (1, 0, 1.0, 0.0)] == [
        "will churn",
        "stays",
        "will churn",
        "stays",
    ]
    assert use_case.class_label(2) == "2" and use_case.class_label(True) == "True"
    unnamed = usecases.create_use_case(by=personas["owner"], title="Fraud", task_type="binary")
    assert (unnamed.class_label(1), unnamed.class_label(0)) == ("1", "0")
    forecast = usecases.create_use_case(by=personas["owner"], title="Sales", task_type="regression")
    assert forecast.class_label(1) == "1"


def test_class_names_are_edited_in_the_form_and_the_api_and_audited(client, api, personas):
    from django.urls import reverse

    from tests.conftest import login

    use_case = usecases.create_use_case(by=personas["owner"], title="Churn", task_type="binary")
    browser = login(client, personas, "owner")
    response = browser.post(
        reverse("usecases:edit", args=[use_case.slug]),
        {
            "title": "Churn",
            "task_type": "binary",
            "priority": "medium",
            "risk_tier": "low",
            "decision_threshold": "0.3",
            "positive_label": "will churn",
            "negative_label": "stays",
            "feature_schema": "[]",
            "owner": "olivia",
        },
    )
    assert response.status_code == 302
    use_case.refresh_from_db()
    assert (use_case.positive_label, use_case.negative_label) == ("will churn", "stays")
    page = browser.get(use_case.get_absolute_url()).content.decode()
    assert "1 = will churn · 0 = stays" in page
    event = AuditEvent.objects.filter(verb="usecase.updated").latest("id")
    assert event.after["positive_label"] == "will churn"

    patched = api("owner").patch(
        f"/api/v1/usecases/{use_case.slug}/", {"negative_label": "renews"}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["negative_label"] == "renews"
    long = api("owner").patch(
        f"/api/v1/usecases/{use_case.slug}/", {"positive_label": "x" * 61}, format="json"
    )
    assert long.status_code == 400 and long.json()["errors"][0]["field"] == "positive_label"


def test_a_new_threshold_has_the_stored_confidences_recomputed_once_committed(
    personas, monkeypatch, django_capture_on_commit_callbacks
):
    from predictions.tasks import recompute_confidences_task

    sent = []
    monkeypatch.setattr(recompute_confidences_task, "delay", sent.append)
    use_case = usecases.create_use_case(by=personas["owner"], title="Churn", task_type="binary")
    with django_capture_on_commit_callbacks(execute=True):
        usecases.update_use_case(use_case, by=personas["owner"], positive_label="will churn")
    assert sent == []  # a name changes no distance
    with django_capture_on_commit_callbacks(execute=True):
        usecases.update_use_case(use_case, by=personas["owner"], decision_threshold=0.3)
    assert sent == [use_case.pk]
