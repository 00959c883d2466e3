"""The prediction log: every prediction a deployed version (production, canary or shadow)
made, keyed by request id, and the real outcome once it is known (bulk ingestion in
services/ingest.py). Sampling for review reads the indexes below, so the table keeps its
name from the reviews app it was carved out of (issue 8): reviews_prediction.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from registry.models import ModelVersion
from usecases.models import UseCase


class Prediction(models.Model):
    """One logged prediction of a model version (production, canary or shadow)."""

    id = models.BigAutoField(primary_key=True)
    # No single-column indexes on the two keys: the composite indexes below lead with them
    # (one index less to maintain per row), and a lone use_case index tempted the planner
    # into scanning a whole use case's rows to find one request.
    use_case = models.ForeignKey(
        UseCase, on_delete=models.CASCADE, related_name="predictions", db_index=False
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="logged_predictions", db_index=False
    )
    request_id = models.CharField(max_length=200)
    predicted_at = models.DateTimeField()
    features = models.JSONField(default=dict, blank=True)
    # A number (regression, binary 0/1) or a class name (multiclass).
    prediction = models.JSONField()
    score = models.FloatField(null=True, blank=True)
    segment = models.CharField(max_length=100, blank=True)
    # How sure the model was: binary, the score's distance to the use case's decision
    # threshold (recomputed when the threshold changes, predictions/tasks.py); multiclass,
    # the predicted class's score; None for regression or without a score. Sampling "lowest
    # confidence" reads it.
    confidence = models.FloatField(null=True, blank=True)
    # Uniform in [0, 1), drawn at ingestion: sampling reads a random range of an index
    # instead of ORDER BY random() over the table.
    random_key = models.FloatField()
    outcome = models.JSONField(null=True, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    # Set with the outcome: |prediction − outcome| (regression), |score − outcome| or 0/1
    # (binary), 0/1 (multiclass). Sampling "largest error" reads it.
    error = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "reviews_prediction"
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "request_id"], name="reviews_prediction_request_once"
            ),
        ]
        indexes = [
            models.Index(fields=["use_case", "request_id"], name="reviews_pred_request"),
            models.Index(fields=["model_version", "random_key"], name="reviews_pred_random"),
            models.Index(
                fields=["model_version", "segment", "random_key"], name="reviews_pred_segment"
            ),
            models.Index(
                fields=["model_version", "confidence"],
                name="reviews_pred_confidence",
                condition=Q(confidence__isnull=False),
            ),
            models.Index(
                fields=["model_version", "-error"],
                name="reviews_pred_error",
                condition=Q(error__isnull=False),
            ),
            models.Index(fields=["model_version", "predicted_at"], name="reviews_pred_time"),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} · {self.request_id}"


class QualityTally(models.Model):
    """How many of a model version's logged predictions break its use case's data-quality
    rules, kept up to date by each batch's transaction (services/tally.py) so that the rate
    can be read without scanning the log (`predictions.selectors.violation_rate`).

    - `rows_checked`: the version's logged predictions, each counted once, when its batch
      stored it. A re-sent row (same version and request id, already stored or repeated in
      its batch) is not stored again and is not counted again.
    - `rows_violating`: those of them that break at least one row-level rule of severity
      "error" (range, not_null, allowed_values, regex) that could be checked on their
      batch. Warning rules never count here, and a row breaking two rules counts once.
    - `rule_counts`: {rule id (text): rows}, for every rule that counted something: rows
      breaking a row-level rule of either severity, and for a max_null_rate rule the rows
      whose field is empty. max_null_rate is a rule about a column, not a row, so it never
      makes a row violating; its rate over the whole log is rule_counts[id] / rows_checked.

    A rule that cannot be checked on a batch (its field is not logged, its column does not
    convert, its pattern is refused) counts nothing for that batch's rows. Rules count as
    they stood when each batch arrived; `manage.py recount_quality` recounts the stored log
    with the rules as they stand now, and runs by itself (predictions/tasks.py) once a rule
    changes; until then the tally is stale (`rules_as_of` before the change) and the
    promotion gate says so.
    """

    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="quality_tally"
    )
    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="+")
    rows_checked = models.BigIntegerField(default=0)
    rows_violating = models.BigIntegerField(default=0)
    rule_counts = models.JSONField(default=dict, blank=True)
    # The rules counted stood as of this time (the tally's first batch, or its last
    # recount): a rule changed later (UseCase.rules_changed_at) makes the tally stale.
    rules_as_of = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rows_violating__gte=0, rows_violating__lte=F("rows_checked")),
                name="predictions_tally_violating_within_checked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version}: {self.rows_violating} of {self.rows_checked} rows violating"


class DailyTally(models.Model):
    """Ingestion's figures per UTC day, for monitoring's live data quality (issue 14), kept by
    each batch's transaction (services/tally.py) like QualityTally, so a day's rates are read
    from one row instead of re-checking a day's log.

    Two kinds of row:
    - with a model version: that version's rows stored for the day of their predicted_at,
      counted as in QualityTally (`rows_checked`, `rows_violating`, `rule_counts`);
    - without one: the use case's rows received at ingestion on that UTC day (the day the
      batch arrived), `rows_received`, and of them `rows_refused`: rows not stored because
      they were invalid, or because an all-or-nothing batch was refused (all its rows).
      A refused row may name no valid version, hence one row per use case.

    Rules count as they stood when each batch arrived; a recount (manage.py recount_quality)
    rebuilds QualityTally, not these days.
    """

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    day = models.DateField()
    rows_checked = models.BigIntegerField(default=0)
    rows_violating = models.BigIntegerField(default=0)
    rule_counts = models.JSONField(default=dict, blank=True)
    rows_received = models.BigIntegerField(default=0)
    rows_refused = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "day"],
                condition=Q(model_version__isnull=False),
                name="predictions_daily_tally_version_day",
            ),
            models.UniqueConstraint(
                fields=["use_case", "day"],
                condition=Q(model_version__isnull=True),
                name="predictions_daily_tally_use_case_day",
            ),
            models.CheckConstraint(
                condition=Q(rows_violating__gte=0, rows_violating__lte=F("rows_checked"))
                & Q(rows_refused__gte=0, rows_refused__lte=F("rows_received")),
                name="predictions_daily_tally_counts_within_totals",
            ),
        ]

    def __str__(self) -> str:
        who = self.model_version or "refusals"
        return f"{who} · {self.day}: {self.rows_violating}/{self.rows_checked}"


class SegmentCount(models.Model):
    """How many predictions a model version logged per segment and UTC day: the exact
    stratum sizes that stratified sampling allocates its items by, read from a few hundred
    rows instead of counting millions (issue 12).

    Kept by the database, not by a service: triggers on reviews_prediction (migration
    0007_segment_count_triggers) add each inserted statement's rows, grouped, with one
    upsert (ON CONFLICT … DO UPDATE; PostgreSQL per statement through its transition
    table, SQLite per row), take deleted rows off, and move a row whose version, segment
    or predicted_at changes. So every path that writes the log (ingestion's COPY, a
    re-sent row skipped by ON CONFLICT DO NOTHING, bulk_create, a cascade deleting a
    version or a use case, an UPDATE) keeps the counts exact in its own transaction.
    A count that falls to zero is deleted.
    """

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    segment = models.CharField(max_length=100, blank=True)
    # predicted_at's date in UTC
    day = models.DateField()
    rows = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "segment", "day"], name="predictions_segment_count_once"
            ),
            models.CheckConstraint(
                condition=Q(rows__gte=0), name="predictions_segment_count_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} · {self.segment or '(no segment)'} · {self.day}: {self.rows}"


class PredictionPair(models.Model):
    """Two versions' predictions of the same request, one row each way round, with what
    disagreement sampling ranks them by (issue 12): a pool of pairs is then a range of one
    index, (model_version, other_version, random_key, …), read without touching a table
    page and without joining the log to itself.

    `random_key` and `predicted_at` are the prediction's (not the other one's): the pool is
    the prediction's random order, its window the prediction's time, as sampling reads the
    log. The gaps are stored, not the disagreement, which depends on the use case's task
    type (reviews.services.sampling.disagreement):
    - `score_gap`: |Δscore|, None unless both have a score;
    - `value_gap`: |Δprediction| when both predictions are numbers, else None;
    - `differ`: the predictions differ.

    Kept by the database, like SegmentCount: triggers on reviews_prediction (migration
    0010_prediction_pair_triggers) add a new prediction's pairs with every other version's
    prediction of its request, drop a deleted one's, and redo a changed one's, in the
    writing transaction. On PostgreSQL concurrent batches of one use case take an advisory
    lock before looking for the other versions' rows, so the later one sees the earlier's
    committed rows and no pair is missed. No foreign-key constraints (the triggers keep
    the rows in step, and a cascade would have to find pairs by the other prediction).
    """

    pk = models.CompositePrimaryKey("prediction", "other_prediction")
    prediction = models.ForeignKey(
        Prediction,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    other_prediction = models.ForeignKey(
        Prediction,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    other_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    random_key = models.FloatField()
    predicted_at = models.DateTimeField()
    score_gap = models.FloatField(null=True, blank=True)
    value_gap = models.FloatField(null=True, blank=True)
    differ = models.BooleanField()

    class Meta:
        indexes = [
            # Every column a pool reads is in the key: an index-only scan on PostgreSQL, a
            # covering index on SQLite (the columns after random_key never decide the order).
            models.Index(
                fields=[
                    "model_version",
                    "other_version",
                    "random_key",
                    "prediction",
                    "other_prediction",
                    "predicted_at",
                    "score_gap",
                    "value_gap",
                    "differ",
                ],
                name="predictions_pair_pool",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prediction_id} ~ {self.other_prediction_id}"
