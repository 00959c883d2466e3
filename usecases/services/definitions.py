"""Writes to what a use case's success means: KPIs, the value model, data-quality rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.errors import InvalidInput
from usecases import events
from usecases.models import KPI, DataQualityRule, UseCase, ValueModel
from usecases.services import audit, validation
from usecases.services.usecases import UNCHANGED, Unchanged, apply_changes, given, lock

if TYPE_CHECKING:
    from decimal import Decimal

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
def create_kpi(
    use_case: UseCase,
    *,
    by: User,
    name: str,
    metric: str,
    target: float,
    gate_threshold: float,
    direction: str | None = None,
    is_gating: bool = True,
    gate_mode: str = KPI.GateMode.POINT,
    segment: str = "",
) -> KPI:
    """Add a KPI; the direction defaults (None) to the metric's natural one."""
    use_case = lock(use_case)
    kpi = KPI(
        use_case=use_case,
        name=name,
        metric=metric,
        direction=validation.default_direction(metric) if direction is None else direction,
        target=target,
        gate_threshold=gate_threshold,
        is_gating=is_gating,
        gate_mode=gate_mode,
        segment=segment,
    )
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
def update_kpi(
    kpi: KPI,
    *,
    by: User,
    name: str | Unchanged = UNCHANGED,
    metric: str | Unchanged = UNCHANGED,
    direction: str | Unchanged = UNCHANGED,
    target: float | Unchanged = UNCHANGED,
    gate_threshold: float | Unchanged = UNCHANGED,
    is_gating: bool | Unchanged = UNCHANGED,
    gate_mode: str | Unchanged = UNCHANGED,
    segment: str | Unchanged = UNCHANGED,
) -> KPI:
    """Change the given fields of a KPI (the others stay), checked as a whole."""
    changes = given(
        name=name,
        metric=metric,
        direction=direction,
        target=target,
        gate_threshold=gate_threshold,
        is_gating=is_gating,
        gate_mode=gate_mode,
        segment=segment,
    )
    use_case = lock(kpi.use_case)
    kpi = KPI.objects.get(pk=kpi.pk)
    before, after = apply_changes(kpi, changes)
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
def save_value_model(
    use_case: UseCase,
    *,
    by: User,
    currency: str | Unchanged = UNCHANGED,
    value_true_positive: Decimal | None | Unchanged = UNCHANGED,
    value_true_negative: Decimal | None | Unchanged = UNCHANGED,
    cost_false_positive: Decimal | None | Unchanged = UNCHANGED,
    cost_false_negative: Decimal | None | Unchanged = UNCHANGED,
    cost_per_unit_under: Decimal | None | Unchanged = UNCHANGED,
    cost_per_unit_over: Decimal | None | Unchanged = UNCHANGED,
    notes: str | Unchanged = UNCHANGED,
) -> ValueModel:
    """Create or replace the use case's value model (fields for its task type are required).

    A field not given keeps its value (a new value model's: the column default), so the
    page's form, which shows only the task type's fields, leaves the others alone."""
    use_case = lock(use_case)
    fields = given(
        currency=currency,
        value_true_positive=value_true_positive,
        value_true_negative=value_true_negative,
        cost_false_positive=cost_false_positive,
        cost_false_negative=cost_false_negative,
        cost_per_unit_under=cost_per_unit_under,
        cost_per_unit_over=cost_per_unit_over,
        notes=notes,
    )
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
# What a rule counts depends on these; its description changes nothing counted.
COUNTING_FIELDS = {"field", "kind", "params", "severity"}


def _rules_changed(use_case: UseCase) -> None:
    """Stamp the use case (its tallies counted before are stale) and, once committed, tell
    the apps that recount them (usecases.events.rules_changed)."""
    now = timezone.now()
    UseCase.objects.filter(pk=use_case.pk).update(rules_changed_at=now)
    use_case.rules_changed_at = now
    use_case_id = use_case.pk
    transaction.on_commit(
        lambda: events.rules_changed.send(sender=UseCase, use_case_id=use_case_id)
    )


@transaction.atomic
def create_rule(
    use_case: UseCase,
    *,
    by: User,
    field: str,
    kind: str,
    params: dict | None = None,
    severity: str = DataQualityRule.Severity.ERROR,
    description: str = "",
) -> DataQualityRule:
    """Add a data-quality rule (one per field and kind) with its parameters checked."""
    use_case = lock(use_case)
    rule = DataQualityRule(
        use_case=use_case,
        field=field,
        kind=kind,
        params={} if params is None else params,
        severity=severity,
        description=description,
    )
    _clean_rule(use_case, rule)
    _save_unique(rule, "kind", RULE_CLASH)
    _rules_changed(use_case)
    audit.record(
        actor=by,
        verb="rule.created",
        target=rule,
        use_case=use_case,
        after=audit.snapshot(rule, list(RULE_FIELDS)),
    )
    return rule


@transaction.atomic
def update_rule(
    rule: DataQualityRule,
    *,
    by: User,
    field: str | Unchanged = UNCHANGED,
    kind: str | Unchanged = UNCHANGED,
    params: dict | Unchanged = UNCHANGED,
    severity: str | Unchanged = UNCHANGED,
    description: str | Unchanged = UNCHANGED,
) -> DataQualityRule:
    """Change the given fields of a rule (the others stay); the parameters are re-checked
    whenever the field, kind or parameters change."""
    changes = given(
        field=field, kind=kind, params=params, severity=severity, description=description
    )
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
    before, after = apply_changes(rule, changes)
    if after:
        _save_unique(rule, "kind", RULE_CLASH)
        if COUNTING_FIELDS & set(after):
            _rules_changed(use_case)
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
    _rules_changed(use_case)
