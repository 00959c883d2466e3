"""Forms of the comment threads: what a person types; the services check the rest."""

from django import forms

from collaboration.models import MAX_BODY
from portal.web import Form


class CommentForm(Form):
    body = forms.CharField(
        label="Comment",
        max_length=MAX_BODY,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "Write a comment; @name mentions a member. Markdown works.",
            }
        ),
    )
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class EditForm(Form):
    body = forms.CharField(
        label="Comment", max_length=MAX_BODY, widget=forms.Textarea(attrs={"rows": 3})
    )


class MentionQuery(Form):
    """The @prefix typed so far; a CharField refuses a NUL (which PostgreSQL cannot compare)."""

    q = forms.CharField(required=False, max_length=150)
