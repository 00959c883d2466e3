"""Monitoring figures, one run per deployed model version and UTC day (issue 14).

A `DailyRun` is the unit of work and of idempotency: the nightly job (services/jobs.py)
claims it with a conditional UPDATE, computes the day, and writes all of the day's results
(`DailyKPI`, `DailyDrift`, `DailyQuality`) in one transaction that first deletes the run's
previous ones, so a re-run replaces the day and a killed run leaves the previous day whole.
A week's KPIs are computed over the week's rows, not from the days (`WeeklyKPI`,
services/weeks.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from registry.models import ModelVersion
from usecases.models import KPI, DataQualityRule, UseCase

PREDICTION_FEATURE = "(prediction)"  # DailyDrift.feature of the prediction itself


class DailyRun(models.Model):
    """One model version's monitoring of one UTC day of its logged predictions."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="daily_runs"
    )
    day = models.DateField()  # predicted_at's date in UTC
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The claim's token: every write of a run checks it, so a run that lost its claim (its
    # heartbeat went stale and another worker took over) writes nothing.
    claimed_by = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Asked for again (late outcomes, a backfill) at this time: a run claimed before it
    # ends queued again rather than succeeded, so the request is not lost (services/jobs.py).
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When store_day last wrote the day's figures: they stay in place (and are shown) while
    # the day re-runs and after a re-run that failed; None until a run stored them.
    stored_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    n_predictions = models.BigIntegerField(default=0)
    n_with_outcome = models.BigIntegerField(default=0)
    # Live data quality: the version's rows of the day the rules were counted on, and those
    # breaking at least one error rule (predictions.DailyTally, counted at ingestion) ...
    rows_checked = models.BigIntegerField(default=0)
    rows_violating = models.BigIntegerField(default=0)
    # ... and the use case's rows received and refused at ingestion that UTC day (all
    # versions: a refused row may name no valid version).
    rows_received = models.BigIntegerField(default=0)
    rows_refused = models.BigIntegerField(default=0)

    class Meta:
        # By the column, not the version: ordering by a relation joins its own ordering
        # (the version's use case, by title), and select_for_update() would lock those rows.
        ordering = ["model_version_id", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "day"], name="monitoring_run_once_per_version_day"
            ),
            models.CheckConstraint(
                condition=Q(rows_violating__lte=F("rows_checked"))
                & Q(rows_refused__lte=F("rows_received"))
                & Q(n_with_outcome__lte=F("n_predictions")),
                name="monitoring_run_counts_within_totals",
            ),
        ]

    TERMINAL = (Status.SUCCEEDED, Status.FAILED)

    def __str__(self) -> str:
        return f"{self.model_version} · {self.day} · {self.status}"

    @property
    def violation_rate(self) -> float | None:
        return self.rows_violating / self.rows_checked if self.rows_checked else None

    @property
    def refused_rate(self) -> float | None:
        return self.rows_refused / self.rows_received if self.rows_received else None


class DailyKPI(models.Model):
    """A KPI of the use case on one day's predictions with outcomes, as evaluations compute it
    (registry.metrics.evaluate: value and 95 % interval); value None when undefined."""

    run = models.ForeignKey(DailyRun, on_delete=models.CASCADE, related_name="kpis")
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="daily_values")
    value = models.FloatField(null=True, blank=True)
    low = models.FloatField(null=True, blank=True)
    high = models.FloatField(null=True, blank=True)
    n = models.BigIntegerField(default=0)  # rows the KPI was computed on

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "kpi"], name="monitoring_kpi_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.run} · {self.kpi_id}: {self.value}"


