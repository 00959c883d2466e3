"""Audit verbs and fields in words: what the history tab and the audit page say each event
did, and what it changed.

A verb is "<kind>.<what happened>" (audit.record(verb=…) in every app's services). A verb
missing here still shows, as it is stored; tests/usecases/test_audit_pages.py checks that
every verb the code records has its phrase. Whole sentences, with names and what changed,
are usecases/activity.py's.

The fields an event's before/after hold belong to the app that records it, which this module
cannot import (usecases is below them): each app registers its fields with register(), from
its AppConfig.ready() (usecases' own, in usecases/activity.py). A field nobody registered reads
as its name with spaces, its value as stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Past tense, read after the actor's name: "maria approved a promotion".
VERBS = {
    "usecase.created": "created the use case",
    "usecase.updated": "edited the definition",
    "usecase.phase_changed": "changed the phase",
    "usecase.deleted": "deleted the use case",
    "kpi.created": "added a KPI",
    "kpi.updated": "edited a KPI",
    "kpi.deleted": "removed a KPI",
    "value_model.created": "set the value model",
    "value_model.updated": "edited the value model",
    "rule.created": "added a data-quality rule",
    "rule.updated": "edited a data-quality rule",
    "rule.deleted": "removed a data-quality rule",
    "member.added": "added a member",
    "member.role_changed": "changed a member's role",
    "member.removed": "removed a member",
    "member.welcome_resent": "sent a welcome e-mail again",
    "token.created": "created an API token",
    "token.revoked": "revoked an API token",
    "version.registered": "registered a version",
    "version.updated": "edited a version",
    "version.stage_changed": "changed a version's stage",
    "dataset.uploaded": "uploaded a dataset",
    "dataset.deleted": "deleted a dataset",
    "dataset.marked_reference": "marked the reference dataset",
    "predictions.uploaded": "uploaded predictions",
    "predictions.replaced": "replaced predictions",
    "evaluation.queued": "started an evaluation",
    "evaluation.succeeded": "completed an evaluation",
    "review_campaign.created": "created a review campaign",
    "review_campaign.closed": "closed a review campaign",
    "promotion.requested": "requested a promotion",
    "promotion.approved": "approved a promotion",
    "promotion.rejected": "rejected a promotion",
    "promotion.withdrawn": "withdrew a promotion request",
    "promotion.gates_overridden": "overrode a promotion's gates",
    "promotion.executed": "executed a promotion",
    # The last approval (or an override) ran the promotion, and a gate refused it.
    "promotion.refused": "triggered a promotion that was refused",
    "promotion_policy.changed": "changed the promotion policy",
    "deployment.rolled_back": "rolled back the deployment",
    "webhook.resent": "resent a deployment webhook",
    "comment.posted": "posted a comment",
    "comment.edited": "edited a comment",
    "comment.deleted": "deleted a comment",
    # Monitoring: opened and closed by the nightly job (no actor), handled by a member.
    "alert.opened": "opened a monitoring alert",
    "alert.closed": "closed a monitoring alert",
    "alert.acknowledged": "acknowledged a monitoring alert",
    "alert.resolved": "resolved a monitoring alert",
    "monitoring_policy.changed": "changed the monitoring policy",
    "mlflow_link.saved": "linked the use case to MLflow",
    "mlflow_link.removed": "unlinked the use case from MLflow",
    "mlflow.imported": "imported versions from MLflow",
}

# The kinds of event, for the audit filters; a kind is a verb's part before the dot.
KINDS = {
    "usecase": "Use case",
    "kpi": "KPI",
    "value_model": "Value model",
    "rule": "Data-quality rule",
    "member": "Member",
    "token": "API token",
    "version": "Version",
    "dataset": "Dataset",
    "predictions": "Predictions",
    "evaluation": "Evaluation",
    "review_campaign": "Review campaign",
    "promotion": "Promotion",
    "promotion_policy": "Promotion policy",
    "deployment": "Deployment",
    "webhook": "Webhook",
    "comment": "Comment",
    "alert": "Monitoring alert",
    "monitoring_policy": "Monitoring policy",
    "mlflow_link": "MLflow link",
    "mlflow": "MLflow import",
}


def verb_label(verb: str) -> str:
    """The verb in words, or the verb as stored if it has none."""
    return VERBS.get(verb, verb)


def kind_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The kinds, then each kind's exact verbs: grouped (value, label) pairs for a <select>.
    Options start with a capital ("Approved a promotion")."""
    groups = [("Kinds", list(KINDS.items()))]
    for kind, kind_label in KINDS.items():
        verbs = [
            (verb, label[0].upper() + label[1:])
            for verb, label in VERBS.items()
            if verb_kind(verb) == kind
        ]
        groups.append((kind_label, verbs))
    return groups


def verb_kind(verb: str) -> str:
    """The kind of a verb: its part before the dot ("promotion" for promotion.approved)."""
    return verb.partition(".")[0]


# Registered fields, by (target type, field name): the target type is AuditEvent.target_type
# (the model's name, "reviewcampaign"); "" stands for any target.
_LABELS: dict[tuple[str, str], str] = {}
_CHOICES: dict[tuple[str, str], dict[str, str]] = {}
_PEOPLE: set[tuple[str, str]] = set()
_HIDDEN: set[tuple[str, str]] = set()

Choices = Mapping[str, str] | Iterable[tuple[str, str]]


def register(
    target="",
    *,
    labels: Mapping[str, str] | None = None,
    choices: Mapping[str, Choices] | None = None,
    people: Iterable[str] = (),
    hidden: Iterable[str] = (),
) -> None:
    """Words for the fields the events of `target` (a model, or its name) hold:
    `labels` names fields ("traffic_percent": "traffic"); `choices` gives each coded field
    its values' labels (a TextChoices class, pairs or a dict; for a dict value, its keys and
    values both); `people` are fields holding a username (shown as the person's name);
    `hidden` are internal references (ids of other rows) that no page shows."""
    key = target if isinstance(target, str) else target._meta.model_name
    for name, label in (labels or {}).items():
        _LABELS[key, name] = label
    for name, values in (choices or {}).items():
        values = getattr(values, "choices", values)
        pairs = values.items() if isinstance(values, Mapping) else values
        _CHOICES.setdefault((key, name), {}).update((str(c), str(v)) for c, v in pairs)
    _PEOPLE.update((key, name) for name in people)
    _HIDDEN.update((key, name) for name in hidden)


def _registered(table, target: str, name: str):
    found = table.get((target, name))
    return found if found is not None else table.get(("", name))


def field_label(target: str, name: str) -> str:
    """ "traffic" for traffic_percent; an unregistered field's name with spaces."""
    return _registered(_LABELS, target, name) or name.replace("_", " ")


def value_label(target: str, name: str, code: str) -> str | None:
    """The label of a coded value of the field, or None if it has none."""
    return (_registered(_CHOICES, target, name) or {}).get(code)


def is_person(target: str, name: str) -> bool:
    return (target, name) in _PEOPLE or ("", name) in _PEOPLE


def is_hidden(target: str, name: str) -> bool:
    return (target, name) in _HIDDEN or ("", name) in _HIDDEN


def coded_values() -> dict[tuple[str, str], dict[str, str]]:
    """Every registered field's {code: label} (for tests: no page shows a code)."""
    return {key: dict(values) for key, values in _CHOICES.items()}
