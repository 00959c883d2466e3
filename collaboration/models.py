"""Comment threads on the things a use case's people discuss: the use case itself, its model
versions, evaluations, promotion requests and review items."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from usecases.models import UseCase

MAX_BODY = 5000  # characters of Markdown source


class Comment(models.Model):
    """One comment, or the "deleted" marker it leaves (body emptied, deleted_at set).

    A comment belongs to its use case (for permissions) and points at its target by kind and
    id: the targets live in apps below, which must not know about comments. The service
    checks that the target exists and belongs to the use case. Replies are one level deep.
    """

    class Target(models.TextChoices):
        USE_CASE = "use_case", "the use case"
        VERSION = "version", "a model version"
        EVALUATION = "evaluation", "an evaluation"
        PROMOTION = "promotion", "a promotion request"
        REVIEW_ITEM = "review_item", "a review item"

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="comments")
    target_kind = models.CharField(max_length=20, choices=Target.choices)
    target_id = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField(blank=True)
    # Usernames of the use case's members the body mentions (set when posted or edited):
    # only these render as mentions, so a non-member's name stays plain text.
    mentioned = models.JSONField(default=list, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["use_case", "target_kind", "target_id", "id"],
                name="collaboration_thread",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    target_kind__in=[
                        "use_case",
                        "version",
                        "evaluation",
                        "promotion",
                        "review_item",
                    ]
                ),
                name="collaboration_comment_known_target",
            ),
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(body=""),
                name="collaboration_deleted_comment_keeps_no_text",
            ),
        ]

    def __str__(self) -> str:
        return f"Comment #{self.pk} on {self.target_kind}:{self.target_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def target_key(self) -> str:
        """ "kind:id", as the thread's URL names it (?on=version:12)."""
        return f"{self.target_kind}:{self.target_id}"