class WeeklyKPI(models.Model):
    """A KPI on one week (Monday to Sunday, UTC days) of a version's predictions with an
    outcome, computed over the week's rows as evaluations compute it (value and 95 %
    interval): not an average of the days, since ROC AUC and the rest do not average.
    Written by services/weeks.py once the week's days have run; replaced when they re-run."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="weekly_kpis"
    )
    week = models.DateField()  # its Monday
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="weekly_values")
    value = models.FloatField(null=True, blank=True)
    low = models.FloatField(null=True, blank=True)
    high = models.FloatField(null=True, blank=True)
    n = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "week", "kpi"], name="monitoring_weekly_kpi_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} · week of {self.week} · {self.kpi_id}: {self.value}"


class DailyDrift(models.Model):
    """One feature's (or the prediction's) drift on the run's day against the reference
    (monitoring.drift.FeatureDrift)."""

    class Kind(models.TextChoices):
        NUMERIC = "numeric", "Numeric"
        CATEGORICAL = "categorical", "Categorical"

    run = models.ForeignKey(DailyRun, on_delete=models.CASCADE, related_name="drifts")
    feature = models.CharField(max_length=200)  # PREDICTION_FEATURE for the prediction
    kind = models.CharField(max_length=12, choices=Kind.choices)
    psi = models.FloatField(null=True, blank=True)
    ks_statistic = models.FloatField(null=True, blank=True)
    ks_p_value = models.FloatField(null=True, blank=True)
    chi2_statistic = models.FloatField(null=True, blank=True)
    chi2_p_value = models.FloatField(null=True, blank=True)
    missing_share = models.FloatField(null=True, blank=True)  # live
    missing_share_reference = models.FloatField(null=True, blank=True)
    unseen_share = models.FloatField(null=True, blank=True)
    n_reference = models.BigIntegerField(default=0)
    n_live = models.BigIntegerField(default=0)
    # The drill-down's two histograms: {"labels": [...], "reference_counts": [...],
    # "live_counts": [...]} (FeatureDrift.to_dict()'s parts).
    histograms = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "feature"], name="monitoring_drift_once_per_run_feature"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} · {self.feature}: PSI {self.psi}"


class DailyQuality(models.Model):
    """One data-quality rule on the version's rows of the run's day, counted at ingestion:
    the rows it was checked on and those breaking it (for max_null_rate, the empty ones)."""

    run = models.ForeignKey(DailyRun, on_delete=models.CASCADE, related_name="quality")
    # SET_NULL: the day's figure stays after the rule is deleted, with its text.
    rule = models.ForeignKey(
        DataQualityRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rule_text = models.CharField(max_length=300)
    rows_checked = models.BigIntegerField(default=0)
    rows_violating = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "rule"], name="monitoring_quality_once_per_rule"
            ),
            models.CheckConstraint(
                condition=Q(rows_violating__lte=F("rows_checked")),
                name="monitoring_quality_violating_within_checked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} · {self.rule_text}: {self.rows_violating}/{self.rows_checked}"

    @property
    def violation_rate(self) -> float | None:
        return self.rows_violating / self.rows_checked if self.rows_checked else None


class DailyComparison(models.Model):
    """A challenger's day (a shadow or canary version's run) against the production version
    on the requests both logged (same request id): how often they disagree, before any
    outcome (classes: a different class; numbers: more than 5 % apart, see
    services/comparison.py), and of the paired rows with an outcome, each KPI's
    difference (DailyDifference)."""

    run = models.OneToOneField(DailyRun, on_delete=models.CASCADE, related_name="comparison")
    # The production version of the day's comparison (SET_NULL: the figures stay).
    baseline = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    baseline_label = models.CharField(max_length=200)  # the baseline's name, kept
    n_paired = models.BigIntegerField(default=0)  # requests logged by both
    n_disagree = models.BigIntegerField(default=0)  # of them, different predictions
    n_with_outcome = models.BigIntegerField(default=0)  # of them, with an outcome
    # Regression: the mean |challenger − production| over the paired rows (None otherwise).
    mean_abs_difference = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(n_disagree__lte=F("n_paired"), n_with_outcome__lte=F("n_paired")),
                name="monitoring_comparison_counts_within_paired",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} vs {self.baseline_label}: {self.n_disagree}/{self.n_paired}"

    @property
    def disagreement_rate(self) -> float | None:
        return self.n_disagree / self.n_paired if self.n_paired else None


class DailyDifference(models.Model):
    """A KPI's paired difference, challenger − production, on the day's paired rows with an
    outcome (registry.metrics.evaluate with champion=: the same resamples for both, so the
    95 % interval is a paired bootstrap's); None when undefined."""

    comparison = models.ForeignKey(
        DailyComparison, on_delete=models.CASCADE, related_name="differences"
    )
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="daily_differences")
    challenger = models.FloatField(null=True, blank=True)
    baseline = models.FloatField(null=True, blank=True)
    difference = models.FloatField(null=True, blank=True)
    low = models.FloatField(null=True, blank=True)
    high = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "kpi"], name="monitoring_difference_once_per_kpi"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.comparison} · {self.kpi_id}: {self.difference}"


