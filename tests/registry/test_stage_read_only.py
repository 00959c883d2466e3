"""A version's stage, canary traffic and stage timestamp move only through a promotion
(promotions app): nothing in the registry (API, pages, services, admin) writes them."""

import pytest
from django.contrib import admin
from django.urls import reverse

from registry import models
from registry.models import ModelVersion
from registry.services import registering
from tests.conftest import login

UC = "/api/v1/usecases/demand-forecast"
STAGE_FIELDS = {"stage": "production", "traffic_percent": 50, "stage_changed_at": None}


def stage_of(name: str) -> tuple:
    version = ModelVersion.objects.get(version=name)
    return version.stage, version.traffic_percent, version.stage_changed_at


def test_the_api_shows_the_stage_timestamp_and_ignores_stage_fields_on_registration(api, use_case):
    body = {
        "version": "1.4.0",
        "stage": "production",
        "traffic_percent": 50,
        "stage_changed_at": "2026-12-01T10:00:00Z",
    }
    response = api("owner").post(f"{UC}/versions/", body, format="json")
    assert response.status_code == 201, response.content
    shown = response.json()
    assert (shown["stage"], shown["traffic_percent"], shown["stage_changed_at"]) == (
        "registered",
        None,
        None,
    )
    assert stage_of("1.4.0") == ("registered", None, None)


def test_the_registration_form_ignores_stage_fields(client, personas, use_case):
    login(client, personas, "data_scientist")
    body = {"version": "1.4.0", "stage": "production", "traffic_percent": "50"}
    response = client.post(reverse("registry:versions", args=[use_case.slug]), body)
    assert response.status_code == 302
    assert stage_of("1.4.0") == ("registered", None, None)


@pytest.mark.parametrize("field", sorted(STAGE_FIELDS))
def test_the_registry_services_take_no_stage_field(use_case, personas, field):
    by = personas["owner"]
    with pytest.raises(TypeError, match=field):
        registering.register_version(use_case, by=by, version="1.0", **{field: STAGE_FIELDS[field]})
    version = registering.register_version(use_case, by=by, version="1.0")
    with pytest.raises(TypeError, match=field):
        registering.update_version(version, by=by, **{field: STAGE_FIELDS[field]})
    assert stage_of("1.0") == ("registered", None, None)


def test_no_registry_model_is_editable_in_the_django_admin():
    registered = [
        model.__name__
        for model in (
            models.ModelVersion,
            models.EvaluationDataset,
            models.PredictionSet,
            models.Evaluation,
            models.StoredTable,
        )
        if admin.site.is_registered(model)
    ]
    assert registered == []
