"""Promotion requests, their gate snapshots and approvals, each use case's promotion policy,
and the history of every stage change (DESIGN.md "Deployment stages and promotion").

A version's stage (registry.ModelVersion.stage) changes only here: by executing a promotion
or a rollback (promotions/services/execution.py), each writing a StageChange and audit events.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from portal.text import multi_line
from registry.models import Evaluation, ModelVersion
from reviews.models import ReviewCampaign
from usecases.models import UseCase

Stage = ModelVersion.Stage

# The order a version climbs; a promotion moves it exactly one step (rollback aside).
LADDER = (Stage.REGISTERED, Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION)
CANARY_MIN_PERCENT, CANARY_MAX_PERCENT = 1, 50


class PromotionPolicy(models.Model):
    """A use case's promotion settings; its defaults hold until an owner saves one.

    The approval minimums may only raise the risk tier's (policy.py takes the larger), so a
    later change of tier can never lower what a promotion needs.
    """

    class AcceptanceBound(models.TextChoices):
        POINT = "point", "Point estimate"
        WILSON = "wilson", "Lower bound of the Wilson 95 % interval"

    use_case = models.OneToOneField(
        UseCase, on_delete=models.CASCADE, related_name="promotion_policy"
    )
    acceptance_threshold = models.FloatField(
        default=0.8,
        help_text="The experts' acceptance rate a version needs for production (0–1).",
    )
    acceptance_bound = models.CharField(
        max_length=10, choices=AcceptanceBound.choices, default=AcceptanceBound.POINT
    )
    max_violation_rate = models.FloatField(
        default=0.05,
        help_text="Largest share of logged predictions breaking a data-quality rule (0–1).",
    )
    min_experts = models.PositiveSmallIntegerField(default=0)
    min_data_scientists = models.PositiveSmallIntegerField(default=0)
    min_managers = models.PositiveSmallIntegerField(default=0)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(acceptance_threshold__gte=0, acceptance_threshold__lte=1),
                name="promotions_acceptance_threshold_is_a_rate",
            ),
            models.CheckConstraint(
                condition=Q(max_violation_rate__gte=0, max_violation_rate__lte=1),
                name="promotions_max_violation_rate_is_a_rate",
            ),
            models.CheckConstraint(
                condition=Q(min_experts__lte=10, min_data_scientists__lte=10, min_managers__lte=10),
                name="promotions_approval_minimums_at_most_10",
            ),
        ]

    def __str__(self) -> str:
        return f"Promotion policy of {self.use_case}"


class PromotionRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        EXECUTED = "executed", "Executed"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        REFUSED = "refused", "Refused at execution"

    TARGETS = (Stage.SHADOW, Stage.CANARY, Stage.PRODUCTION)

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="promotions")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="promotion_requests"
    )
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    target_stage = models.CharField(max_length=20, choices=Stage.choices)
    traffic_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    rationale = models.TextField(validators=[multi_line])
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # {"expert": n, "data_scientist": n, "manager": n}: the policy when the request opened.
    required_approvals = models.JSONField(default=dict)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Why execution refused it (gates turned red), or the withdrawal's note.
    outcome_note = models.TextField(blank=True)
    override_justification = models.TextField(blank=True, validators=[multi_line])
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    overridden_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["use_case", "status"], name="promotions_by_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_stage__in=["shadow", "canary", "production"]),
                name="promotions_target_is_a_deployment_stage",
            ),
            models.CheckConstraint(
                condition=Q(
                    target_stage="canary",
                    traffic_percent__gte=CANARY_MIN_PERCENT,
                    traffic_percent__lte=CANARY_MAX_PERCENT,
                )
                | (~Q(target_stage="canary") & Q(traffic_percent__isnull=True)),
                name="promotions_canary_traffic_1_to_50",
            ),
            models.CheckConstraint(
                condition=Q(overridden_by__isnull=True) | ~Q(override_justification=""),
                name="promotions_override_needs_justification",
            ),
            # One open request per version: a second would race the first to the same stage.
            models.UniqueConstraint(
                fields=["model_version"],
                condition=Q(status="pending"),
                name="promotions_one_pending_request_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model_version} → {self.get_target_stage_display()}"

    def get_absolute_url(self) -> str:
        return reverse("promotions:detail", args=[self.use_case.slug, self.pk])

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class Gate(models.Model):
    """One gate of a request as measured when it opened, pointing at the exact evidence."""

    class Kind(models.TextChoices):
        EVALUATION = "evaluation", "Evaluation on the reference dataset"
        REVIEW = "review", "Experts' acceptance rate"
        DATA_QUALITY = "data_quality", "Data-quality violation rate"

    class Status(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        INCOMPLETE = "incomplete", "Incomplete"

    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="gates")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    # The figure in words ("acceptance 0.86 ≥ 0.80 on 120 verdicts") and its numbers.
    summary = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    # Evidence must outlive the request that used it: deleting it alone is refused
    # (RESTRICT); deleting the use case takes both, request and evidence, together.
    evaluation = models.ForeignKey(
        Evaluation, on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    campaign = models.ForeignKey(
        ReviewCampaign, on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["request", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind"], name="promotions_one_gate_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.get_status_display()}"


class Decision(models.Model):
    """An approval or a rejection of a request, counted in the capacity it was given in."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    class Capacity(models.TextChoices):
        EXPERT = "expert", "Domain expert"
        DATA_SCIENTIST = "data_scientist", "Data scientist"
        MANAGER = "manager", "Manager"

    request = models.ForeignKey(
        PromotionRequest, on_delete=models.CASCADE, related_name="decisions"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    capacity = models.CharField(max_length=20, choices=Capacity.choices)
    comment = models.TextField(blank=True, validators=[multi_line])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user"], name="promotions_one_decision_each"
            ),
            models.CheckConstraint(
                condition=Q(verdict="approve") | ~Q(comment=""),
                name="promotions_rejection_needs_comment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.get_verdict_display().lower()} #{self.request_id}"


class StageChange(models.Model):
    """A version's move from one stage to another, by a promotion or a rollback."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="stage_changes")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    traffic_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    request = models.ForeignKey(
        PromotionRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stage_changes",
    )
    is_rollback = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["use_case", "-changed_at"], name="promotions_changes_by_time"),
        ]

    def __str__(self) -> str:
        return f"{self.model_version}: {self.from_stage} → {self.to_stage}"


class WebhookDelivery(models.Model):
    """One event sent to a use case's deployment webhook (promotions/services/webhooks.py).

    Retries update this row (`attempts`, the last answer); "send again" makes a new row with
    the same body (`resent_from`), so every row is one history of one sending.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    use_case = models.ForeignKey(
        UseCase, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=50)
    # The exact JSON sent (ASCII only, so its bytes are unambiguous); the signature covers it.
    body = models.TextField()
    url = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # A worker's lease while it sends: a duplicate task waits it out, a killed worker's
    # lease expires and the next retry takes the row.
    claimed_until = models.DateTimeField(null=True, blank=True)
    resent_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="resends"
    )
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["use_case", "-created_at"], name="promotions_deliveries_by_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(delivered_at__isnull=False),
                name="promotions_delivered_has_a_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} {self.event} → {self.url} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
