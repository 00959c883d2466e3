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
