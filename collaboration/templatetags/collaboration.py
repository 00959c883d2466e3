"""`{{ comment.body|markdown:comment.mentioned }}`: the only place a comment's HTML is marked
safe, after collaboration.markdown has sanitised it."""

from django import template
from django.utils.safestring import mark_safe

from collaboration import markdown as markdown_module

register = template.Library()


@register.filter
def markdown(source: str, mentioned=()) -> str:
    """Markdown source as sanitised HTML (see collaboration/markdown.py)."""
    return mark_safe(markdown_module.render(source, mentioned or ()))  # noqa: S308 (sanitised)
