"""The deployment webhook (DESIGN.md "Deployment stages and promotion"; docs/webhooks.md).

After each executed change (a promotion or a rollback) one `WebhookDelivery` row holds the
exact JSON body; a Celery task POSTs it, signed, to the use case's webhook URL:

    X-Quorum-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

Retries update the same row; a row is claimed with a lease before each attempt, so two
deliveries of the task never send at once, and `attempts` caps the sends (STACK-NOTES §1.4:
the cap lives in the database). The URL is the owner's: only http(s), and by default only
to public addresses, checked on the address actually connected to (docs/security.md,
"Deployment webhook").
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import time
import uuid
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from portal import outbound
from portal.errors import InvalidInput
from promotions import selectors, tasks
from promotions.models import PromotionPolicy, StageChange, WebhookDelivery
from promotions.services.errors import PromotionError
from usecases.models import UseCase
from usecases.services import audit
from usecases.services.usecases import lock

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
EVENT_STAGES_CHANGED = "stages.changed"
SIGNATURE_HEADER = "X-Quorum-Signature"
EVENT_HEADER = "X-Quorum-Event"
DELIVERY_HEADER = "X-Quorum-Delivery"
USER_AGENT = "Quorum-Webhook/1"
ERROR_LENGTH = WebhookDelivery._meta.get_field("error").max_length
# Longer than a task may run (tasks.deliver_webhook_task's time limit), so a lease held by a
# live worker never expires under it; a killed worker's lease frees the row after this.
LEASE = datetime.timedelta(seconds=90)
SNIPPET_BYTES = 300  # of a failed answer's body, kept as the error for the owner


def option(name: str):
    """A webhook setting (README lists them), with the default a laptop needs."""
    defaults = {
        "WEBHOOK_TIMEOUT_SECONDS": 5.0,  # to connect, and then between bytes of the answer
        "WEBHOOK_MAX_ATTEMPTS": 5,
        "WEBHOOK_BACKOFF_SECONDS": 10,  # waits of 10 s, 30 s, 90 s, 270 s between attempts
        "WEBHOOK_ALLOW_PRIVATE_HOSTS": False,
    }
    return getattr(settings, name, defaults[name])


class RetryLater(Exception):
    """A transient failure: the task sends again after `countdown` seconds."""

    def __init__(self, message: str, *, countdown: float) -> None:
        super().__init__(message)
        self.countdown = countdown


# Signing


def sign(secret: str, body: str, timestamp: int) -> str:
    """The signature header's value for `body` sent at `timestamp` (unix seconds)."""
    message = f"{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: str, header: str, *, tolerance: int = 300, now=None) -> bool:
    """What a receiver checks (docs/webhooks.md): a v1 signature of `body` matches, and its
    timestamp is within `tolerance` seconds of now (a replayed old call is refused)."""
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for key, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = int(timestamps[0])
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


# Where a webhook may point


def check_url(url: str) -> None:
    """Refuse a webhook URL that is not http(s), names a user, or (unless
    WEBHOOK_ALLOW_PRIVATE_HOSTS) a loopback or private host by name or number. Names are
    resolved at each send, where the address connected to is checked again."""
    parts = urlsplit(url)
    field = "webhook_url"
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("A webhook URL starts with https:// (or http://).", field=field)
    try:
        host, _ = parts.hostname, parts.port  # a port out of range raises here
    except ValueError:
        raise InvalidInput(
            "This URL's port is not a number from 1 to 65535.", field=field
        ) from None
    if not host:
        raise InvalidInput("This URL names no host.", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "Put no user name or password in the URL: the signature tells the receiver "
            "that the call comes from Quorum.",
            field=field,
        )
    if option("WEBHOOK_ALLOW_PRIVATE_HOSTS"):
        return
    try:
        refused = outbound.refused_address(host)
    except ValueError:  # a name, not a number
        name = host.rstrip(".")
        refused = name == "localhost" or name.endswith((".localhost", ".local", ".internal"))
    if refused:
        raise InvalidInput(
            "Webhooks go to public addresses only; this host is loopback, private or local.",
            field=field,
        )


# Sending

