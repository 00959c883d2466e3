"""Each model version's data-quality tally (QualityTally): kept by ingestion, recounted;
and the same figures per UTC day (DailyTally), with the rows received and refused, which
monitoring reads (issue 14).

`record_batch` runs in the batch's transaction, after its rows are stored: it adds the rows
the batch stored (never the re-sent ones) to their versions' tallies. Each version's tally
row is locked, created if missing, in version id order, so concurrent batches wait for each
other's commit there and cannot deadlock, and the counters grow with F() increments.

`recount_version` rebuilds a tally from the stored log with the rules as they stand now
(`manage.py recount_quality`), a chunk of rows at a time. It holds the tally row's lock
while it reads: a batch committing meanwhile is either in what it reads (committed before
it began) or still waiting for the lock and adds itself afterwards; never lost, never
counted twice (READ COMMITTED). Ingestion of that version waits while it runs.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from predictions.models import DailyTally, Prediction, QualityTally
from predictions.services.quality import RuleFindings, check_rules
from predictions.services.validate import ValidPredictions
from registry.models import ModelVersion
from registry.services.registering import rule_specs
from usecases.models import UseCase

logger = logging.getLogger(__name__)

RECOUNT_CHUNK = 10_000  # stored predictions read and checked at a time


@dataclass
class Increment:
    """What some of a version's stored rows add to its tally."""

    rows: int = 0
    violating: int = 0
    rules: Counter = field(default_factory=Counter)

    def add(self, other: Increment) -> None:
        self.rows += other.rows
        self.violating += other.violating
        self.rules.update(other.rules)


def needs_stored_rows(valid: ValidPredictions, keep: list[int], findings: RuleFindings) -> bool:
    """Whether the tally needs to know which of the kept rows were stored: only when they
    are of several versions or UTC days, or some rule flags one. Otherwise any `inserted`
    of them add the same (rows only), and the store need not say which."""
    versions = {valid.version_ids[i] for i in keep}
    if len(versions) > 1 or findings.any_flag(keep):
        return True
    return len({utc_day(valid.times[i]) for i in keep}) > 1


def utc_day(moment: datetime.datetime) -> datetime.date:
    """The UTC date of a prediction's time (monitoring's day)."""
    return moment.astimezone(datetime.UTC).date()


def increments(
    valid: ValidPredictions, stored: list[int], findings: RuleFindings
) -> dict[int, Increment]:
    """Per version id, what the stored rows (indices among the valid rows) add."""
    if not stored:
        return {}
    rows = np.asarray(stored)
    version_of = np.asarray(valid.version_ids)[rows]
    return {
        version_id: _increment(rows[version_of == version_id], findings)
        for version_id in np.unique(version_of).tolist()
    }


def daily_increments(
    valid: ValidPredictions, stored: list[int], findings: RuleFindings
) -> dict[tuple[int, datetime.date], Increment]:
    """Per (version id, UTC day of predicted_at), what the stored rows add."""
    if not stored:
        return {}
    rows = np.asarray(stored)
    codes: dict[tuple[int, datetime.date], int] = {}
    key_of = np.fromiter(
        (
            codes.setdefault((valid.version_ids[i], utc_day(valid.times[i])), len(codes))
            for i in stored
        ),
        dtype=np.int64,
        count=len(stored),
    )
    return {key: _increment(rows[key_of == code], findings) for key, code in codes.items()}


def _increment(mine: np.ndarray, findings: RuleFindings) -> Increment:
    """What these stored rows (indices among the valid rows) add."""
    increment = Increment(rows=len(mine))
    violating = findings.violating()
    if violating is not None:
        increment.violating = int(violating[mine].sum())
    for rule, flags in findings.flags.items():
        if count := int(flags[mine].sum()):
            increment.rules[rule] = count
    return increment


def record_batch(use_case: UseCase, added: dict[int, Increment]) -> None:
    """Add a batch's stored rows to their versions' tallies. Runs inside the batch's
    transaction (the caller's), after the rows are stored; see the module docstring."""
    now = timezone.now()
    for version_id, increment in sorted(added.items()):
        if not increment.rows:
            continue
        counts = _locked_rule_counts(use_case, version_id)
        values = {
            "rows_checked": F("rows_checked") + increment.rows,
            "rows_violating": F("rows_violating") + increment.violating,
            "updated_at": now,
        }
        if increment.rules:
            values["rule_counts"] = dict(Counter(counts) + increment.rules)
        QualityTally.objects.filter(model_version_id=version_id).update(**values)


