"""Audit verbs in words: what the history tab and the audit page say each event did.

A verb is "<kind>.<what happened>" (audit.record(verb=…) in every app's services). A verb
missing here still shows, as it is stored; tests/usecases/test_audit_pages.py checks that
every verb the code records has its phrase. Whole sentences, with names and what changed,
are usecases/activity.py's.
"""

from __future__ import annotations

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
