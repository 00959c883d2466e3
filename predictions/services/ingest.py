"""Bulk prediction logging and outcomes (DESIGN.md "Public API", issue 4).

A batch is parsed (JSON with orjson, or CSV), every row is validated in one pass, and only
then written, in one transaction:

- default mode: any bad row refuses the whole batch (`TableRejected`, a 400 listing
  the first bad rows with their row number, field and reason, and the counts per reason);
- partial mode (asked for explicitly): the good rows are written, the bad ones reported.

Idempotency lives in the database: the unique (model_version, request_id) constraint
absorbs re-sent rows, concurrent re-sends included (INSERT … ON CONFLICT DO NOTHING waits
for the other transaction and then skips). Rows are inserted sorted by that key, so two
batches sharing keys take their index locks in the same order and cannot deadlock.

On PostgreSQL the rows are COPY'd into a temporary staging table (kept per connection,
emptied at each commit) and moved with one INSERT … SELECT … ON CONFLICT DO NOTHING; on
SQLite, bulk_create(ignore_conflicts=True).

Data-quality rules are counted on the valid rows (both severities), never refused: these
predictions were already served, and monitoring wants their violation rate, not a gap. The
rows a batch stores are added to their versions' quality tallies in the same transaction
(QualityTally; re-sent rows are not counted again), which the promotion gate reads.

No audit event: a prediction log is data, not a change of state, and serving
infrastructure sends batches continuously; an event per batch would serialise every batch
on the audit chain's lock. Each row keeps its `received_at`, and each batch is logged.

The steps live in these modules of predictions/services/; callers use this one:

- `ingest` (here): the services `log_predictions` and `attach_outcomes`, their results,
  and the limits and `outcome_error` that callers read;
- `parse`: request bodies (JSON or CSV) into rows, and the size limits;
- `validate`: each row's checks and the problems list (`Problems`);
- `quality`: the data-quality rule violations counted on the valid rows;
- `store`: writing the rows on PostgreSQL or SQLite, outcomes and late outcomes;
- `tally`: each version's data-quality tally, kept per batch and recounted, and the same
  per UTC day with the rows received and refused (monitoring's live data quality).

Outcomes change the KPIs of the days their predictions were made: once a batch of outcomes
commits, `outcomes_attached` is sent with the (version id, UTC day) pairs it touched, each
once; monitoring (an app above, which this one never imports) recomputes those past days.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.dispatch import Signal

from predictions.services import tally
from predictions.services.parse import (
    MAX_BODY_BYTES,
    MAX_ROWS,
    check_size,
    csv_outcome_rows,
    csv_prediction_rows,
    parse_body,
)
from predictions.services.quality import check_rules
from predictions.services.store import (
    attach_postgresql,
    attach_sqlite,
    first_of_each,
    insert_postgresql,
    insert_sqlite,
    outcome_error,
)
from predictions.services.validate import (
    MAX_ERRORS,
    Problems,
    refuse_if_needed,
    validate_outcomes,
    validate_predictions,
)
from tables.report import TableRejected
from usecases.models import UseCase

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ERRORS",
    "MAX_ROWS",
    "IngestResult",
    "Mode",
    "OutcomeResult",
    "attach_outcomes",
    "log_predictions",
    "outcome_error",
    "outcomes_attached",
]

logger = logging.getLogger(__name__)

# Sent once a batch of outcomes has committed; kwargs: use_case_id, and days: the sorted
# (model version id, UTC date of predicted_at) pairs of the predictions it updated.
outcomes_attached = Signal()


class Mode:
    ALL_OR_NOTHING = "all_or_nothing"
    PARTIAL = "partial"


@dataclass
class IngestResult:
    """What a prediction batch did: how many rows were new, re-sent or refused, and why."""

    mode: str
    rows: int
    inserted: int
    duplicates: int
    rejected: int
    errors: list[dict]
    counts: dict[str, int]
    rule_violations: list[dict]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class OutcomeResult:
    """What an outcome batch did: requests matched, predictions updated, ids unknown."""

    mode: str
    rows: int
    matched: int
    updated_predictions: int
    unknown: int
    unknown_request_ids: list[str]
    duplicates: int
    rejected: int
    errors: list[dict]
    counts: dict[str, int]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# --- Entry points ---------------------------------------------------------------------------


def log_predictions(
    use_case: UseCase,
    *,
    by: User,
    rows: list | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    partial: bool = False,
) -> IngestResult:
    """Validate a batch of predictions and store the new ones once (idempotent on version and
    request id); with `partial` False any bad row stores nothing (raises TableRejected)."""
    versions = dict(use_case.versions.values_list("version", "pk"))
    if rows is None:
        rows = parse_body(body or b"", content_type, csv_prediction_rows(use_case))
    check_size(rows)
    problems = Problems()
    valid = validate_predictions(rows, use_case, versions, problems)
    try:
        refuse_if_needed(len(rows), valid.count, problems, partial)
    except TableRejected:
        # Nothing is stored, so every row of the batch counts as refused (own transaction).
        tally.record_received(use_case, received=len(rows), refused=len(rows))
        raise
    findings = check_rules(use_case, valid)
    keep = first_of_each(valid.version_ids, valid.request_ids)
    duplicates_in_batch = valid.count - len(keep)
    which = tally.needs_stored_rows(valid, keep, findings)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            inserted, stored = insert_postgresql(use_case, valid, keep, which=which)
        else:
            inserted, stored = insert_sqlite(use_case, valid, keep, which=which)
        # Without `which`, the kept rows are of one version and flagged by no rule: any
        # `inserted` of them add the same to its tally.
        stored = keep[:inserted] if stored is None else stored
        tally.record_batch(use_case, tally.increments(valid, stored, findings))
        tally.record_days(use_case, tally.daily_increments(valid, stored, findings))
        tally.record_received(use_case, received=len(rows), refused=problems.bad_rows)
    result = IngestResult(
        mode=Mode.PARTIAL if partial else Mode.ALL_OR_NOTHING,
        rows=len(rows),
        inserted=inserted,
        duplicates=duplicates_in_batch + len(keep) - inserted,
        rejected=problems.bad_rows,
        errors=problems.as_list(),
        counts=dict(problems.counts),
        rule_violations=findings.summary,
    )
    logger.info(
        "predictions logged for use case %s by user %s: %s rows, %s new, %s duplicates, "
        "%s rejected",
        use_case.pk,
        getattr(by, "pk", None),
        result.rows,
        result.inserted,
        result.duplicates,
        result.rejected,
    )
    return result


def attach_outcomes(
    use_case: UseCase,
    *,
    by: User,
    rows: list | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    partial: bool = False,
) -> OutcomeResult:
    """Set the outcome (and the error) on every version's prediction of each request id in
    the use case, shadow and production alike; unknown ids are reported, re-sends harmless."""
    if rows is None:
        rows = parse_body(body or b"", content_type, csv_outcome_rows(use_case))
    check_size(rows)
    problems = Problems()
    outcomes, times, duplicates = validate_outcomes(rows, use_case, problems)
    refuse_if_needed(len(rows), len(outcomes) + duplicates, problems, partial)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            matched, updated, days = attach_postgresql(use_case, outcomes, times)
        else:
            matched, updated, days = attach_sqlite(use_case, outcomes, times)
        if days:
            use_case_id, touched = use_case.pk, sorted(days)
            transaction.on_commit(
                lambda: outcomes_attached.send(
                    sender=UseCase, use_case_id=use_case_id, days=touched
                )
            )
    unknown = [request_id for request_id in outcomes if request_id not in matched]
    result = OutcomeResult(
        mode=Mode.PARTIAL if partial else Mode.ALL_OR_NOTHING,
        rows=len(rows),
        matched=len(matched),
        updated_predictions=updated,
        unknown=len(unknown),
        unknown_request_ids=unknown[:MAX_ERRORS],
        duplicates=duplicates,
        rejected=problems.bad_rows,
        errors=problems.as_list(),
        counts=dict(problems.counts),
    )
    logger.info(
        "outcomes for use case %s by user %s: %s rows, %s requests matched, %s unknown",
        use_case.pk,
        getattr(by, "pk", None),
        result.rows,
        result.matched,
        result.unknown,
    )
    return result