def record_days(use_case: UseCase, added: dict[tuple[int, datetime.date], Increment]) -> None:
    """Add a batch's stored rows to their (version, UTC day) tallies, in the batch's
    transaction after record_batch: the rows are created if missing and locked in (version,
    day) order, the same order in every batch, so concurrent batches cannot deadlock."""
    added = {key: increment for key, increment in added.items() if increment.rows}
    if not added:
        return
    DailyTally.objects.bulk_create(  # ON CONFLICT DO NOTHING: a concurrent batch may create it
        [
            DailyTally(use_case_id=use_case.pk, model_version_id=version_id, day=day)
            for version_id, day in sorted(added)
        ],
        ignore_conflicts=True,
    )
    versions = sorted({version_id for version_id, _ in added})
    days = sorted({day for _, day in added})
    locked = (
        DailyTally.objects.select_for_update()
        .filter(model_version_id__in=versions, day__in=days)
        .order_by("model_version_id", "day")
        .values_list("pk", "model_version_id", "day", "rule_counts")
    )
    for pk, version_id, day, counts in locked:
        increment = added.get((version_id, day))
        if increment is None:
            continue
        values = {
            "rows_checked": F("rows_checked") + increment.rows,
            "rows_violating": F("rows_violating") + increment.violating,
        }
        if increment.rules:
            values["rule_counts"] = dict(Counter(counts) + increment.rules)
        DailyTally.objects.filter(pk=pk).update(**values)


def record_received(use_case: UseCase, *, received: int, refused: int) -> None:
    """Add a batch's rows to the use case's rows received today (UTC), and those not stored
    for being invalid (or in a refused batch) to its rows refused. The last write of a
    batch's transaction: the use case's row is held only until the commit."""
    if not received:
        return
    today = utc_day(timezone.now())
    DailyTally.objects.bulk_create(
        [DailyTally(use_case_id=use_case.pk, model_version=None, day=today)],
        ignore_conflicts=True,
    )
    DailyTally.objects.filter(use_case_id=use_case.pk, model_version=None, day=today).update(
        rows_received=F("rows_received") + received,
        rows_refused=F("rows_refused") + min(refused, received),
    )


def _locked_rule_counts(use_case: UseCase, version_id: int) -> dict[str, int]:
    """Lock the version's tally row, created first if missing; its per-rule counts."""
    rows = QualityTally.objects.select_for_update().filter(model_version_id=version_id)
    counts = rows.values_list("rule_counts", flat=True).first()
    if counts is None:
        # ON CONFLICT DO NOTHING: a concurrent first batch of the version may create it too.
        QualityTally.objects.bulk_create(
            [QualityTally(model_version_id=version_id, use_case_id=use_case.pk)],
            ignore_conflicts=True,
        )
        counts = rows.values_list("rule_counts", flat=True).get()
    return counts


NEVER = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)  # before any rule change

# --- Recounting -----------------------------------------------------------------------------


def recount_use_case(use_case_id: int) -> int:
    """Recount the use case's stale tallies (counted with rules older than its last rule
    change); how many. A tally already recounted since (an earlier task of a burst of
    edits) is left alone."""
    versions = ModelVersion.objects.filter(
        use_case_id=use_case_id,
        quality_tally__rules_as_of__lt=F("use_case__rules_changed_at"),
    )
    count = 0
    for version in versions.select_related("use_case").order_by("pk"):
        recount_version(version)
        count += 1
    return count


def recount_version(version: ModelVersion, *, chunk_size: int = RECOUNT_CHUNK) -> QualityTally:
    """Rebuild the version's tally from its stored predictions and its use case's current
    rules; exact even while batches of the version arrive (module docstring)."""
    use_case = version.use_case
    total = Increment()
    with transaction.atomic():
        _locked_rule_counts(use_case, version.pk)
        # The rules are judged as of the last change this transaction can see, read before
        # the rules (each statement sees what has committed when it starts, and a change
        # commits its rules with its stamp): a change stamped earlier but committed later is
        # newer than this, so the tally stays stale for the recount that change queued. Not
        # the clock: a change stamped before it may commit after the rules are read.
        changed = UseCase.objects.filter(pk=use_case.pk).values_list("rules_changed_at")
        rules_as_of = changed.get()[0] or NEVER
        rules = rule_specs(use_case)
        for chunk in _stored_chunks(version, chunk_size):
            findings = check_rules(use_case, chunk, rules=rules)
            everything = list(range(chunk.count))
            total.add(increments(chunk, everything, findings).get(version.pk, Increment()))
        QualityTally.objects.filter(model_version_id=version.pk).update(
            rows_checked=total.rows,
            rows_violating=total.violating,
            rule_counts=dict(total.rules),
            rules_as_of=rules_as_of,
            updated_at=timezone.now(),
        )
    logger.info(
        "quality tally of model version %s recounted: %s of %s rows violating",
        version.pk,
        total.violating,
        total.rows,
    )
    return QualityTally.objects.get(model_version_id=version.pk)


def _stored_chunks(version: ModelVersion, chunk_size: int) -> Iterator[ValidPredictions]:
    """The version's stored predictions as the rule checks take them, `chunk_size` at a time
    (a server-side cursor on PostgreSQL: the log is never loaded whole)."""
    columns = ("request_id", "features", "prediction", "score", "segment")
    rows = (
        Prediction.objects.filter(model_version=version)
        .order_by()
        .values_list(*columns)
        .iterator(chunk_size=chunk_size)
    )
    chunk = ValidPredictions()
    for request_id, features, prediction, score, segment in rows:
        chunk.version_ids.append(version.pk)
        chunk.request_ids.append(request_id)
        chunk.features.append(features)
        chunk.predictions.append(prediction)
        chunk.scores.append(score)
        chunk.segments.append(segment)
        if chunk.count == chunk_size:
            yield chunk
            chunk = ValidPredictions()
    if chunk.count:
        yield chunk
