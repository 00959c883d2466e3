"""@mentions: the names a comment's text mentions. Only the use case's members count; any
other name stays plain text and notifies nobody, so a comment never tells whether an
account by that name exists."""

from __future__ import annotations

import re

# "@erik", "@maria.manager": a username's characters (Django's: letters, digits, @.+-_), not
# preceded by a word character (so an e-mail address mentions nobody); a trailing dot or
# hyphen ends the sentence, not the name.
MENTION = re.compile(r"(?<![\w@.+-])@([\w.+-]*[\w+])")
MAX_MENTIONS = 20  # names looked up per comment


def names_in(text: str) -> list[str]:
    """The names `text` mentions, in order, each once (at most MAX_MENTIONS)."""
    names: list[str] = []
    for match in MENTION.finditer(text):
        if match.group(1) not in names:
            names.append(match.group(1))
    return names[:MAX_MENTIONS]
