"""Representations of the notification centre's API."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import EmailMode, Kind, Notification

PREFIX = "promotion-request:"


# Kinds as plain strings in the schema: an enum would collide with the other "kind" fields.
KINDS = "One of: " + ", ".join(Kind.values) + "."


class NotificationSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text=KINDS)
    use_case = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    key = serializers.CharField(help_text='What it is about, e.g. "promotion-request:12"; or "".')
    request = serializers.SerializerMethodField(help_text="The promotion request's id, if any.")
    url = serializers.CharField(help_text="The page it points to: a path inside Quorum.")
    unread = serializers.BooleanField(source="is_unread")

    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "use_case", "key", "request", "url", "created_at"]
        fields += ["read_at", "unread"]

    def get_request(self, notification: Notification) -> int | None:
        key = notification.key
        return int(key[len(PREFIX) :]) if key.startswith(PREFIX) else None


class KindPreference(serializers.Serializer):
    kind = serializers.CharField(help_text=KINDS)
    in_app = serializers.BooleanField(help_text="Shown unread under the bell (else already read).")
    email = serializers.ChoiceField(choices=EmailMode.choices)
    webhook = serializers.BooleanField(help_text="Posted to the chat webhook URL.")

    def validate_kind(self, value: str) -> str:
        if value not in Kind.values:
            raise serializers.ValidationError(f"Unknown kind. {KINDS}")
        return value


class PreferencesSerializer(serializers.Serializer):
    webhook_url = serializers.CharField(
        max_length=500,
        allow_blank=True,
        help_text='A Slack-compatible incoming webhook (https://…), or "" for none.',
    )
    kinds = KindPreference(many=True, help_text="One entry per kind; PUT may give some only.")

    def validate_kinds(self, value: list[dict]) -> list[dict]:
        kinds = [item["kind"] for item in value]
        if len(kinds) != len(set(kinds)):
            raise serializers.ValidationError("Each kind may appear once.")
        return value
