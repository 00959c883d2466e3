"""Audit events as sentences people read: "Maria Manager approved the promotion of version
2.0.0 to production", "Erik edited the KPI “MAE” (target 3 → 4)".

The activity feeds, the History tab and the audit page all speak this language. Names, not
codes: people by their full name, every coded value by the label its app registered
(usecases.audit_labels.register(), from each app's AppConfig.ready()), dates and times as the
pages show them, in the site's time zone, what changed from the event's before/after in
words (no raw JSON), internal references (the ids of other rows) left out. `sentences()`
costs one query (the people named) whatever the number of events. A verb without its own
wording reads as its phrase in audit_labels.VERBS followed by what it concerns.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from knox.models import AuthToken

from portal.formatting import value_text
from usecases import audit_labels
from usecases.audit_labels import field_label, is_hidden, is_person, value_label, verb_label
from usecases.catalogue import Metric
from usecases.models import (
    KPI,
    AuditEvent,
    DataQualityRule,
    Role,
    UseCase,
    UseCaseMember,
    ValueModel,
)

SYSTEM = "Quorum"  # who did what no person did (a worker finishing an evaluation)
LONG = 60  # characters: a longer value is named ("edited the problem statement"), not quoted
# Fields a sentence leaves to the History tab's table: free text (a note, a reason) and what
# the sentence says already ("(a rollback)").
QUIET = {"note", "reason", "rollback"}
# Moments as the pages show them (templates' |date filters), in the site's time zone.
DATE_FORMAT, DATETIME_FORMAT = "j M Y", "j M Y, H:i"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")

# usecases' own fields (the apps above register theirs from their AppConfig.ready()).
audit_labels.register(
    UseCase,
    labels={
        "expected_value_per_year": "expected yearly value",
        "expected_value_currency": "currency of the value",
        "effort_person_days": "effort (person-days)",
        "phase_changed_at": "in this phase since",
        "skip_justification": "justification of the skip",
        "due_date": "due",
        "done_at": "done",
    },
    choices={
        "phase": UseCase.Phase,
        "priority": UseCase.Priority,
        "risk_tier": UseCase.RiskTier,
        "task_type": UseCase.TaskType,
    },
    people={"owner"},
)
audit_labels.register(
    KPI,
    labels={"is_gating": "gating", "gate_mode": "gate mode", "gate_threshold": "gate threshold"},
    choices={"metric": Metric, "direction": KPI.Direction, "gate_mode": KPI.GateMode},
)
audit_labels.register(
    DataQualityRule,
    labels={"field": "column", "params": "parameters"},
    choices={"kind": DataQualityRule.Kind, "severity": DataQualityRule.Severity},
)
audit_labels.register(
    ValueModel,
    labels={
        "value_true_positive": "value of a true positive",
        "value_true_negative": "value of a true negative",
        "cost_false_positive": "cost of a false positive",
        "cost_false_negative": "cost of a false negative",
    },
)
audit_labels.register(
    UseCaseMember,
    labels={"user": "member", "notify_error": "welcome e-mail error"},
    choices={"role": Role},
    people={"user"},
)
audit_labels.register(
    AuthToken,
    labels={"user": "account", "token_key": "token", "expiry": "expires"},
    people={"user"},
)


@dataclass
class Entry:
    """One event in words: `text` is plain (templates escape it), read after `actor_name`
    ("Erik Expert" + " " + text would repeat the name: `text` holds the whole sentence)."""

    event: AuditEvent
    actor_name: str
    text: str
    url: str
    at: datetime.datetime
    # (field, before, after) in words, for the History tab's table of changes.
    changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)


def sentences(events: Iterable[AuditEvent]) -> list[Entry]:
    """Each event as an Entry, in the order given; one query for the people named."""
    events = list(events)
    names = _people(events)
    entries = []
    for event in events:
        actor = names.get(("id", event.actor_id)) or event.actor_name or SYSTEM
        if event.actor_id is None and not event.actor_name:
            actor = SYSTEM
        words = WORDING.get(event.verb, _generic)(event, names)
        entries.append(
            Entry(
                event=event,
                actor_name=actor,
                text=f"{actor} {words}",
                url=_url(event),
                at=event.created_at,
                changes=changes_in_words(event, names),
            )
        )
    return entries


def _people(events: list[AuditEvent]) -> dict:
    """{("id", pk) or ("name", username): full name} for the actors and the people the
    events' fields name (those registered as people: a member, an owner)."""
    ids = {event.actor_id for event in events if event.actor_id}
    usernames = {event.actor_name for event in events if event.actor_name}
    for event in events:
        for values in (event.before, event.after):
            if isinstance(values, dict):
                usernames.update(
                    value
                    for name, value in values.items()
                    if isinstance(value, str) and value and is_person(event.target_type, name)
                )
    if not ids and not usernames:
        return {}
    user_model = get_user_model()
    key = user_model.USERNAME_FIELD
    people = user_model.objects.filter(Q(pk__in=ids) | Q(**{f"{key}__in": usernames}))
    names = {}
    for person in people.only("pk", key, "first_name", "last_name"):
        name = person.get_full_name() or person.get_username()
        names[("id", person.pk)] = name
        names[("name", person.get_username())] = name
    return names