class MonitoringPolicy(models.Model):
    """A use case's alert thresholds (services/alerts.py), created with these defaults on
    first use. PSI leads; p-values alert only when turned on, as docs/monitoring.md advises
    (with millions of rows they find shifts too small to matter)."""

    use_case = models.OneToOneField(
        UseCase, on_delete=models.CASCADE, related_name="monitoring_policy"
    )
    psi_threshold = models.FloatField(default=0.2)
    is_p_value_alerting = models.BooleanField(default=False)
    p_value_level = models.FloatField(default=0.01)
    max_violation_rate = models.FloatField(default=0.05)  # share of rows, 0–1
    max_refused_rate = models.FloatField(default=0.05)  # share of received rows refused, 0–1
    silence_hours = models.PositiveIntegerField(default=24)
    is_kpi_alerting = models.BooleanField(default=True)  # gating KPIs under their gate
    # Drift's reference: these UTC days (inclusive) of each version's own log, instead of
    # the holdout of its last evaluation (services/drift_data.reference_for); both or none.
    reference_start = models.DateField(null=True, blank=True)
    reference_end = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(psi_threshold__gt=0)
                & Q(p_value_level__gt=0, p_value_level__lt=1)
                & Q(max_violation_rate__gte=0, max_violation_rate__lte=1)
                & Q(max_refused_rate__gte=0, max_refused_rate__lte=1)
                & Q(silence_hours__gte=1),
                name="monitoring_policy_thresholds_in_range",
            ),
            models.CheckConstraint(
                condition=Q(reference_start__isnull=True, reference_end__isnull=True)
                | Q(reference_start__lte=F("reference_end")),
                name="monitoring_policy_reference_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"monitoring policy of {self.use_case}"


class Alert(models.Model):
    """A threshold of the use case's policy crossed by a deployed version. At most one alert
    per (version, kind, subject) is open or acknowledged (the constraint), so the next run
    updates it rather than opening another; it closes by itself when the value recovers."""

    class Kind(models.TextChoices):
        KPI_BELOW_GATE = "kpi_below_gate", "KPI below its gate"
        DRIFT = "drift", "Drift"
        QUALITY = "quality", "Data quality"
        REFUSED = "refused", "Rows refused at ingestion"
        SILENCE = "silence", "No predictions"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"  # by a member
        CLOSED = "closed", "Closed"  # by itself: the value recovered

    ACTIVE = (Status.OPEN, Status.ACKNOWLEDGED)

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="alerts")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The KPI's id, the feature's name or the rule's id, as text; "" for silence.
    subject = models.CharField(max_length=200, blank=True)
    subject_label = models.CharField(max_length=300, blank=True)  # for people: a KPI's name…
    value = models.FloatField(null=True, blank=True)  # the latest day's (silence: hours)
    threshold = models.FloatField(null=True, blank=True)
    day = models.DateField()  # the first UTC day seen crossing
    last_seen_day = models.DateField()  # the latest UTC day seen crossing
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "kind", "subject"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="monitoring_one_active_alert_per_subject",
            ),
            # Refused rows are the use case's figure: one active alert per use case, whichever
            # version's run opened it (services/alerts.py USE_CASE_KINDS).
            models.UniqueConstraint(
                fields=["use_case", "kind", "subject"],
                condition=Q(status__in=["open", "acknowledged"], kind="refused"),
                name="monitoring_one_active_use_case_alert",
            ),
            models.CheckConstraint(
                condition=Q(day__lte=F("last_seen_day")), name="monitoring_alert_days_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["use_case", "status"], name="monitoring_alert_status"),
        ]

    def __str__(self) -> str:
        label = self.subject_label or self.subject
        return f"{self.get_kind_display()}{f' · {label}' if label else ''} · {self.model_version}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE
