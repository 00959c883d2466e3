"""Comments' Markdown as safe HTML: markdown-it-py (CommonMark, raw HTML off) renders it, nh3
(ammonia) keeps only an allow-list of tags and attributes, and links only to http(s) and
mailto. The template filter in templatetags/collaboration.py is the one caller that marks
the result safe."""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from collaboration.mentions import MENTION

TAGS = {"p", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "a", "br", "span"}
ATTRIBUTES = {"a": {"href"}}  # span: only its "mention" class (CLASSES)
CLASSES = {"span": {"mention"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer"

_parser = MarkdownIt("commonmark", {"html": False})


def render(source: str, mentioned: list[str] | tuple[str, ...] = ()) -> str:
    """Sanitised HTML of `source`; the names in `mentioned` (members, checked when posted)
    are marked as mentions, any other @name stays as typed."""
    tokens = _parser.parse(source or "")
    if mentioned:
        for token in tokens:
            if token.type == "inline" and token.children:
                token.children = _with_mentions(token.children, set(mentioned))
    raw = _parser.renderer.render(tokens, _parser.options, {})
    return nh3.clean(
        raw,
        tags=TAGS,
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        url_relative="deny",
    )


def _with_mentions(children: list[Token], names: set[str]) -> list[Token]:
    """Text tokens outside links split around each mention of a name in `names`."""
    result, in_link = [], 0
    for token in children:
        in_link += token.nesting if token.type in ("link_open", "link_close") else 0
        if token.type != "text" or in_link or "@" not in token.content:
            result.append(token)
            continue
        position = 0
        for match in MENTION.finditer(token.content):
            if match.group(1) not in names:
                continue
            result.append(_text(token.content[position : match.start()]))
            mention = Token("html_inline", "", 0)
            mention.content = f'<span class="mention">@{html.escape(match.group(1))}</span>'
            result.append(mention)
            position = match.end()
        result.append(_text(token.content[position:]))
    return result


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token
