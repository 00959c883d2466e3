"""An owner's promotion settings: the gates' thresholds, raised approval minimums, and the
deployment webhook (its URL and write-only secret).

Rules (DESIGN.md, STACK-NOTES §1.6):
- the approval minimums may only raise the risk tier's (policy.TIER_MINIMUMS);
- the person with a request waiting on the use case may not loosen a gate it must pass
  (GitLab's classic hole: an author editing the rules of their own merge request);
- the webhook URL is http(s) to an allowed host (webhooks.check_url); its secret is never
  shown nor audited: the audit trail says "changed".
"""

from __future__ import annotations

from django.db import transaction

from portal.errors import InvalidFields, InvalidInput
from promotions.models import PromotionPolicy, PromotionRequest
from promotions.services import policy, webhooks
from usecases.models import AuditEvent, UseCase
from usecases.services import audit
from usecases.services.usecases import apply_changes, lock

Bound = PromotionPolicy.AcceptanceBound
FIELDS = (
    "acceptance_threshold",
    "acceptance_bound",
    "max_violation_rate",
    "min_experts",
    "min_data_scientists",
    "min_managers",
    "webhook_url",
)
MIN_SECRET_LENGTH = 16
MAX_MINIMUM = 10  # the model's check constraint
VERB = "promotion_policy.changed"


def _check_numbers(use_case: UseCase, values: dict, given: set[str]) -> list[InvalidInput]:
    errors = []
    threshold = values["acceptance_threshold"]
    if not 0 <= threshold <= 1:
        message = "An acceptance rate is from 0 to 1 (0.8 is 80 %)."
        errors.append(InvalidInput(message, field="acceptance_threshold"))
    if values["acceptance_bound"] not in Bound.values:
        errors.append(InvalidInput("Choose one of the listed bounds.", field="acceptance_bound"))
    if not 0 < values["max_violation_rate"] <= 1:
        message = "A violation rate is above 0 and at most 1 (0.05 is 5 %)."
        errors.append(InvalidInput(message, field="max_violation_rate"))
    tier = use_case.get_risk_tier_display().lower()
    for capacity, field in policy.POLICY_FIELDS.items():
        value, floor = values[field], policy.TIER_MINIMUMS[use_case.risk_tier][capacity]
        label = policy.Capacity(capacity).label.lower()
        if field not in given:
            continue  # kept as saved: below the tier's it is harmless (the larger counts)
        if value < floor:
            message = (
                f"The {tier} risk tier already needs {floor} {label} approval"
                f"{'s' if floor != 1 else ''}: the policy may raise it, never lower it."
            )
            errors.append(InvalidInput(message, field=field))
        elif value > MAX_MINIMUM:
            errors.append(InvalidInput(f"At most {MAX_MINIMUM}.", field=field))
    return errors


def _check_webhook(current: PromotionPolicy, url: str, secret: str | None) -> list[InvalidInput]:
    errors = []
    if url:
        try:
            webhooks.check_url(url)
        except InvalidInput as error:
            errors.append(error)
    if secret is not None:
        if len(secret) < MIN_SECRET_LENGTH or secret != secret.strip():
            message = (
                f"Use at least {MIN_SECRET_LENGTH} characters, with no space at either end "
                "(a random string from a password manager)."
            )
            errors.append(InvalidInput(message, field="webhook_secret"))
        elif not secret.isprintable():
            message = "The secret holds a control character."
            errors.append(InvalidInput(message, field="webhook_secret"))
    elif url and not current.webhook_secret:
        message = "Set a secret: Quorum signs every call with it."
        errors.append(InvalidInput(message, field="webhook_secret"))
    return errors


def _loosens_gates(current: PromotionPolicy, values: dict) -> bool:
    return (
        values["acceptance_threshold"] < current.acceptance_threshold
        or values["max_violation_rate"] > current.max_violation_rate
        or (current.acceptance_bound == Bound.WILSON and values["acceptance_bound"] == Bound.POINT)
    )


@transaction.atomic
def save_policy(use_case: UseCase, *, by, webhook_secret: str | None = None, **fields):
    """Save the use case's promotion policy; `webhook_secret` None keeps the secret, and an
    empty `webhook_url` removes the webhook (and its secret). Audited without the secret."""
    use_case = lock(use_case)  # use case first
    current = PromotionPolicy.objects.select_for_update().filter(use_case=use_case).first()
    current = current or PromotionPolicy(use_case=use_case)
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"save_policy() got unexpected fields {sorted(unknown)}")
    values = {name: fields.get(name, getattr(current, name)) for name in FIELDS}
    values["webhook_url"] = (values["webhook_url"] or "").strip()
    if not values["webhook_url"]:
        webhook_secret = None
    errors = _check_numbers(use_case, values, set(fields)) + _check_webhook(
        current, values["webhook_url"], webhook_secret
    )
    if errors:
        raise InvalidFields(errors)
    waiting = PromotionRequest.objects.filter(
        use_case=use_case, requested_by=by, status=PromotionRequest.Status.PENDING
    )
    if _loosens_gates(current, values) and waiting.exists():
        raise InvalidInput(
            "Your own promotion request is waiting on this use case: its gates cannot be "
            "loosened until it is decided or withdrawn."
        )
    for capacity, field in policy.POLICY_FIELDS.items():
        # The tier's own minimum is stored as 0, "as the tier": a later change of tier then
        # moves it, and only a real raise stays.
        if values[field] == policy.TIER_MINIMUMS[use_case.risk_tier][capacity]:
            values[field] = 0
    before, after = apply_changes(current, values)
    secret_before = "set" if current.webhook_secret else "not set"
    if webhook_secret is not None and webhook_secret != current.webhook_secret:
        current.webhook_secret = webhook_secret
        before["webhook_secret"], after["webhook_secret"] = secret_before, "changed"
    elif not values["webhook_url"] and current.webhook_secret:
        current.webhook_secret = ""
        before["webhook_secret"], after["webhook_secret"] = secret_before, "removed"
    if current.pk is not None and not after:
        return current
    current.save()
    audit.record(actor=by, verb=VERB, target=current, use_case=use_case, before=before, after=after)
    return current


def secret_set_at(use_case: UseCase):
    """When the webhook's secret was last set (from the audit trail), or None."""
    event = (
        AuditEvent.objects.filter(
            use_case_id_ref=use_case.pk, verb=VERB, after__webhook_secret="changed"
        )
        .order_by("-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return event