def _person(names: dict, username) -> str:
    return names.get(("name", username)) or str(username or "someone")


def _quoted(value) -> str:
    return f"“{value}”"


def _version_of(event: AuditEvent, default: str = "?") -> str:
    """The version an event concerns: from its after/before, else from its target's text
    ("demand-forecast v2.0.0", "#3 demand-forecast v2.0.0 → Production")."""
    for values in (event.after, event.before):
        if isinstance(values, dict) and values.get("version"):
            return str(values["version"])
    match = re.search(r" v(\S+)", event.target_repr)
    return match.group(1) if match else default


def _promotion(event: AuditEvent) -> str:
    """ "the promotion of version 2.0.0 to production", from the request's text; "a
    promotion" when the event does not say which."""
    version = _version_of(event, default="")
    if not version:
        return "a promotion"
    after = event.after if isinstance(event.after, dict) else {}
    stage = after.get("target_stage")
    if stage is None:
        match = re.search(r"→ (.+)$", event.target_repr)
        stage = match.group(1) if match else ""
    stage = _stage(stage) if stage else ""
    return f"the promotion of version {version}" + (f" to {stage}" if stage else "")


def _stage(code) -> str:
    """A version's stage in a sentence: "shadow" (the registry's label, lower case)."""
    label = value_label("modelversion", "stage", str(code))
    return (label or str(code)).lower()


def _moment(text: str) -> str | None:
    """An ISO date or datetime as the pages show it (local time); None if `text` is not."""
    try:
        if ISO_DATE.fullmatch(text):
            return formats.date_format(datetime.date.fromisoformat(text), DATE_FORMAT)
        if ISO_DATETIME.fullmatch(text):
            moment = datetime.datetime.fromisoformat(text)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, datetime.UTC)
            return formats.date_format(timezone.localtime(moment), DATETIME_FORMAT)
    except ValueError:
        return None
    return None


