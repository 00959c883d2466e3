"""What each person is told (Notification), how they want to hear of each kind (Preference,
ChatWebhook) and the daily digests sent (Digest).

A notification row is the record: the centre lists every one, whatever the channels. Its
e-mail, webhook and digest state sit on the row, each claimed by a conditional UPDATE so a
redelivered task sends nothing twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from usecases.models import UseCase


class Kind(models.TextChoices):
    APPROVAL_NEEDED = "approval_needed", "Approval needed"
    REQUEST_DECIDED = "request_decided", "Request decided"
    MENTION = "mention", "Mention"
    COMMENT = "comment", "Comment on a thread you take part in"
    ALERT = "alert", "Alert"
    REVIEW_ASSIGNED = "review_assigned", "Review assigned"


class EmailMode(models.TextChoices):
    OFF = "off", "Off"
    IMMEDIATELY = "immediately", "Immediately"
    DIGEST = "digest", "Daily digest"


class NotificationQuerySet(models.QuerySet):
    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)

    def readable_by(self, user) -> NotificationQuerySet:
        """`user`'s own notifications that they may still read: of no use case, or of one they
        still see (issue 13: someone who left a use case no longer reads its comments)."""
        visible = UseCase.objects.visible_to(user).values("pk")
        return self.filter(Q(use_case__isnull=True) | Q(use_case__in=visible), recipient=user)


class Notification(models.Model):
    """Something a person should know or act on: in the centre and under the bell, and
    delivered by the channels their preferences chose when it was made."""

    Kind = Kind

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    use_case = models.ForeignKey(
        UseCase, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=500, help_text="A path inside Quorum.")
    # What the notification is about, e.g. "promotion-request:12": with the recipient and the
    # kind it makes telling someone idempotent ("" when every call is news).
    key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set by the worker that claims the e-mail, so a second delivery of the task sends nothing;
    # a send that failed for good keeps when and why.
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_failed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=500, blank=True)
    # The daily digest: wanted when made, and the digest that listed it (or skipped it).
    in_digest = models.BooleanField(default=False)
    digest = models.ForeignKey(
        "Digest", on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    # The recipient's chat webhook, claimed and recorded as the e-mail is.
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_failed_at = models.DateTimeField(null=True, blank=True)
    webhook_error = models.CharField(max_length=500, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notifications_by_user"),
            # The bell counts these on every page.
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="notifications_unread_by_user",
            ),
            # The digest run looks for these.
            models.Index(
                fields=["recipient", "created_at"],
                condition=Q(in_digest=True, digest__isnull=True),
                name="notifications_digest_pending",
            ),
        ]
        constraints = [
            # An event handled twice tells nobody twice.
            models.UniqueConstraint(
                fields=["recipient", "kind", "key"],
                condition=~Q(key=""),
                name="notifications_one_per_recipient_kind_key",
            ),
        ]

    def __str__(self) -> str:
        return f"To {self.recipient}: {self.text}"

    @property
    def is_unread(self) -> bool:
        return self.read_at is None


class Preference(models.Model):
    """How `user` hears of one kind; without a row, DEFAULTS (services/preferences.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    in_app = models.BooleanField(default=True)
    email = models.CharField(max_length=12, choices=EmailMode.choices, default=EmailMode.OFF)
    webhook = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notifications_one_pref_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.kind}"


class ChatWebhook(models.Model):
    """A person's Slack-compatible incoming webhook: each notification of a kind they chose is
    POSTed to it as {"text": "..."}."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_webhook"
    )
    url = models.URLField(max_length=500)

    def __str__(self) -> str:
        return f"{self.user}: {self.url}"


class Digest(models.Model):
    """One daily digest e-mail of one person: made once per day (the constraint), sent once
    (the claim on `sent_at`)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_digests"
    )
    day = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-day", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "day"], name="notifications_one_digest_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"Digest of {self.recipient} on {self.day}"
