"""`{% with rows=events|in_words %}`: the History tab's and the audit page's rows (dicts
holding an `event`) get their sentence, link and changes in words from usecases.activity,
in one query for the whole page."""

from django import template

from usecases.activity import sentences

register = template.Library()


@register.filter
def in_words(rows: list[dict]) -> list[dict]:
    """Each row with `sentence`, `url` and `changes` (field, before, after) in words."""
    rows = list(rows)
    for row, entry in zip(rows, sentences(row["event"] for row in rows), strict=True):
        row.update(sentence=entry.text, url=entry.url, actor=entry.actor_name)
        row["changes"] = entry.changes
    return rows