Answer = outbound.Answer


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` once; no redirect followed, never raises for the network. The
    connection goes to the address checked (portal/outbound.py: DNS rebinding cannot reach
    inside); only the first SNIPPET_BYTES of the answer are read."""
    return outbound.post(
        url,
        body,
        {**headers, "User-Agent": USER_AGENT},
        timeout=option("WEBHOOK_TIMEOUT_SECONDS"),
        read_bytes=SNIPPET_BYTES,
    )


# The event and its deliveries


def _deployed(version) -> dict | None:
    """A version as the deployment API shows it (promotions/api/deployment.py)."""
    if version is None:
        return None
    changed = version.stage_changed_at
    return {
        "version": version.version,
        "stage": version.stage,
        "traffic_percent": version.traffic_percent,
        "artifact_uri": version.artifact_uri,
        "mlflow_run_id": version.mlflow_run_id,
        "git_commit": version.git_commit,
        "stage_changed_at": changed.isoformat() if changed else None,
    }


def stages_changed_body(use_case: UseCase, change_ids: list[int]) -> str:
    """The event's JSON: the changes, in the order made, and the deployment they left."""
    changes = StageChange.objects.filter(use_case=use_case, pk__in=change_ids).select_related(
        "model_version"
    )
    found = selectors.deployment(use_case)
    payload = {
        "id": str(uuid.uuid4()),  # the event's: a "send again" repeats it, receivers dedupe
        "event": EVENT_STAGES_CHANGED,
        "created_at": timezone.now().isoformat(),
        "use_case": use_case.slug,
        "changes": [
            {
                "version": change.model_version.version,
                "from": change.from_stage,
                "to": change.to_stage,
                "traffic_percent": change.traffic_percent,
                "rollback": change.is_rollback,
                "request": change.request_id,
                "at": change.changed_at.isoformat(),
            }
            for change in changes.order_by("changed_at", "pk")
        ],
        "deployment": {
            "production": _deployed(found["production"]),
            "canary": _deployed(found["canary"]),
            "shadow": [_deployed(version) for version in found["shadow"]],
        },
    }
    # ASCII only and no spaces: the bytes sent are exactly the stored text, once encoded.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True)


def queue_stage_changes(use_case_id: int, change_ids: list[int]) -> WebhookDelivery | None:
    """One delivery of the change to the use case's webhook, queued; None without one."""
    use_case = UseCase.objects.filter(pk=use_case_id).first()
    rules = PromotionPolicy.objects.filter(use_case_id=use_case_id).first()
    if use_case is None or rules is None or not rules.webhook_url:
        return None
    body = stages_changed_body(use_case, change_ids)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            use_case=use_case, event=EVENT_STAGES_CHANGED, body=body, url=rules.webhook_url
        )
        tasks.deliver_webhook_task.delay_on_commit(delivery.pk)
    logger.info("use case %s: webhook delivery %s queued", use_case_id, delivery.pk)
    return delivery


def claim(delivery_id: int) -> bool:
    """Take a pending delivery for one attempt (its lease free or expired, attempts left);
    False if another worker holds it, or it is finished, gone or out of attempts."""
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    rows = WebhookDelivery.objects.filter(
        free, pk=delivery_id, status=Status.PENDING, attempts__lt=option("WEBHOOK_MAX_ATTEMPTS")
    )
    claimed = rows.update(
        attempts=F("attempts") + 1, last_attempt_at=now, claimed_until=now + LEASE
    )
    return claimed == 1


def _give_up_if_exhausted(delivery_id: int) -> None:
    """A worker killed during the last attempt left the row pending: it failed."""
    WebhookDelivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=timezone.now()),
        pk=delivery_id,
        status=Status.PENDING,
        attempts__gte=option("WEBHOOK_MAX_ATTEMPTS"),
    ).update(status=Status.FAILED, error="The last attempt did not finish.", claimed_until=None)


def _finish(delivery: WebhookDelivery, status: str, answer: Answer) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        response_code=answer.code,
        error=answer.error[:ERROR_LENGTH],
        claimed_until=None,
        delivered_at=timezone.now() if status == Status.SUCCEEDED else None,
    )


def deliver(delivery_id: int) -> str:
    """Send a pending delivery once; its status afterwards. Raises RetryLater after a
    transient failure with attempts left (the row stays pending, its lease given back)."""
    if not claim(delivery_id):
        _give_up_if_exhausted(delivery_id)
        logger.info(
            "delivery %s: not claimed (finished, held by another worker, or gone)", delivery_id
        )
        return ""
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    secret = (
        PromotionPolicy.objects.filter(use_case_id=delivery.use_case_id)
        .values_list("webhook_secret", flat=True)
        .first()
    )
    if not secret:
        _finish(delivery, Status.FAILED, Answer(error="The webhook was removed (no secret)."))
        return Status.FAILED
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, delivery.body, int(time.time())),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
    }
    try:
        answer = post(delivery.url, delivery.body.encode("ascii"), headers)
    except SoftTimeLimitExceeded:  # a receiver dripping its answer byte by byte
        answer = Answer(error="the receiver kept the call open too long", transient=True)
    if answer.ok:
        _finish(delivery, Status.SUCCEEDED, answer)
        logger.info("delivery %s: delivered (%s)", delivery_id, answer.code)
        return Status.SUCCEEDED
    if answer.transient and delivery.attempts < option("WEBHOOK_MAX_ATTEMPTS"):
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            response_code=answer.code, error=answer.error[:ERROR_LENGTH], claimed_until=None
        )
        countdown = option("WEBHOOK_BACKOFF_SECONDS") * 3 ** (delivery.attempts - 1)
        logger.info(
            "delivery %s: attempt %s failed (%s), again in %s s",
            delivery_id,
            delivery.attempts,
            answer.error,
            countdown,
        )
        raise RetryLater(answer.error, countdown=countdown)
    _finish(delivery, Status.FAILED, answer)
    logger.warning(
        "delivery %s: failed after %s attempts: %s", delivery_id, delivery.attempts, answer.error
    )
    return Status.FAILED


@transaction.atomic
def resend(delivery: WebhookDelivery, *, by) -> WebhookDelivery:
    """Send a finished delivery's body again, as a new delivery to the current URL."""
    use_case = lock(delivery.use_case)  # use case first
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    if not delivery.is_finished:
        raise PromotionError("This delivery is still being sent: wait for its outcome.")
    rules = PromotionPolicy.objects.filter(use_case=use_case).first()
    if rules is None or not rules.webhook_url:
        raise PromotionError("The use case has no webhook URL any more: set one first.")
    copy = WebhookDelivery.objects.create(
        use_case=use_case,
        event=delivery.event,
        body=delivery.body,
        url=rules.webhook_url,
        resent_from=delivery,
        resent_by=by,
    )
    audit.record(
        actor=by,
        verb="webhook.resent",
        target=copy,
        use_case=use_case,
        after={"of": delivery.pk, "event": delivery.event, "url": copy.url},
    )
    tasks.deliver_webhook_task.delay_on_commit(copy.pk)
    return copy