def _value(target: str, name: str, value) -> str | None:
    """A stored value of the field `name` in words; None for nothing (a dash on the page)."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, str):
        return value_label(target, name, value) or _moment(value) or value
    if name == "traffic_percent" and isinstance(value, int | float):
        return f"{value:g} %"
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() else f"{value:.6g}"
    if isinstance(value, dict):
        return _record(target, name, value)
    if isinstance(value, list):
        separator = "; " if any(isinstance(item, dict) for item in value) else ", "
        return separator.join(_value(target, name, item) or "—" for item in value)
    return value_text(value, decimals=None)


def _record(target: str, name: str, values: dict) -> str:
    """A dict in words: "Pilot (due 30 Jun 2026)" when it has a name (a milestone, a
    feature), else "key: value, …"; its keys and values read through the field's choices
    (a promotion's gates: "Experts' acceptance rate: Passed")."""
    parts = {
        value_label(target, name, str(key)) or field_label(target, str(key)): _value(
            target, name, item
        )
        for key, item in values.items()
    }
    title = values.get("name") if isinstance(values.get("name"), str) else None
    if title is not None:
        parts.pop(field_label(target, "name"), None)
        rest = ", ".join(f"{key} {item}" for key, item in parts.items() if item)
        return f"{title} ({rest})" if rest else title
    return ", ".join(f"{key}: {item or '—'}" for key, item in parts.items())


def changes_in_words(event: AuditEvent, names: dict | None = None) -> list:
    """(field, before, after) in words for each field that differs (creations: what was
    set; deletions: what was there); a rule's parameters read as the rule does; people by
    name (with `names` from _people()); internal references left out."""
    return [(label, old, new) for _, label, old, new in _changes(event, names)]


def _changes(
    event: AuditEvent, names: dict | None
) -> list[tuple[str, str, str | None, str | None]]:
    """changes_in_words(), each row led by the field's own name."""
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    target = event.target_type
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new or is_hidden(target, key):
            continue
        if key == "params" and event.verb.startswith("rule."):
            old = _rule_summary(before, after) if key in before else None
            new = _rule_summary(after, before) if key in after else None
            rows.append((key, "rule", old, new))
            continue
        if is_person(target, key) and names is not None:
            old = _person(names, old) if old else None
            new = _person(names, new) if new else None
            rows.append((key, field_label(target, key), old, new))
            continue
        old_text, new_text = _value(target, key, old), _value(target, key, new)
        if old_text or new_text:
            rows.append((key, field_label(target, key), old_text, new_text))
    return rows


def _rule_summary(values: dict, other: dict | None = None) -> str:
    """The rule as it reads ("between 0 and 9"); its parameters in words when the event does
    not say its kind (an edit of the parameters alone)."""
    kind = values.get("kind") or (other or {}).get("kind") or ""
    rule = DataQualityRule(kind=kind, params=values.get("params") or {})
    try:
        summary = rule.summary if kind else ""
    except (TypeError, ValueError, AttributeError):
        summary = ""
    return summary or _value("dataqualityrule", "params", values.get("params")) or "—"


def _short_changes(event: AuditEvent, names: dict | None = None, limit: int = 3) -> str:
    """ "(target 3 → 4, gate threshold 5 → 6)"; long values by name only; "" if none."""
    parts = []
    for key, name, old, new in _changes(event, names):
        if key in QUIET:
            continue
        if old and new and len(old) <= LONG and len(new) <= LONG:
            parts.append(f"{name} {old} → {new}")
        elif new and not old and len(new) <= LONG:
            parts.append(f"{name} {new}")
        else:
            parts.append(name)
    if not parts:
        return ""
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return f" ({', '.join(parts[:limit])}{more})"


def _field(event: AuditEvent, name: str):
    for values in (event.after, event.before):
        if isinstance(values, dict) and values.get(name) not in (None, ""):
            return values[name]
    return None


# One function per verb: the words after the actor's name.
Wording = Callable[[AuditEvent, dict], str]


def _generic(event: AuditEvent, names: dict) -> str:
    """The verb's phrase, what it concerns and what changed."""
    what = "" if event.target_type == "usecase" else f" {_quoted(event.target_repr)}"
    if not event.target_repr:
        what = ""
    return f"{verb_label(event.verb)}{what}{_short_changes(event, names)}"


def _use_case_title(event: AuditEvent) -> str:
    return _quoted(_field(event, "title") or event.target_repr or event.use_case_slug)


def _phase_changed(event: AuditEvent, names: dict) -> str:
    old = _value("usecase", "phase", (event.before or {}).get("phase")) or "?"
    new = _value("usecase", "phase", (event.after or {}).get("phase")) or "?"
    skipped = " (skipping a step, with a justification)" if _field(event, "skipped") else ""
    return f"changed the phase from {old} to {new}{skipped}"


def _member(event: AuditEvent, names: dict, what: str) -> str:
    user = _field(event, "user")
    if user is None:  # the welcome e-mail's event names the member in its target's text
        user = event.target_repr.partition(" (")[0]
    person = _person(names, user)
    role = _value("usecasemember", "role", _field(event, "role")) or ""
    if what == "added":
        return f"added {person} as {role.lower() or 'a member'}"
    if what == "removed":
        return f"removed {person}" + (f" ({role.lower()})" if role else "")
    if what == "role":
        old = _value("usecasemember", "role", (event.before or {}).get("role")) or "?"
        new = _value("usecasemember", "role", (event.after or {}).get("role")) or "?"
        return f"changed {person}’s role from {old.lower()} to {new.lower()}"
    return f"sent {person} the welcome e-mail again"


def _named(kind: str, key: str = "name") -> Callable[[str], Wording]:
    """ "added the KPI “MAE” (…)" for kpi.created and its kin."""

    def with_verb(verb: str) -> Wording:
        def wording(event: AuditEvent, names: dict) -> str:
            name = _field(event, key) or event.target_repr.split(" (")[0]
            changes = _short_changes(event, names) if verb == "edited" else ""
            return f"{verb} the {kind} {_quoted(name)}{changes}"

        return wording

    return with_verb


_kpi, _dataset, _campaign = _named("KPI"), _named("dataset"), _named("review campaign")


def _rule(verb: str) -> Wording:
    def wording(event: AuditEvent, names: dict) -> str:
        column = _field(event, "field") or event.target_repr.split(":")[0]
        if verb == "edited":
            changes = _short_changes(event, names)
            return f"edited the data-quality rule on {_quoted(column)}{changes}"
        values = event.after if verb == "added" else event.before
        summary = _rule_summary(values or {})
        return f"{verb} the data-quality rule {_quoted(column)}: {summary}"

    return wording


def _version(event: AuditEvent, names: dict) -> str:
    if event.verb == "version.registered":
        return f"registered version {_version_of(event)}"
    if event.verb == "version.updated":
        return f"edited version {_version_of(event)}{_short_changes(event, names)}"
    old = _stage((event.before or {}).get("stage") or "?")
    new = _stage((event.after or {}).get("stage") or "?")
    traffic = _field(event, "traffic_percent")
    share = f" ({traffic} % of traffic)" if new == "canary" and traffic else ""
    why = " (a rollback)" if (event.after or {}).get("rollback") else ""
    return f"moved version {_version_of(event)} from {old} to {new}{share}{why}"


def _data(event: AuditEvent, names: dict) -> str:
    version, dataset = _version_of(event), _quoted(_field(event, "dataset") or "?")
    rows = _field(event, "rows")
    count = f" ({value_text(rows)} rows)" if isinstance(rows, int) else ""
    if event.verb == "predictions.uploaded":
        return f"uploaded the predictions of version {version} on {dataset}{count}"
    if event.verb == "predictions.replaced":
        return f"replaced the predictions of version {version} on {dataset}{count}"
    if event.verb == "evaluation.queued":
        return f"started an evaluation of version {version} on {dataset}"
    gates = _field(event, "passed_gates")
    verdict = {True: ": every gate passed", False: ": a gate failed"}.get(gates, "")
    return f"completed the evaluation of version {version} on {dataset}{verdict}"


def _dataset_event(event: AuditEvent, names: dict) -> str:
    if event.verb == "dataset.marked_reference":
        return f"made {_quoted(_field(event, 'reference'))} the reference dataset"
    name = _field(event, "name") or event.target_repr
    if event.verb == "dataset.deleted":
        return f"deleted the dataset {_quoted(name)}"
    rows = _field(event, "rows")
    count = f" ({value_text(rows)} rows)" if isinstance(rows, int) else ""
    return f"uploaded the dataset {_quoted(name)}{count}"


def _promotion_event(event: AuditEvent, names: dict) -> str:
    what = _promotion(event)
    verb = event.verb.partition(".")[2]
    if verb == "requested":
        return f"requested {what}"
    if verb == "approved":
        waiting = (event.after or {}).get("waiting_for")
        return f"approved {what}" + ("" if waiting else "; it needs no more approvals")
    if verb == "rejected":
        return f"rejected {what}"
    if verb == "withdrawn":
        return f"withdrew the request for {what.removeprefix('the ').removeprefix('a ')}"
    if verb == "gates_overridden":
        return f"overrode the gates of {what}, with a justification"
    if verb == "executed":
        return f"executed {what}"
    reason = _field(event, "reason")
    return f"triggered {what}, which was refused" + (f": {reason}" if reason else "")


def _comment(event: AuditEvent, names: dict) -> str:
    on = _field(event, "on") or "a thread"
    if event.verb == "comment.posted":
        return f"{'replied' if _field(event, 'reply') else 'commented'} on {on}"
    return f"{'edited' if event.verb == 'comment.edited' else 'deleted'} a comment on {on}"


WORDING: dict[str, Wording] = {
    "usecase.created": lambda e, n: f"created the use case {_use_case_title(e)}",
    "usecase.updated": lambda e, n: f"edited the definition{_short_changes(e, n)}",
    "usecase.phase_changed": _phase_changed,
    "usecase.deleted": lambda e, n: f"deleted the use case {_use_case_title(e)}",
    "kpi.created": _kpi("added"),
    "kpi.updated": _kpi("edited"),
    "kpi.deleted": _kpi("removed"),
    "value_model.created": lambda e, n: "set the value model",
    "value_model.updated": lambda e, n: f"edited the value model{_short_changes(e, n)}",
    "rule.created": _rule("added"),
    "rule.updated": _rule("edited"),
    "rule.deleted": _rule("removed"),
    "member.added": lambda e, n: _member(e, n, "added"),
    "member.role_changed": lambda e, n: _member(e, n, "role"),
    "member.removed": lambda e, n: _member(e, n, "removed"),
    "member.welcome_resent": lambda e, n: _member(e, n, "welcome"),
    "token.created": lambda e, n: "created an API token",
    "token.revoked": lambda e, n: "revoked an API token",
    "version.registered": _version,
    "version.updated": _version,
    "version.stage_changed": _version,
    "dataset.uploaded": _dataset_event,
    "dataset.deleted": _dataset_event,
    "dataset.marked_reference": _dataset_event,
    "predictions.uploaded": _data,
    "predictions.replaced": _data,
    "evaluation.queued": _data,
    "evaluation.succeeded": _data,
    "review_campaign.created": _campaign("created"),
    "review_campaign.closed": _campaign("closed"),
    "promotion.requested": _promotion_event,
    "promotion.approved": _promotion_event,
    "promotion.rejected": _promotion_event,
    "promotion.withdrawn": _promotion_event,
    "promotion.gates_overridden": _promotion_event,
    "promotion.executed": _promotion_event,
    "promotion.refused": _promotion_event,
    "promotion_policy.changed": lambda e, n: f"changed the promotion policy{_short_changes(e, n)}",
    "deployment.rolled_back": lambda e, n: (
        f"rolled production back from version {(e.before or {}).get('production') or '?'} "
        f"to version {(e.after or {}).get('production') or '?'}"
    ),
    "webhook.resent": lambda e, n: "resent a deployment webhook",
    "comment.posted": _comment,
    "comment.edited": _comment,
    "comment.deleted": _comment,
    "alert.opened": lambda e, n: f"opened the alert “{e.target_repr}”",
    "alert.closed": lambda e, n: f"closed the alert “{e.target_repr}”: the value recovered",
    "alert.acknowledged": lambda e, n: f"acknowledged the alert “{e.target_repr}”",
    "alert.resolved": lambda e, n: f"resolved the alert “{e.target_repr}”",
    "monitoring_policy.changed": lambda e, n: (
        f"changed the monitoring policy{_short_changes(e, n)}"
    ),
    "mlflow_link.saved": lambda e, n: f"linked the use case to MLflow{_short_changes(e, n)}",
    "mlflow_link.removed": lambda e, n: "unlinked the use case from MLflow",
    "mlflow.imported": lambda e, n: (
        "imported from MLflow: {created} new, {updated} changed and {deleted} deleted "
        "versions".format(**{"created": 0, "updated": 0, "deleted": 0, **(e.after or {})})
    ),
}

# Where an event's entry links: URL names by target type (reversed by name, as templates
# do; the apps above own the pages), with the arguments read from the event.
_PAGES: dict[str, Callable[[AuditEvent], tuple[str, list]]] = {
    "modelversion": lambda e: ("registry:version_detail", [_version_of(e)]),
    "evaluation": lambda e: ("registry:evaluation_detail", [int(e.target_id)]),
    "evaluationdataset": lambda e: ("registry:dataset_detail", [int(e.target_id)]),
    "reviewcampaign": lambda e: ("reviews:campaign_detail", [int(e.target_id)]),
    "promotionrequest": lambda e: ("promotions:detail", [int(e.target_id)]),
    "promotionpolicy": lambda e: ("promotions:use_case", []),
    "monitoringpolicy": lambda e: ("monitoring:policy", []),
    "mlflowlink": lambda e: ("mlflow_sync:link", []),
    "usecasemember": lambda e: ("usecases:members", []),
    "comment": lambda e: ("collaboration:thread", []),
}


def _url(event: AuditEvent) -> str:
    """The page of what the event concerns, or "" (a deleted thing, an account's token)."""
    if not event.use_case_slug or event.verb == "usecase.deleted":
        return ""
    if event.verb.endswith(".deleted") and event.verb != "comment.deleted":
        return _detail(event)  # what it concerned is gone: its use case's page
    page = _PAGES.get(event.target_type)
    if page is None:
        return _detail(event)
    try:
        name, args = page(event)
        url = reverse(name, args=[event.use_case_slug, *args])
    except (NoReverseMatch, ValueError):
        return _detail(event)
    if event.target_type == "comment":
        thread = _field(event, "thread")
        return f"{url}?on={thread}#comment-{event.target_id}" if thread else ""
    return url


def _detail(event: AuditEvent) -> str:
    if not event.use_case_slug or event.verb == "usecase.deleted":
        return ""
    return reverse("usecases:detail", args=[event.use_case_slug])
