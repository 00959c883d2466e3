"""The humans who check predictions: review campaigns, their items and claimable slots,
and the experts' reviews (the prediction log itself is the predictions app).

The claim queue is built so that its cost stays flat as a campaign runs (issue 4): a
campaign's work is a fixed list of `ReviewSlot` rows (one per item and reviewer it needs),
numbered by `position`. The only index a claim walks is the unique (campaign, position),
whose columns never change; a claim or a submission updates only unindexed columns of the
slot (claimed_by, claimed_until, done), which PostgreSQL does as HOT updates (the table's
fillfactor leaves room on every page, migration 0002): no new index entries, so no dead
ones for later claims to walk past. Each reviewer starts from their own cursor
(`ReviewerProgress.cursor`), so a claim skips only the few slots others hold right now.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from predictions.models import Prediction
from registry.models import ModelVersion
from usecases.models import UseCase


class ReviewCampaign(models.Model):
    class Mode(models.TextChoices):
        SINGLE = "single", "One prediction at a time"
        PAIRWISE = "pairwise", "Blind pairwise (two versions, A or B)"

    class Strategy(models.TextChoices):
        UNIFORM = "uniform", "Uniform"
        STRATIFIED = "stratified", "Stratified by segment"
        LOWEST_CONFIDENCE = "lowest_confidence", "Lowest confidence"
        LARGEST_ERROR = "largest_error", "Largest error (needs outcomes)"
        DISAGREEMENT = "disagreement", "Champion/challenger disagreement"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    # The second version: the champion compared in "disagreement", or version B in pairwise.
    other_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.SINGLE)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.UNIFORM)
    sample_size = models.PositiveIntegerField()
    reviewers_per_item = models.PositiveSmallIntegerField(default=1)
    instructions = models.TextField(blank=True)
    reason_tags = models.JSONField(default=list, blank=True)
    due_date = models.DateField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    item_count = models.PositiveIntegerField(default=0, help_text="Items actually sampled.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sample_size__gte=1, sample_size__lte=10_000),
                name="reviews_campaign_sample_size",
            ),
            models.CheckConstraint(
                condition=Q(reviewers_per_item__gte=1, reviewers_per_item__lte=5),
                name="reviews_campaign_reviewers_per_item",
            ),
            models.CheckConstraint(
                condition=~Q(mode="pairwise") | Q(other_version__isnull=False),
                name="reviews_pairwise_needs_two_versions",
            ),
            models.CheckConstraint(
                condition=~Q(other_version=models.F("model_version")),
                name="reviews_campaign_two_different_versions",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReviewItem(models.Model):
    """One sampled prediction (pairwise: the same request's prediction by both versions)."""

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="+")
    other_prediction = models.ForeignKey(
        Prediction, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Pairwise: True when the other version's prediction is shown as A. Stored, never shown.
    other_shown_first = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="reviews_item_position"),
            models.UniqueConstraint(fields=["campaign", "prediction"], name="reviews_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} #{self.position}"


class ReviewSlot(models.Model):
    """One review an item still needs: claimed by one reviewer at a time, then done."""

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="slots")
    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="slots")
    position = models.PositiveIntegerField()
    # Unindexed on purpose (HOT updates; see the module docstring).
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="reviews_slot_position"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} slot {self.position}"


class ReviewerProgress(models.Model):
    """Where a reviewer is in a campaign: the claim cursor and how many they reviewed."""

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="progress")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    cursor = models.PositiveIntegerField(default=0)
    # The slot the reviewer holds (one at a time), so "my open claim" is one primary-key
    # lookup; unindexed like the slot's claim columns, so claims stay HOT updates here too.
    claimed_slot = models.ForeignKey(
        ReviewSlot,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    reviewed = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "reviewer"], name="reviews_progress_per_reviewer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.campaign}"


class Review(models.Model):
    class Verdict(models.TextChoices):
        CORRECT = "correct", "Correct"
        INCORRECT = "incorrect", "Incorrect"
        UNSURE = "unsure", "Unsure"

    class Preference(models.TextChoices):
        A = "a", "A is better"
        B = "b", "B is better"
        EQUAL = "equal", "Equally good"

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="reviews")
    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="reviews")
    slot = models.OneToOneField(ReviewSlot, on_delete=models.CASCADE, related_name="review")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices, blank=True)
    # Pairwise: what the reviewer picked as shown (A/B), and which version that was.
    preference = models.CharField(max_length=5, choices=Preference.choices, blank=True)
    preferred_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    corrected_value = models.JSONField(null=True, blank=True)
    reason_tags = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "reviewer"], name="reviews_one_review_per_item"
            ),
            models.CheckConstraint(
                condition=(Q(verdict="") & ~Q(preference="")) | (~Q(verdict="") & Q(preference="")),
                name="reviews_verdict_or_preference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer}: {self.verdict or self.preference} on {self.item}"
