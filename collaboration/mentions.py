"""@mentions: what a mention looks like. Only the use case's members count; any other name
stays plain text and notifies nobody, so a comment never tells whether an account by that
name exists. Where a mention counts (in text, not in code or a link) is the Markdown
walk's: collaboration.markdown.names_in() finds the names the renderer marks."""

from __future__ import annotations

import re

# "@erik", "@maria.manager": a username's characters (Django's: letters, digits, @.+-_), not
# preceded by a word character or a slash (so neither an e-mail address nor a URL's path,
# https://x.example/@erik, mentions anybody); a trailing dot or hyphen ends the sentence, not
# the name.
MENTION = re.compile(r"(?<![\w@.+/-])@([\w.+-]*[\w+])")
MAX_MENTIONS = 20  # names looked up per comment
