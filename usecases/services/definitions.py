"""Writes to what a use case's success means: KPIs, the value model, data-quality rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from portal.errors import InvalidInput
from usecases.models import KPI, DataQualityRule, UseCase, ValueModel
from usecases.services import audit, validation
from usecases.services.usecases import apply_changes, lock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KPI_FIELDS = (
    "name",
    "metric",
    "direction",
    "target",
    "gate_threshold",
    "is_gating",
    "gate_mode",
    "segment",
)
VALUE_MODEL_FIELDS = ValueModel.INPUT_FIELDS
RULE_FIELDS = ("field", "kind", "params", "severity", "description")


def _save_unique(instance, field: str, message: str) -> None:
    """Save; a unique-constraint clash becomes a field error instead of a 500."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise InvalidInput(message, field=field) from None


def _check_kpi(use_case: UseCase, kpi: KPI) -> None:
    validation.check_kpi(
        use_case,
        metric=kpi.metric,
        direction=kpi.direction,
        target=kpi.target,
        gate_threshold=kpi.gate_threshold,
    )


@transaction.atomic
def create_kpi(use_case: UseCase, *, by: User, **fields) -> KPI:
    """Add a KPI; the direction defaults to the metric's natural one."""
    use_case = lock(use_case)
    fields.setdefault("direction", validation.default_direction(fields.get("metric", "")))
    kpi = KPI(use_case=use_case, **fields)
    _check_kpi(use_case, kpi)
    _save_unique(kpi, "name", f"This use case already has a KPI named “{kpi.name}”.")
    audit.record(
        actor=by,
        verb="kpi.created",
        target=kpi,
        use_case=use_case,
        after=audit.snapshot(kpi, list(KPI_FIELDS)),
    )
    return kpi


@transaction.atomic
def update_kpi(kpi: KPI, *, by: User, **changes) -> KPI:
    use_case = lock(kpi.use_case)
    kpi = KPI.objects.get(pk=kpi.pk)
    before, after = apply_changes(kpi, {k: v for k, v in changes.items() if k in KPI_FIELDS})
    if after:
        _check_kpi(use_case, kpi)
        _save_unique(kpi, "name", f"This use case already has a KPI named “{kpi.name}”.")
        audit.record(
            actor=by, verb="kpi.updated", target=kpi, use_case=use_case, before=before, after=after
        )
    return kpi


@transaction.atomic
def delete_kpi(kpi: KPI, *, by: User) -> None:
    use_case = lock(kpi.use_case)
    audit.record(
        actor=by,
        verb="kpi.deleted",
        target=kpi,
        use_case=use_case,
        before=audit.snapshot(kpi, list(KPI_FIELDS)),
    )
    kpi.delete()


@transaction.atomic
def save_value_model(use_case: UseCase, *, by: User, **fields) -> ValueModel:
    """Create or replace the use case's value model (fields for its task type are required)."""
    use_case = lock(use_case)
    fields = {k: v for k, v in fields.items() if k in VALUE_MODEL_FIELDS}
    value_model = ValueModel.objects.filter(use_case=use_case).first()
    created = value_model is None
    value_model = value_model or ValueModel(use_case=use_case)
    current = {name: getattr(value_model, name) for name in VALUE_MODEL_FIELDS}
    validation.check_value_model(use_case, {**current, **fields})
    before, after = apply_changes(value_model, fields)
    if created or after:
        value_model.save()
        audit.record(
            actor=by,
            verb="value_model.created" if created else "value_model.updated",
            target=value_model,
            use_case=use_case,
            before=None if created else before,
            after=audit.snapshot(value_model, list(VALUE_MODEL_FIELDS)) if created else after,
        )
    return value_model


def _clean_rule(use_case: UseCase, rule: DataQualityRule) -> None:
    rule.params = validation.check_rule(
        use_case, field=rule.field, kind=rule.kind, params=rule.params
    )


RULE_CLASH = "This field already has a rule of that kind; edit it instead."


@transaction.atomic
def create_rule(use_case: UseCase, *, by: User, **fields) -> DataQualityRule:
    use_case = lock(use_case)
    rule = DataQualityRule(use_case=use_case, **fields)
    _clean_rule(use_case, rule)
    _save_unique(rule, "kind", RULE_CLASH)
    audit.record(
        actor=by,
        verb="rule.created",
        target=rule,
        use_case=use_case,
        after=audit.snapshot(rule, list(RULE_FIELDS)),
    )
    return rule


@transaction.atomic
def update_rule(rule: DataQualityRule, *, by: User, **changes) -> DataQualityRule:
    use_case = lock(rule.use_case)
    rule = DataQualityRule.objects.get(pk=rule.pk)
    if "params" in changes or "kind" in changes or "field" in changes:
        probe = DataQualityRule(
            use_case=use_case,
            field=changes.get("field", rule.field),
            kind=changes.get("kind", rule.kind),
            params=changes.get("params", rule.params),
        )
        _clean_rule(use_case, probe)
        changes["params"] = probe.params
    before, after = apply_changes(rule, {k: v for k, v in changes.items() if k in RULE_FIELDS})
    if after:
        _save_unique(rule, "kind", RULE_CLASH)
        audit.record(
            actor=by,
            verb="rule.updated",
            target=rule,
            use_case=use_case,
            before=before,
            after=after,
        )
    return rule


@transaction.atomic
def delete_rule(rule: DataQualityRule, *, by: User) -> None:
    use_case = lock(rule.use_case)
    audit.record(
        actor=by,
        verb="rule.deleted",
        target=rule,
        use_case=use_case,
        before=audit.snapshot(rule, list(RULE_FIELDS)),
    )
    rule.delete()
