"""The API's representations of comments and activity entries; inputs are validated here,
the services check the rules."""

from rest_framework import serializers

from collaboration import markdown
from collaboration.models import MAX_BODY, Comment


class CommentSerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="target_key", help_text='"kind:id", e.g. "version:12".')
    author = serializers.SerializerMethodField(help_text="The author's username (null: gone).")
    body = serializers.CharField(help_text="Markdown source; empty once deleted.")
    body_html = serializers.SerializerMethodField(help_text="The body as sanitised HTML.")
    is_deleted = serializers.BooleanField()

    class Meta:
        model = Comment
        fields = [
            "id",
            "target",
            "parent",
            "author",
            "body",
            "body_html",
            "mentioned",
            "created_at",
            "edited_at",
            "deleted_at",
            "is_deleted",
        ]

    def get_author(self, comment: Comment) -> str | None:
        return comment.author.get_username() if comment.author else None

    def get_body_html(self, comment: Comment) -> str:
        return markdown.render(comment.body, comment.mentioned)


class CommentCreateInput(serializers.Serializer):
    target = serializers.CharField(
        max_length=40,
        help_text='What the comment is about, "kind:id": use_case, version, evaluation, '
        "promotion or review_item, and its id.",
    )
    body = serializers.CharField(max_length=MAX_BODY, help_text="Markdown; @username mentions.")
    parent = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The comment replied to."
    )


class CommentEditInput(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_BODY)


class ActivitySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="event.pk")
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_name")
    verb = serializers.CharField(source="event.verb")
    text = serializers.CharField(help_text="The event in a sentence.")
    url = serializers.CharField(help_text="The page it concerns (a path), or empty.")
