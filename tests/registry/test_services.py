"""The registry's write services called directly: what their signatures take and refuse."""

import inspect

import pytest

from registry.api import serializers
from registry.forms import VersionForm
from registry.models import ModelVersion
from registry.services import registering
from usecases.models import AuditEvent


def keywords(service) -> set[str]:
    """The fields a service takes: its keyword-only parameters but `by`."""
    parameters = inspect.signature(service).parameters.values()
    return {p.name for p in parameters if p.kind is p.KEYWORD_ONLY} - {"by"}


def test_every_field_the_page_and_the_api_pass_is_a_parameter_of_their_service():
    # The views spread cleaned_data / validated_data into the services.
    assert keywords(registering.register_version) == set(ModelVersion.INPUT_FIELDS)
    assert set(VersionForm.base_fields) == set(ModelVersion.INPUT_FIELDS)
    assert set(serializers.ModelVersionInput.Meta.fields) == set(ModelVersion.INPUT_FIELDS)
    assert keywords(registering.update_version) == set(ModelVersion.EDITABLE_FIELDS)
    assert set(serializers.ModelVersionUpdateInput.Meta.fields) == set(ModelVersion.EDITABLE_FIELDS)


def test_a_registered_version_takes_the_column_defaults(use_case, personas):
    version = registering.register_version(use_case, by=personas["data_scientist"], version="1")
    version.refresh_from_db()
    assert (version.description, version.parameters, version.tags, version.stage) == (
        "",
        {},
        {},
        "registered",
    )


def test_an_update_leaves_the_fields_it_is_not_given_and_refuses_the_name_and_stage(
    use_case, personas
):
    by = personas["data_scientist"]
    version = registering.register_version(
        use_case, by=by, version="1.0", framework="lightgbm", tags={"team": "forecasting"}
    )
    registering.update_version(version, by=by, description="Retrained")
    for fixed in ({"version": "2.0"}, {"stage": "production"}):
        with pytest.raises(TypeError, match=next(iter(fixed))):
            registering.update_version(version, by=by, **fixed)
    version.refresh_from_db()
    assert (version.version, version.stage, version.description) == (
        "1.0",
        "registered",
        "Retrained",
    )
    assert (version.framework, version.tags) == ("lightgbm", {"team": "forecasting"})
    event = AuditEvent.objects.get(verb="version.updated")
    assert (event.before, event.after) == ({"description": ""}, {"description": "Retrained"})
