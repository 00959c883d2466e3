"""The audit trail: append hash-chained events, and verify the chain.

Each event's hash is SHA-256 over its canonical JSON (every field plus the previous event's
hash). Appends are serialised: a transaction-scoped advisory lock on PostgreSQL, the
database-wide write lock on SQLite (IMMEDIATE transactions); the unique `previous_hash`
is the backstop that makes a fork impossible.

The lock is global and held to the commit, so a service that does much work after its first
event (a promotion's execution) records inside `batched()`: its events are appended at the
end of the block, in one go, and every other use case's steps run meanwhile.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, models, transaction
from django.utils import timezone

from usecases.models import AuditEvent, UseCase

logger = logging.getLogger(__name__)
User = get_user_model()

GENESIS = "0" * 64
_ADVISORY_LOCK_KEY = 0x51_0A_0D17  # any constant shared by every appender
# The events of the innermost batched() block, in order; None outside one.
_batch: ContextVar[list[AuditEvent] | None] = ContextVar("audit_batch", default=None)

HASHED_FIELDS = (
    "created_at",
    "actor_id",
    "actor_name",
    "verb",
    "use_case_id_ref",
    "use_case_slug",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
    "previous_hash",
)


def to_json_value(value):
    """A model field value as plain JSON (decimals and dates as strings)."""
    if isinstance(value, decimal.Decimal):  # 0.6500 from the database equals 0.65 typed in
        return format(value.normalize(), "f")
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, AbstractBaseUser):
        return value.get_username()  # people are recorded by name, readable in the history
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(instance: models.Model, fields: list[str] | None = None) -> dict:
    """The instance's concrete field values as JSON, foreign keys by id."""
    values = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in ("id", "created_at", "updated_at", "added_at"):
            continue
        value = getattr(instance, field.name if field.related_model is User else field.attname)
        values[field.name] = to_json_value(value)
    return values


def compute_hash(event: AuditEvent) -> str:
    payload = {name: getattr(event, name) for name in HASHED_FIELDS}
    payload["created_at"] = event.created_at.astimezone(datetime.UTC).isoformat()
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    *,
    actor,
    verb: str,
    target: models.Model,
    use_case: UseCase | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain; must run inside the caller's transaction. Inside
    batched() the event is appended at the end of the block (its pk and hash set then)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record() must run inside the service's transaction")
    use_case = (
        use_case if use_case is not None else (target if isinstance(target, UseCase) else None)
    )
    event = AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=actor.get_username() if actor is not None and actor.is_authenticated else "",
        verb=verb,
        use_case_id_ref=use_case.pk if use_case else None,
        use_case_slug=use_case.slug if use_case else "",
        target_type=target._meta.model_name,
        # [:60]: the column's width; a knox token's primary key is a 128-character digest.
        target_id=str(target.pk)[:60] if target.pk is not None else "",
        target_repr=str(target)[:200],
        before=before,
        after=after,
    )
    pending = _batch.get()
    if pending is not None:
        pending.append(event)
    else:
        _append([event])
    return event


@contextmanager
def batched() -> Iterator[None]:
    """The events recorded in the block are appended at its end, in the caller's
    transaction: the chain's lock is taken then, not at the first event, and the chain's
    head is read and the events written once. Nested blocks append with the outermost; an
    exception out of a block discards the events recorded in it (a nested service's, whose
    savepoint rolls back, as the outermost's whole transaction). An event recorded in a
    plain savepoint (transaction.atomic) that rolls back inside a batch is not seen: record
    inside a nested audit.atomic service instead."""
    pending = _batch.get()
    if pending is not None:
        mark = len(pending)
        try:
            yield
        except BaseException:
            del pending[mark:]
            raise
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.batched() must run inside the service's transaction")
    events: list[AuditEvent] = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    if events:
        _append(events)


def atomic(function):
    """transaction.atomic, its audit events recorded in batched(): for a service whose first
    event comes before much of its work."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with transaction.atomic(), batched():
            return function(*args, **kwargs)

    return wrapper


def _append(events: list[AuditEvent]) -> None:
    """Link `events` to the chain's head, in order, and write them: under the lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
    previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    now = timezone.now()  # under the lock: created_at never goes back along the chain
    for event in events:
        event.created_at = now
        event.previous_hash = previous or GENESIS
        event.hash = previous = compute_hash(event)
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        AuditEvent.objects.bulk_create(events)  # ids in order, set on each (RETURNING)
    for event in events:
        logger.info(
            "audit event %s %s %s:%s", event.pk, event.verb, event.target_type, event.target_id
        )


@dataclass
class ChainProblem:
    event_id: int
    message: str


def verify_chain() -> tuple[int, list[ChainProblem]]:
    """Walk the chain in id order; (events checked, problems found). Empty list: intact."""
    problems: list[ChainProblem] = []
    expected_previous = GENESIS
    count = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        count += 1
        if event.previous_hash != expected_previous:
            problems.append(
                ChainProblem(
                    event.pk,
                    "links to a previous hash that is not the preceding event's: "
                    "an event before it was deleted or altered",
                )
            )
        if compute_hash(event) != event.hash:
            problems.append(ChainProblem(event.pk, "its content does not match its hash: modified"))
        expected_previous = event.hash
    return count, problems
